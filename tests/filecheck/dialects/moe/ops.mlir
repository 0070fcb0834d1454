// RUN: fsedp-opt %s | fsedp-opt | filecheck %s
// RUN: fsedp-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: FSEDP_ROUNDTRIP

// The custom form prints one token's expert ids per line.
// CHECK:      moe.layer @layer0 model #moe.model<"tiny", hidden 64, ffn 32, experts 4, shared 1, top_k 2, bytes 1> routing dense<[
// CHECK-NEXT:   [0, 1],
// CHECK-NEXT:   [2, 3],
// CHECK-NEXT:   [1, 2]
// CHECK-NEXT: ]> : tensor<3x2xi32>
// GENERIC: "moe.layer"() <{sym_name = "layer0", model = #moe.model<"tiny", hidden 64, ffn 32, experts 4, shared 1, top_k 2, bytes 1>, routing = dense<{{\[\[}}0, 1], [2, 3], [1, 2]]> : tensor<3x2xi32>}> : () -> ()
moe.layer @layer0 model #moe.model<"tiny", hidden 64, ffn 32, experts 4, shared 1, top_k 2, bytes 1> routing dense<[[0, 1], [2, 3], [1, 2]]> : tensor<3x2xi32>

// -----

// Routing may use any integer width; extra attributes survive the round trip.
// CHECK: moe.layer @wide model #moe.model<"w", hidden 8, ffn 8, experts 300, shared 0, top_k 1, bytes 2> routing dense<[
// CHECK-NEXT: [299]
// CHECK-NEXT: ]> : tensor<1x1xi64> {note = "kept"}
moe.layer @wide model #moe.model<"w", hidden 8, ffn 8, experts 300, shared 0, top_k 1, bytes 2> routing dense<[[299]]> : tensor<1x1xi64> {note = "kept"}
