// RUN: fsedp-opt %s --split-input-file --verify-diagnostics | filecheck %s

chiplet.slice expert 0 slice 4 of 4 bytes 10
// CHECK: Operation does not verify: slice 4 is outside 0..3

// -----

chiplet.slice expert 0 slice 0 of 4 bytes 0
// CHECK: Operation does not verify: slice bytes must be positive, got 0

// -----

chiplet.slice expert -1 slice 0 of 4 bytes 10
// CHECK: Operation does not verify: expert id -1 is negative

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {
  chiplet.stream expert 0 slice 0 stops array<i64: 0, 4>
}
// CHECK: Operation does not verify: stop chiplet 4 is outside the 2x2 mesh (chiplets 0..3)

// -----

chiplet.stream expert 0 slice 0 stops array<i64: 0, 1, 0>
// CHECK: Operation does not verify: stream visits a chiplet twice: stops [0, 1, 0]

// -----

chiplet.stream expert 0 slice 0 stops array<i64>
// CHECK: Operation does not verify: a stream needs at least one stop

// -----

chiplet.transfer from 1 to 1 bytes 8
// CHECK: Operation does not verify: a transfer needs two different chiplets, got 1 to itself
