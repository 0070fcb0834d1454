// RUN: fsedp-opt %s --split-input-file | filecheck %s
// RUN: fsedp-opt %s --split-input-file | fsedp-opt --split-input-file | filecheck %s
// RUN: FSEDP_ROUNDTRIP

// Fields are read in any order and printed in the field table's order; `topology` and `links`
// are printed only when the machine is not a plain mesh. A link without `at` has d2d_gbps.
// CHECK: #chiplet.system<"pkg", rows 1, cols 3, topology custom, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [16.0 at 0], d2d_gbps 32.0, links [0-1, 2-1 at 144.0], hop_latency_cycles 2, element_bytes 1, slice_buffers 4>
builtin.module attributes {chiplet.system = #chiplet.system<"pkg", links [0-1, 2-1 at 144], topology custom, slice_buffers 4, rows 1, cols 3, element_bytes 1, hop_latency_cycles 2, clock_ghz 1, ops_per_cycle 64, sram_bytes 4096, ddr [16 at 0], d2d_gbps 32>} {}

// -----

// CHECK: #chiplet.system<"t", rows 3, cols 3, topology torus, clock_ghz 1.0,
builtin.module attributes {chiplet.system = #chiplet.system<"t", rows 3, cols 3, topology torus, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 4>} {}

// -----

// A mesh written out prints without the topology.
// CHECK: #chiplet.system<"m", rows 2, cols 2, clock_ghz 1.0,
builtin.module attributes {chiplet.system = #chiplet.system<"m", rows 2, cols 2, topology mesh, links [], clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 4>} {}
