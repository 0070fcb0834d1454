// The same plan on a 1x6 mesh and on a ring of 6: trajectories follow the interconnect's hops.
// RUN: fsedp-opt %s --split-input-file -p 'schedule-trajectories{shape=tree}' | filecheck %s

// Expert 0's tokens are on chiplets 4 and 5; its slice loads through channel 0, at chiplet 0.
// On the mesh chiplet 4 is nearer to 0 (4 hops, 5 for chiplet 5): the slice enters at 4 and 4
// forwards it to 5.
// CHECK: chiplet.expert 0 slices 1 bytes 96 tokens 2 {{.*}}stops = [array<i64: 4, 5>], parents = [array<i64: -1, 4>]
builtin.module attributes {chiplet.system = #chiplet.system<"line", rows 1, cols 6, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[1], [1], [1], [1], [0], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3, 4, 5>
  chiplet.expert 0 slices 1 bytes 96 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>}
}

// -----

// On the ring chiplet 5 is one hop from 0 (the link 5-0), chiplet 4 two: the slice enters at 5.
// CHECK: chiplet.expert 0 slices 1 bytes 96 tokens 2 {{.*}}stops = [array<i64: 5, 4>], parents = [array<i64: -1, 5>]
builtin.module attributes {chiplet.system = #chiplet.system<"ring", rows 1, cols 6, topology ring, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[1], [1], [1], [1], [0], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3, 4, 5>
  chiplet.expert 0 slices 1 bytes 96 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>}
}
