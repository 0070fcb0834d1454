// The pass runs with order=id, then hot-first, then pairs, then paired;
// --print-between-passes shows the plan after the first three (the last is the final output).
// RUN: fsedp-opt %s --split-input-file --print-between-passes -p 'order-loads{order=id},order-loads{order=hot-first},order-loads{order=pairs},order-loads{order=paired}' | filecheck %s

// Heat = tokens: shared expert 4 (6) > 0 (5) > 2 (3) > 1 (1).
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
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

// order=pairs: pairs (hottest, coldest) = (4, 1) then (0, 2); slices alternate within a pair.
// CHECK-LABEL: IR after order-loads:
// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>}
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>}
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>}

// order=paired, by hand. Tokens (block partition): 0, 1 on chiplet 0; 2, 3 on 1; 4 on 2; 5 on 3.
// Per FFN row: compute 6·8/64 = 0.75 cycles per token, DDR 24 B / 20 B per cycle = 1.2 cycles.
// Compute per row u (chiplets 0..3): expert 0 [1.5, .75, 0, .75], 1 [0, .75, 0, 0],
// 2 [0, 0, .75, 0], 4 [1.5, 1.5, .75, .75]; every expert has 4 rows, so DDR is 19.2 cycles and
// ρ = 4·Σu / 19.2 = [.625, .625, .3125, .3125]. z = u − 1.2·ρ: expert 0 [.75, 0, −.375, .375],
// 1 [−.75, 0, −.375, −.375], 2 [−.75, −.75, .375, −.375], 4 [.75, .75, .375, .375]. A slice has
// 2 rows; its score is Σ (a + 2·z)² with a the running deviation (0 at first).
// Step 1: |z|² is .84 for experts 0 and 1, 1.41 for 2 and 4: expert 0 (tie to the lower id).
// Step 2: a = 2·z(0) = [1.5, 0, −.75, .75]; scores 4|z|² + 4 z·a: 10.1, −1.1, −1.1, 10.1:
// expert 1. Then experts 2, 4, and the second slices in the same order.
// (the final output)
// CHECK:      chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 0, 4>}
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 5>}
// CHECK-NEXT: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 2, 6>}
// CHECK-NEXT: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 3, 7>}

// -----

// Three experts: ties in heat go by id; with pairs, the median one streams alone after the pair.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
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
// CHECK-LABEL: IR after order-loads:
// CHECK:       chiplet.expert 0 slices 2 bytes 48 tokens 2 {order = array<i64: 0, 2>}
// CHECK-NEXT:  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 4, 5>}
// CHECK-NEXT:  chiplet.expert 2 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
// order=paired: one token per chiplet (expert 0 on chiplets 0 and 1, 1 on 2, 2 on 3), one
// channel: z = u − 0.25 per row; expert 1 scores lowest first (|z|² .44 vs .63, tied with 2,
// lower id), then expert 0 (0 vs .75), then 2: the heavier expert goes between two light ones.
// (the final output)
// CHECK:       chiplet.expert 0 slices 2 bytes 48 tokens 2 {order = array<i64: 1, 4>}
// CHECK-NEXT:  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 0, 3>}
// CHECK-NEXT:  chiplet.expert 2 slices 2 bytes 48 tokens 1 {order = array<i64: 2, 5>}
