// RUN: fsedp-opt %s --split-input-file --verify-diagnostics | filecheck %s

cisa.program @c chiplet 0 {
  %x = cisa.alloc act bytes 16
  cisa.end
}
// CHECK: Operation does not verify: an act buffer must list the tokens it holds

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16 tokens array<i32: 0>
  cisa.end
}
// CHECK: Operation does not verify: a weight buffer holds no tokens

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 0
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 0 (%w0 = cisa.alloc weight bytes 0): bytes must be positive, got 0

// -----

cisa.program @c chiplet 0 {
  %x = cisa.alloc act bytes 16 tokens array<i32: 3, 3>
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 0 (%a0 = cisa.alloc act bytes 16 tokens array<i32: 3, 3>): act buffer lists a token twice

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16
  cisa.load %w channel 0 seq 0 bytes 16 expert 1 slice 2 of 2
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 ({{.*}}): slice 2 is outside 0..1

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 65536, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 2>} {
  cisa.program @c chiplet 0 {
    %w = cisa.alloc weight bytes 16
    cisa.load %w channel 1 seq 0 bytes 16 expert 1 slice 0 of 2
    cisa.end
  }
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 ({{.*}}): DDR channel 1 does not exist (the system has 1)

// -----

cisa.program @c chiplet 0 {
  %x = cisa.alloc act bytes 16 tokens array<i32: 0>
  cisa.send %x to 0 tag 0 bytes 16
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 (cisa.send %a0 to 0 tag 0 bytes 16): chiplet 0 cannot exchange data with itself

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16
  cisa.send %w to 1 tag 0 bytes 16
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 (cisa.send %w0 to 1 tag 0 bytes 16): reads a weight buffer before any load or recv fills it

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 65536, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 2>} {
  cisa.program @c chiplet 0 {
    %w = cisa.alloc weight bytes 16
    cisa.recv %w from 2 tag 0 bytes 16
    cisa.end
  }
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 (cisa.recv %w0 from 2 tag 0 bytes 16): peer chiplet 2 is not a chiplet of the machine (2 chiplets)

// -----

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 65536, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 2>} {
  cisa.program @c chiplet 2 {
    cisa.end
  }
}
// CHECK: Operation does not verify: program chiplet 2 is not a chiplet of the machine (chiplets 0..1, 1x2)

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16
  cisa.load %w channel 0 seq 0 bytes 16 expert 0 slice 0 of 1
  %x = cisa.alloc act bytes 16 tokens array<i32: 0>
  cisa.gemm %w, %x, %x expert 0 slice 0 of 1 tokens array<i32> ops 4
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 3 ({{.*}}): a gemm needs at least one token

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16
  cisa.load %w channel 0 seq 0 bytes 16 expert 0 slice 0 of 1
  %x = cisa.alloc act bytes 16 tokens array<i32: 0>
  cisa.gemm %x, %w, %x expert 0 slice 0 of 1 tokens array<i32: 0> ops 4
  cisa.end
}
// CHECK: Operation does not verify: chiplet 0, instruction 3 ({{.*}}): takes w weight, x act, y act buffers; w is an act buffer

// -----

cisa.program @c chiplet 0 {
  %w = cisa.alloc weight bytes 16
}
// CHECK: Operation does not verify: chiplet 0: the program does not end with cisa.end

// -----

%w = cisa.alloc weight bytes 16
// CHECK: Operation does not verify: 'cisa.alloc' expects parent op 'cisa.program'

// -----

cisa.program @c chiplet 0 {
  cisa.end
  cisa.barrier
}
// CHECK: Operation does not verify: chiplet 0, instruction 1 (cisa.barrier): comes after the program's cisa.end
