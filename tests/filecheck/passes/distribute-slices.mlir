// RUN: fsedp-opt %s --split-input-file --verify-diagnostics --print-between-passes -p 'distribute-slices{mode=even},distribute-slices{mode=sequential},distribute-slices{mode=per-expert},distribute-slices{mode=nearest}' | filecheck %s

// Two channels (attached to chiplets 0 and 3). Load order: (4,0) (1,0) (4,1) (1,1) (0,0) (2,0)
// (0,1) (2,1), i.e. expert 4's slices are at positions 0 and 2, and so on.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", mesh 2x2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>}
  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
  chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>}
  chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>}
}

// Round-robin over the load order: even positions on channel 0, odd ones on channel 1.
// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>, channels = array<i64: 0, 0>}
// CHECK: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
// CHECK: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>, channels = array<i64: 1, 1>}
// CHECK: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}

// The first half of the stream on channel 0, the second on channel 1.
// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 0 {{.*}} channels = array<i64: 1, 1>
// CHECK: chiplet.expert 1 {{.*}} channels = array<i64: 0, 0>
// CHECK: chiplet.expert 2 {{.*}} channels = array<i64: 1, 1>
// CHECK: chiplet.expert 4 {{.*}} channels = array<i64: 0, 0>

// Experts dealt round-robin in order of first appearance: 4, 1, 0, 2.
// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 0 {{.*}} channels = array<i64: 0, 0>
// CHECK: chiplet.expert 1 {{.*}} channels = array<i64: 1, 1>
// CHECK: chiplet.expert 2 {{.*}} channels = array<i64: 1, 1>
// CHECK: chiplet.expert 4 {{.*}} channels = array<i64: 0, 0>

// Homes 0 and 3 have their own channel; homes 1 and 2 are one hop from both, so their slices
// go to the channel with fewer bytes so far.
// (the final output)
// CHECK: chiplet.expert 0 {{.*}} channels = array<i64: 0, 0>
// CHECK: chiplet.expert 1 {{.*}} channels = array<i64: 0, 0>
// CHECK: chiplet.expert 2 {{.*}} channels = array<i64: 1, 1>
// CHECK: chiplet.expert 4 {{.*}} channels = array<i64: 1, 1>

// -----

// Without `order` the slices go by id; `nearest` needs expert homes.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", mesh 2x2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 1, 10.0 at 2], d2d_gbps 10.0, hop_latency 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [1]]> : tensor<2x1xi32>
  chiplet.expert 0 slices 2 bytes 48 tokens 1
  chiplet.expert 1 slices 2 bytes 48 tokens 1
}

// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 0 slices 2 bytes 48 tokens 1 {channels = array<i64: 0, 1>}
// CHECK: chiplet.expert 1 slices 2 bytes 48 tokens 1 {channels = array<i64: 2, 0>}
// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 0 slices 2 bytes 48 tokens 1 {channels = array<i64: 0, 0>}
// CHECK: chiplet.expert 1 slices 2 bytes 48 tokens 1 {channels = array<i64: 1, 2>}
// CHECK-LABEL: IR after distribute-slices:
// CHECK: chiplet.expert 1 slices 2 bytes 48 tokens 1 {channels = array<i64: 1, 1>}
// (the final output)
// CHECK: error: distribute-slices: mode=nearest needs expert homes; run place-experts first (it belongs to the ep and hydra pipelines)
