// Each mode on the same input; the pass deals the slices to channels, then rewrites `order` into
// the issue order: the channel queues merged by the cycle each load would start.
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'distribute-slices{mode=even}' | filecheck %s --check-prefix=EVEN
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'distribute-slices{mode=sequential}' | filecheck %s --check-prefix=SEQ
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'distribute-slices{mode=per-expert}' | filecheck %s --check-prefix=PER
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'distribute-slices{mode=nearest}' | filecheck %s --check-prefix=NEAR

// Two channels of 10 B/cycle (attached to chiplets 0 and 3); every slice is 48 B, 4.8 cycles.
// Priority order: (4,0) (1,0) (4,1) (1,1) (0,0) (2,0) (0,1) (2,1), i.e. expert 4's slices at
// positions 0 and 2, and so on.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>}
  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>}
  chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>}
  chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>}
}

// even: round-robin over the priority order, even positions on channel 0, odd ones on 1. Both
// queues start at cycles 0, 4.8, 9.6, ...: the merge keeps the priority order.
// EVEN: chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>, channels = array<i64: 0, 0>}
// EVEN: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
// EVEN: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>, channels = array<i64: 1, 1>}
// EVEN: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}

// sequential: positions 0-3 on channel 0, 4-7 on channel 1. Merged by start cycle (0: positions
// 0 and 4, 4.8: 1 and 5, ...), the two halves load side by side: (4,0) (0,0) (1,0) (2,0) ...
// SEQ: chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 1, 5>, channels = array<i64: 1, 1>}
// SEQ: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 2, 6>, channels = array<i64: 0, 0>}
// SEQ: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 3, 7>, channels = array<i64: 1, 1>}
// SEQ: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 4>, channels = array<i64: 0, 0>}

// per-expert: experts dealt round-robin in order of first appearance (4, 1, 0, 2). The channel
// queues alternate already, so the merge keeps the priority order.
// PER: chiplet.expert 0 slices 2 bytes 48 tokens 5 {order = array<i64: 4, 6>, channels = array<i64: 0, 0>}
// PER: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
// PER: chiplet.expert 2 slices 2 bytes 48 tokens 3 {order = array<i64: 5, 7>, channels = array<i64: 1, 1>}
// PER: chiplet.expert 4 slices 2 bytes 48 tokens 6 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}

// nearest: homes 0 and 3 have their own channel; homes 1 and 2 are one hop from both, and the
// shared expert 4 (no home: computed everywhere) is as near to either, so those slices go to the
// channel with fewer bytes so far (ties to channel 0).
// NEAR: chiplet.expert 0 {{.*}} channels = array<i64: 0, 0>
// NEAR: chiplet.expert 1 {{.*}} channels = array<i64: 1, 1>
// NEAR: chiplet.expert 2 {{.*}} channels = array<i64: 1, 1>
// NEAR: chiplet.expert 4 {{.*}} channels = array<i64: 0, 0>

// -----

// Without `order` the slices go by id; three channels; `nearest` needs expert homes.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 1, 10.0 at 2], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [1]]> : tensor<2x1xi32>
  chiplet.expert 0 slices 2 bytes 48 tokens 1
  chiplet.expert 1 slices 2 bytes 48 tokens 1
}

// EVEN: chiplet.expert 0 slices 2 bytes 48 tokens 1 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>}
// EVEN: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 2, 3>, channels = array<i64: 2, 0>}
// Channel 0 takes (0,0) and (0,1), channels 1 and 2 one slice each: (0,1) loads last.
// SEQ: chiplet.expert 0 slices 2 bytes 48 tokens 1 {order = array<i64: 0, 3>, channels = array<i64: 0, 0>}
// SEQ: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 2>, channels = array<i64: 1, 2>}
// PER: chiplet.expert 0 slices 2 bytes 48 tokens 1 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}
// PER: chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
// NEAR: error: distribute-slices: mode=nearest needs expert homes; run place-experts first (it belongs to the ep and hydra pipelines)
