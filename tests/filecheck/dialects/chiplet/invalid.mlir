// RUN: fsedp-opt %s --split-input-file --verify-diagnostics | filecheck %s

chiplet.expert 0 slices 0 bytes 10 tokens 1
// CHECK: Operation does not verify: expert id must be >= 0, slices and bytes positive

// -----

chiplet.expert 0 slices 2 bytes 10 tokens 1 {channels = array<i64: 0>}
// CHECK: Operation does not verify: 'channels' lists 1 values for 2 slices

// -----

chiplet.expert 0 slices 1 bytes 10 tokens 1 {stops = [array<i64: 0, 1, 0>]}
// CHECK: Operation does not verify: a trajectory needs distinct stops, got array<i64: 0, 1, 0>

// -----

chiplet.expert 0 slices 1 bytes 10 tokens 1 {rounds = array<i64: 1, 0>}
// CHECK: Operation does not verify: 'rounds' must list distinct rounds in order, got (1, 0)

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {
  chiplet.partition policy "block" owners array<i64: 0, 4>
}
// CHECK: Operation does not verify: token owner chiplet 4 is not a chiplet of the machine (chiplets 0..3, 2x2)

// -----

chiplet.placement policy "lpt" homes array<i64: -1>
// CHECK: Operation does not verify: home chiplet -1 is negative

// -----

chiplet.dispatch from 1 to 1 tokens array<i64: 0>
// CHECK: Operation does not verify: a dispatch needs two different chiplets, got 1 twice

// -----

chiplet.dispatch from 0 to 1 tokens array<i64>
// CHECK: Operation does not verify: a dispatch needs at least one token

// -----

chiplet.buffers slots 2 reserve 2 bytes 8
// CHECK: Operation does not verify: need slots > reserve >= 0, got slots 2 reserve 2
