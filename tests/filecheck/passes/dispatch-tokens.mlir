// RUN: fsedp-opt %s --print-between-passes -p 'dispatch-tokens{schedule=ring},dispatch-tokens{schedule=id}' | filecheck %s

// Homes round-robin (shared expert 4 on chiplet 0). Token t's experts: t0, t1, t2 -> e3 (home 3)
// and e4 (home 0); t3, t7 -> e0, e4 (both home 0); t4, t5 -> e1 (home 1), e4; t6 -> e2 (home 2), e4.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", mesh 2x2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[3], [3], [3], [0], [1], [1], [2], [0]]> : tensor<8x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2, 3, 3>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3, 0>
}

// One dispatch per (source, home) pair with the source's tokens that need that home. A token
// whose experts share a home goes there once (t3 and t7: e0 and e4, both on chiplet 0); nothing
// is sent to the token's own chiplet (t0, t1 use e4 on their own chiplet 0).
// CHECK-LABEL: IR after dispatch-tokens:
// CHECK: chiplet.dispatch from 0 to 3 tokens array<i64: 0, 1>
// CHECK-NEXT: chiplet.dispatch from 1 to 3 tokens array<i64: 2>
// CHECK-NEXT: chiplet.dispatch from 1 to 0 tokens array<i64: 2, 3>
// CHECK-NEXT: chiplet.dispatch from 2 to 0 tokens array<i64: 4, 5>
// CHECK-NEXT: chiplet.dispatch from 2 to 1 tokens array<i64: 4, 5>
// CHECK-NEXT: chiplet.dispatch from 3 to 0 tokens array<i64: 6, 7>
// CHECK-NEXT: chiplet.dispatch from 3 to 2 tokens array<i64: 6>
// CHECK-NEXT: }

// (the final output)
// CHECK: chiplet.dispatch from 0 to 3 tokens array<i64: 0, 1>
// CHECK-NEXT: chiplet.dispatch from 1 to 0 tokens array<i64: 2, 3>
// CHECK-NEXT: chiplet.dispatch from 1 to 3 tokens array<i64: 2>
// CHECK-NEXT: chiplet.dispatch from 2 to 0 tokens array<i64: 4, 5>
// CHECK-NEXT: chiplet.dispatch from 2 to 1 tokens array<i64: 4, 5>
// CHECK-NEXT: chiplet.dispatch from 3 to 0 tokens array<i64: 6, 7>
// CHECK-NEXT: chiplet.dispatch from 3 to 2 tokens array<i64: 6>
