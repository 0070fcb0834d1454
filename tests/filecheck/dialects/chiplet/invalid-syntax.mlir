// RUN: fsedp-opt %s --split-input-file --parsing-diagnostics | filecheck %s

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 4], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: invalid-syntax.mlir:[[# @LINE - 1]]:60
// CHECK: system field 'ddr[0]' names chiplet 4, which is not on the 2x2 grid (chiplet ids 0..3)

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 1>} {}
// CHECK: system field 'slice_buffers' must be >= 2, got 1

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.0, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'clock_ghz' is 0.0, outside the range 0.001 to 100.0 GHz (README: Limits)

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'ddr' needs at least one DDR channel, got none

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", mesh 2x2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: unknown system field 'mesh'; fields: rows, cols, {{.*}}, slice_buffers

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, sram_bytes 2048, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'sram_bytes' given twice

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, element_bytes 1, slice_buffers 2>} {}
// CHECK: the system lacks the field(s) hop_latency_cycles

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, topology hypercube, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'topology' must be one of mesh, torus, ring, custom, got 'hypercube'

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, links [0-1], clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'links' lists the links of topology 'custom' only; topology 'mesh' builds its own

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, topology custom, links [0-1, 2-3], clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'links' leaves chiplet 2 unreachable from DDR channel 0 (at chiplet 0): every chiplet needs a path of links to every other

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, topology custom, links [0-1, 1-2, 2-3, 3-0, 1-0], clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'links[4]' repeats the link 1-0 of links[0]; a link goes both ways, so list it once

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, topology custom, links [0-1, 1-5], clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: system field 'links[1]' names chiplet 5, which is not on the 2x2 grid (chiplet ids 0..3)

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 2, cols 2, topology custom, links [0->1], clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 1024, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 2>} {}
// CHECK: Expected '-' between a link's chiplets
