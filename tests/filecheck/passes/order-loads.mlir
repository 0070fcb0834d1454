// One run per file: the pass runs with order=id, then hot-first, then paired;
// --print-between-passes shows the plan after the first two (the last is the final output).
// RUN: fsedp-opt %s --split-input-file --print-between-passes -p 'order-loads{order=id},order-loads{order=hot-first},order-loads{order=paired}' | filecheck %s

// Heat = tokens: shared expert 4 (6) > 0 (5) > 2 (3) > 1 (1).
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", mesh 2x2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
  chiplet.expert 0 slices 2 bytes 48 tokens 5
  chiplet.expert 1 slices 2 bytes 48 tokens 1
  chiplet.expert 2 slices 2 bytes 48 tokens 3
  chiplet.expert 4 slices 2 bytes 48 tokens 6
}

// order=id: by expert id, slices consecutively.
// CHECK-LABEL: IR after order-loads:
// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 0, 1>}
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 2, 3>}
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 4, 5>}
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 6, 7>}

// order=hot-first: 4, 0, 2, 1.
// CHECK-LABEL: IR after order-loads:
// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 2, 3>}
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 6, 7>}
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 4, 5>}
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 1>}

// order=paired: pairs (hottest, coldest) = (4, 1) then (0, 2); slices alternate within a pair.
// (the final output)
// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>}
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>}
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>}

// -----

// Three experts: ties in heat go by id; with paired, the median one streams alone after the pair.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", mesh 2x2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 3, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [2]]> : tensor<4x1xi32>
  chiplet.expert 0 slices 2 bytes 48 tokens 2
  chiplet.expert 1 slices 2 bytes 48 tokens 1
  chiplet.expert 2 slices 2 bytes 48 tokens 1
}

// CHECK-LABEL: IR after order-loads:
// CHECK:       chiplet.expert 2 slices 2 bytes 48 tokens 1 {order = array<i64: 4, 5>}
// CHECK-LABEL: IR after order-loads:
// CHECK:       chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 2, 3>}
// CHECK-NEXT:  chiplet.expert 2 slices 2 bytes 48 tokens 1 {order = array<i64: 4, 5>}
// (the final output)
// CHECK:       chiplet.expert 0 slices 2 bytes 48 tokens 2 {order = array<i64: 0, 2>}
// CHECK-NEXT:  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 4, 5>}
// CHECK-NEXT:  chiplet.expert 2 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
