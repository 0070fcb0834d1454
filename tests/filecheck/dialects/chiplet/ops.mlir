// RUN: fsedp-opt %s | fsedp-opt | filecheck %s
// RUN: fsedp-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: FSEDP_ROUNDTRIP

// Integers are accepted where floats are expected and print back as floats.
// CHECK: builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.0 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>} {
// CHECK-NEXT: chiplet.slice expert 3 slice 1 of 4 bytes 98304
// CHECK-NEXT: chiplet.stream expert 3 slice 1 stops array<i64: 0, 1, 3>
// CHECK-NEXT: chiplet.transfer from 0 to 1 bytes 98304
// CHECK-NEXT: }
// GENERIC:      "chiplet.slice"() <{expert = 3 : i64, slice = 1 : i64, of = 4 : i64, bytes = 98304 : i64}> : () -> ()
// GENERIC-NEXT: "chiplet.stream"() <{expert = 3 : i64, slice = 1 : i64, stops = array<i64: 0, 1, 3>}> : () -> ()
// GENERIC-NEXT: "chiplet.transfer"() <{from = 0 : i64, to = 1 : i64, bytes = 98304 : i64}> : () -> ()
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>} {
  chiplet.slice expert 3 slice 1 of 4 bytes 98304
  chiplet.stream expert 3 slice 1 stops array<i64: 0, 1, 3>
  chiplet.transfer from 0 to 1 bytes 98304
}

// -----

// Without a system attribute, chiplet ids are only checked to be non-negative.
// CHECK: chiplet.stream expert 0 slice 0 stops array<i64: 7, 5>
chiplet.stream expert 0 slice 0 stops array<i64: 7, 5>
