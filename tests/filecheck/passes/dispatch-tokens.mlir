// RUN: fsedp-opt %s --print-between-passes -p 'dispatch-tokens{schedule=ring},dispatch-tokens{schedule=id}' | filecheck %s

// Top-2 routing, experts 2 and 3 both homed on chiplet 2; tokens two per chiplet. Shared expert
// 4 has no home: every chiplet applies it to its own tokens, so it moves no token.
//   t0 (chiplet 0): e2, e3 -> both on 2     t4 (2): e2, e3 -> local
//   t1 (0): e0 local, e1 -> 1               t5 (2): e0 -> 0, e1 -> 1
//   t2 (1): e1 local, e3 -> 2               t6 (3): e1 -> 1, e2 -> 2
//   t3 (1): e0 -> 0, e2 -> 2                t7 (3): e0 -> 0, e3 -> 2
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 2, bytes 1> routing dense<[[2, 3], [0, 1], [1, 3], [0, 2], [2, 3], [0, 1], [1, 2], [0, 3]]> : tensor<8x2xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2, 3, 3>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 2>
}

// One dispatch per (source, home) pair with the source's tokens that need that home. A token
// whose experts share a home goes there once (t0, t7: experts 2 and 3 on chiplet 2); nothing is
// sent to the token's own chiplet. schedule=ring: chiplet c sends to c+1, c+2, c+3 (mod 4).
// CHECK-LABEL: IR after dispatch-tokens:
// CHECK: chiplet.dispatch from 0 to 1 tokens array<i64: 1>
// CHECK-NEXT: chiplet.dispatch from 0 to 2 tokens array<i64: 0>
// CHECK-NEXT: chiplet.dispatch from 1 to 2 tokens array<i64: 2, 3>
// CHECK-NEXT: chiplet.dispatch from 1 to 0 tokens array<i64: 3>
// CHECK-NEXT: chiplet.dispatch from 2 to 0 tokens array<i64: 5>
// CHECK-NEXT: chiplet.dispatch from 2 to 1 tokens array<i64: 5>
// CHECK-NEXT: chiplet.dispatch from 3 to 0 tokens array<i64: 7>
// CHECK-NEXT: chiplet.dispatch from 3 to 1 tokens array<i64: 6>
// CHECK-NEXT: chiplet.dispatch from 3 to 2 tokens array<i64: 6, 7>
// CHECK-NEXT: }

// schedule=id: by home id. (the final output)
// CHECK: chiplet.dispatch from 0 to 1 tokens array<i64: 1>
// CHECK-NEXT: chiplet.dispatch from 0 to 2 tokens array<i64: 0>
// CHECK-NEXT: chiplet.dispatch from 1 to 0 tokens array<i64: 3>
// CHECK-NEXT: chiplet.dispatch from 1 to 2 tokens array<i64: 2, 3>
// CHECK-NEXT: chiplet.dispatch from 2 to 0 tokens array<i64: 5>
// CHECK-NEXT: chiplet.dispatch from 2 to 1 tokens array<i64: 5>
// CHECK-NEXT: chiplet.dispatch from 3 to 0 tokens array<i64: 7>
// CHECK-NEXT: chiplet.dispatch from 3 to 1 tokens array<i64: 6>
// CHECK-NEXT: chiplet.dispatch from 3 to 2 tokens array<i64: 6, 7>
