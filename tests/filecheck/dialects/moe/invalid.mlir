// RUN: fsedp-opt %s --split-input-file --verify-diagnostics | filecheck %s

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0, 4], [1, 2]]> : tensor<2x2xi32>
// CHECK: Operation does not verify: token 0 routes to expert 4, outside the 4 routed experts [0, 3]

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0, 1], [-1, 2]]> : tensor<2x2xi32>
// CHECK: Operation does not verify: token 1 routes to expert -1, outside the 4 routed experts [0, 3]

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0, 1], [2, 2]]> : tensor<2x2xi32>
// CHECK: Operation does not verify: token 1 routes to expert 2 more than once

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0, 1, 2]]> : tensor<1x3xi32>
// CHECK: Operation does not verify: routing has 3 expert ids per token, but the model's top_k is 2

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[0, 1]> : tensor<2xi32>
// CHECK: Operation does not verify: routing must be a 2-D tokens x top_k tensor, got shape (2,)

// -----

moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, bytes 1> routing dense<[[0.0, 1.0]]> : tensor<1x2xf32>
// CHECK: Operation does not verify: routing must hold integers, got element type f32
