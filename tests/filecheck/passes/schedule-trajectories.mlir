// One run applies the pass eight times with different options; --print-between-passes shows
// the plan after each (the last one is the final output).
// RUN: fsedp-opt %s --print-between-passes -p 'schedule-trajectories{shape=spiral},schedule-trajectories{shape=boustrophedon},schedule-trajectories{shape=hilbert},schedule-trajectories{shape=tour},schedule-trajectories{shape=tree},schedule-trajectories{shape=tour entry=attached},schedule-trajectories{shape=tour entry=max-free},schedule-trajectories{shape=boustrophedon skip-idle=false}' | filecheck %s

// A 3x3 mesh, one token per chiplet (token t on chiplet t):
//   0 1 2
//   3 4 5      expert 0: tokens on chiplets 0, 2, 4, 8; its slice loads through channel 1 (at 8)
//   6 7 8      expert 1: tokens on chiplets 1, 3, 5, 6, 7; its 2 slices through channel 0 (at 0)
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-3x3", rows 3, cols 3, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 8], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [1], [0], [1], [0], [1], [1], [1], [0]]> : tensor<9x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3, 4, 5, 6, 7, 8>
  chiplet.expert 0 slices 1 bytes 96 tokens 4 {order = array<i64: 0>, channels = array<i64: 1>}
  chiplet.expert 1 slices 2 bytes 48 tokens 5 {order = array<i64: 1, 2>, channels = array<i64: 0, 0>}
}

// Cyclic orders rotated to the entry (default entry=nearest-need: 8 needs expert 0 itself;
// chiplet 1 is the nearest to chiplet 0 needing expert 1, ties by id over 3), then filtered.
// spiral: 0 1 2 5 8 7 6 3 4
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 4, 0, 2>]
// CHECK: stops = [array<i64: 1, 5, 7, 6, 3>, array<i64: 1, 5, 7, 6, 3>]
// boustrophedon: 0 1 2 5 4 3 6 7 8
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 0, 2, 4>]
// CHECK: stops = [array<i64: 1, 5, 3, 6, 7>, array<i64: 1, 5, 3, 6, 7>]
// hilbert (the 4x4 curve restricted to the mesh): 0 1 4 3 6 7 8 5 2
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 2, 0, 4>]
// CHECK: stops = [array<i64: 1, 3, 6, 7, 5>, array<i64: 1, 3, 6, 7, 5>]
// tour: shortest open paths, 6 hops each; the lexicographically first of the shortest
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 2, 0, 4>]
// CHECK: stops = [array<i64: 1, 3, 6, 7, 5>, array<i64: 1, 3, 6, 7, 5>]
// tree (the default): stops by hops from the entry (ties by id), each receiving from the stop on
// a shortest path from the entry nearest to it. Expert 0 from 8: 2 and 4 from 8 (on no shortest
// path through each other), 0 from 2 (2 and 4 both on the way, 2 hops away; fewer children,
// then lower id). Expert 1 from 1: 3, 5 and 7 from 1; 6 from 3 (3 and 7 one hop away: lower id).
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 2, 4, 0>], parents = [array<i64: -1, 8, 8, 2>]
// CHECK: stops = [array<i64: 1, 3, 5, 7, 6>, array<i64: 1, 3, 5, 7, 6>], parents = [array<i64: -1, 1, 1, 1, 3>, array<i64: -1, 1, 1, 1, 3>]
// entry=attached: expert 1 enters at chiplet 0 (no token of it there) and only forwards there.
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 8, 2, 0, 4>]
// CHECK: stops = [array<i64: 0, 1, 3, 6, 7, 5>, array<i64: 0, 1, 3, 6, 7, 5>]
// entry=max-free: expert 1's second slice enters at 3, which has admitted no load yet.
// CHECK-LABEL: IR after schedule-trajectories:
// CHECK: stops = [array<i64: 1, 3, 6, 7, 5>, array<i64: 3, 6, 7, 1, 5>]
// skip-idle=false: every chiplet, as the published reference does.
// CHECK: stops = [array<i64: 8, 0, 1, 2, 5, 4, 3, 6, 7>]
// CHECK: stops = [array<i64: 1, 2, 5, 4, 3, 6, 7, 8, 0>, array<i64: 1, 2, 5, 4, 3, 6, 7, 8, 0>]
