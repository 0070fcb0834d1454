// RUN: fsedp-opt %s | fsedp-opt | filecheck %s
// RUN: fsedp-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: FSEDP_ROUNDTRIP

// The plan ops as the passes write them; integers are accepted where floats are expected and
// print back as floats.
// CHECK: builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.0 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>} {
// CHECK-NEXT: chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3>
// CHECK-NEXT: chiplet.expert 1 slices 2 bytes 192 tokens 3 {order = array<i64: 4, 6>, channels = array<i64: 0, 2>, stops = [array<i64: 0, 1, 2>, array<i64: 2, 0, 1>], parents = [array<i64: -1, 0, 0>, array<i64: -1, 2, 2>]}
// CHECK-NEXT: chiplet.placement policy "hydra" homes array<i64: 3, 1>
// CHECK-NEXT: chiplet.dispatch from 0 to 3 tokens array<i64: 0, 2>
// CHECK-NEXT: chiplet.dispatch from 1 to 3 tokens array<i64: 1> round 1
// CHECK-NEXT: chiplet.buffers slots 9 reserve 1 bytes 192
// CHECK-NEXT: }
// GENERIC:      "chiplet.partition"() <{policy = "block", owners = array<i64: 0, 1, 2, 3>}> : () -> ()
// GENERIC:      "chiplet.dispatch"() <{from = 1 : i64, to = 3 : i64, tokens = array<i64: 1>, round = 1 : i64}> : () -> ()
// GENERIC-NEXT: "chiplet.buffers"() <{slots = 9 : i64, reserve = 1 : i64, bytes = 192 : i64}> : () -> ()
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>} {
  chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3>
  chiplet.expert 1 slices 2 bytes 192 tokens 3 {order = array<i64: 4, 6>, channels = array<i64: 0, 2>, stops = [array<i64: 0, 1, 2>, array<i64: 2, 0, 1>], parents = [array<i64: -1, 0, 0>, array<i64: -1, 2, 2>]}
  chiplet.placement policy "hydra" homes array<i64: 3, 1>
  chiplet.dispatch from 0 to 3 tokens array<i64: 0, 2>
  chiplet.dispatch from 1 to 3 tokens array<i64: 1> round 1
  chiplet.buffers slots 9 reserve 1 bytes 192
}

// -----

// Without a system attribute, chiplet ids are only checked to be non-negative.
// CHECK: chiplet.placement policy "lpt" homes array<i64: 7, 5>
chiplet.placement policy "lpt" homes array<i64: 7, 5>
