// RUN: fsedp-opt %s --split-input-file --parsing-diagnostics | filecheck %s

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 4], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: invalid-syntax.mlir:[[# @LINE - 1]]:60
// CHECK: DDR channel 0 attaches to chiplet 4, but the 2x2 mesh has chiplets 0..3

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 1>} {}
// CHECK: system slice_buffers must be at least 2 (one to compute, one to receive), got 1

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.0, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system clock_ghz must be positive, got 0.0

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system needs at least one DDR channel

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2by2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: expected mesh as ROWSxCOLS, got '2by2'

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.8, sram_bytes 1024, ops_per_cycle 2048, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: Expected 'ops_per_cycle' (field 3 of 9)
