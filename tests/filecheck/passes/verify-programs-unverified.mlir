// verify-programs on modules that xDSL's verifier would reject (--disable-verify): it reports
// what is wrong instead of failing inside its own checks.
// RUN: fsedp-opt %s --disable-verify --split-input-file --verify-diagnostics -p verify-programs | filecheck %s

// A slice that does not exist: "of 0" and "slice 3 of 1".
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-1x2", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 1], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 1, shared 0, top_k 1, bytes 1> routing dense<[[0], [0]]> : tensor<2x1xi32>
  cisa.program @chiplet0 chiplet 0 {
    %x = cisa.alloc act bytes 8 tokens array<i32: 0, 1>
    cisa.input %x
    %y = cisa.alloc act bytes 8 tokens array<i32: 0, 1>
    %w = cisa.alloc weight bytes 96
    cisa.load %w channel 0 seq 0 bytes 96 expert 0 slice 0 of 0
    cisa.gemm %w, %x, %y expert 0 slice 3 of 1 tokens array<i32: 0, 1> ops 384
    cisa.free %w
    cisa.output %y
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    cisa.end
  }
}

// CHECK:      error: verify-programs: 3 violations:
// CHECK-NEXT:   chiplet 0, instruction 4 (cisa.load %w2 channel 0 seq 0 bytes 96 expert 0 slice 0 of 0): of must be positive, got 0
// CHECK-NEXT:   chiplet 0, instruction 5 (cisa.gemm %w2, %a0, %a1 expert 0 slice 3 of 1 tokens array<i32: 0, 1> ops 384): slice 3 is outside 0..0
// CHECK-NEXT:   token 0 uses expert 0, but no gemm computes expert 0

// -----

// A token that does not exist (the layer has 2), below zero: not counted as token 1's output.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-1x2", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 1], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 1, shared 0, top_k 1, bytes 1> routing dense<[[0], [0]]> : tensor<2x1xi32>
  cisa.program @chiplet0 chiplet 0 {
    %x = cisa.alloc act bytes 8 tokens array<i32: 0, -1>
    cisa.input %x
    %y = cisa.alloc act bytes 8 tokens array<i32: 0, -1>
    %w = cisa.alloc weight bytes 96
    cisa.load %w channel 0 seq 0 bytes 96 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0, -1> ops 384
    cisa.free %w
    cisa.output %y
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    cisa.end
  }
}

// CHECK:      error: verify-programs: 5 violations:
// CHECK-NEXT:   chiplet 0, instruction 0 (%a0 = cisa.alloc act bytes 8 tokens array<i32: 0, -1>): act buffer holds a negative token id
// CHECK-NEXT:   chiplet 0, instruction 2 (%a1 = cisa.alloc act bytes 8 tokens array<i32: 0, -1>): act buffer holds a negative token id
// CHECK-NEXT:   chiplet 0, instruction 5 (cisa.gemm %w2, %a0, %a1 expert 0 slice 0 of 1 tokens array<i32: 0, -1> ops 384): gemm holds a negative token id
// CHECK-NEXT:   token 0 uses expert 0, but no gemm computes expert 0
// CHECK-NEXT:   token 1 is output 0 times (must be exactly once)

// -----

// An instruction after cisa.end, which stops the program: it would never run.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-1x2", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 1], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 1, shared 0, top_k 1, bytes 1> routing dense<[[0], [0]]> : tensor<2x1xi32>
  cisa.program @chiplet0 chiplet 0 {
    %x = cisa.alloc act bytes 8 tokens array<i32: 0, 1>
    cisa.input %x
    %y = cisa.alloc act bytes 8 tokens array<i32: 0, 1>
    %w = cisa.alloc weight bytes 96
    cisa.load %w channel 0 seq 0 bytes 96 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0, 1> ops 384
    cisa.free %w
    cisa.end
    cisa.output %y
  }
  cisa.program @chiplet1 chiplet 1 {
    cisa.end
  }
}

// CHECK:      error: verify-programs: chiplet 0, instruction 8 (cisa.output %a1): comes after the program's cisa.end
