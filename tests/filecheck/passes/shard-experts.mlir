// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'shard-experts{slices=2}' | filecheck %s
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'shard-experts{min-slices=1}' | filecheck %s --check-prefix=AUTO
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'shard-experts{min-slices=1 buffers=4}' | filecheck %s --check-prefix=STRICT

// hidden 8, ffn 4: a slice of 2 FFN rows holds 3·8·2 = 48 bytes. Expert 3 has no token and is
// not sharded; shared expert 4 (every token uses it) is.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
}

// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 4
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 1
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6
// CHECK-NEXT: }

// Auto: 4 buffers of whole experts (4 x 96 B) fit in 4096 B next to 32 B of activations, so
// min-slices=1 gives 1 slice.
// AUTO:       chiplet.expert 0 slices 1 bytes 96 tokens 4

// -----

// Auto with a 256-byte SRAM: the fullest chiplet holds 2 tokens (input + output: 32 B), leaving
// 224 B, i.e. 2 FFN rows (24 B each) per buffer for 4 buffers: ffn 5 needs 3 slices. Explicit:
// ffn 5 in 2 slices has rows [0, 2) and [2, 5): the larger is 3·8·3 = 72 B.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 256, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 5, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
}

// CHECK:      chiplet.expert 0 slices 2 bytes 72 tokens 4
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 72 tokens 2
// AUTO:       chiplet.expert 0 slices 3 bytes 48 tokens 4
// AUTO-NEXT:  chiplet.expert 1 slices 3 bytes 48 tokens 2

// -----

// Tight: 4 buffers of a single FFN row (4 x 24 B) do not fit in 100 B - 32 B, so auto slicing
// makes room for 2 instead (virtualize decides whether the plan runs with them).
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 100, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 1, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
}

// CHECK: error: shard-experts: slices=2 exceeds the FFN dimension 1 of model 'tiny' (a slice needs at least one row)
// AUTO:  chiplet.expert 0 slices 1 bytes 24 tokens 4
// An explicit buffer count is kept, and then it does not fit:
// STRICT: error: shard-experts: 4 slice buffer(s) do not fit even with one FFN row per slice: 4 x 24 B > 100 B SRAM - 32 B of activations on chiplet 0; it needs at least 128 B of SRAM

// -----

// Too small: not even one buffer of one FFN row (24 B) fits in 50 B - 32 B.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 50, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 1, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
}

// AUTO:  error: shard-experts: 1 slice buffer(s) do not fit even with one FFN row per slice: 1 x 24 B > 50 B SRAM - 32 B of activations on chiplet 0; it needs at least 56 B of SRAM
