// RUN: fsedp-opt %s --split-input-file --parsing-diagnostics | filecheck %s

// Attribute errors point at the attribute.
moe.layer @l model #moe.model<"t", hidden 0, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0, 1]]> : tensor<1x2xi32>
// CHECK: invalid-syntax.mlir:4:30
// CHECK: model hidden must be positive, got 0

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 2, shared 0, top_k 3, bytes 1> routing dense<[[0, 1, 2]]> : tensor<1x3xi32>
// CHECK: invalid-syntax.mlir:[[# @LINE - 1]]:30
// CHECK: model top_k 3 exceeds the 2 routed experts

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 2, top_k 1, bytes 1> routing dense<[[0]]> : tensor<1x1xi32>
// CHECK: invalid-syntax.mlir:[[# @LINE - 1]]:{{[0-9]+}}
// CHECK: Expected 'shared' (field 4 of 6)

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing 3
// CHECK: invalid-syntax.mlir:[[# @LINE - 1]]:100
// CHECK: expected the routing as a dense<...> integer tensor
