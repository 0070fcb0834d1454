// One slice loaded (6400 B at 32 B/cycle = 200 cycles), then one gemm (10000 ops at
// 100 ops/cycle = 100 cycles): 300 cycles at 1 GHz.
// RUN: fsedp-opt %s -t sim-report | filecheck %s
// RUN: fsedp-opt %s -t 'sim-report{format=json}' | filecheck %s --check-prefix=JSON
// RUN: fsedp-opt %s -t 'sim-report{format=csv}' | filecheck %s --check-prefix=CSV

// CHECK:      latency: 300.0 cycles = 0.300 us
// CHECK-NEXT: lower bound: 200.0 cycles (ddr_busiest_channel); latency / bound = 1.500
// CHECK:      compute: mean utilization 33.3%
// CHECK-NEXT: SRAM: peak 6600 B (6.4 KiB) of 1048576 B (1.0 MiB) per chiplet
// CHECK:      channel 0 at chiplet 0: 1 loads, 6400 B (6.2 KiB), utilization 66.7%
// CHECK:      slice visits: 1 (0 with zero tokens)

// JSON:      "latency_cycles": 300.0,
// JSON-NEXT: "latency_us": 0.3,
// JSON:      "compute_busy_cycles": 100.0,

// CSV:      chiplet,finish_cycles,compute_busy_cycles,compute_ops,compute_utilization
// CSV-NEXT: 0,300.0,100.0,10000,0.3333,6600,6400,200,

builtin.module attributes {chiplet.system = #chiplet.system<"test-2x2", rows 2, cols 2, clock_ghz 1.0,
    ops_per_cycle 100, sram_bytes 1048576, ddr [32.0 at 0, 32.0 at 3], d2d_gbps 16.0,
    hop_latency_cycles 5, element_bytes 1, slice_buffers 4>} {
  cisa.program @chiplet0 chiplet 0 {
    %x = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %x
    %y = cisa.alloc act bytes 100 tokens array<i32: 0>
    %w = cisa.alloc weight bytes 6400
    cisa.load %w channel 0 seq 0 bytes 6400 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.free %w
    cisa.output %y
    cisa.end
  }
}
