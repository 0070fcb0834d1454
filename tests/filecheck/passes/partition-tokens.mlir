// The pass runs with policy=block, then again with policy=round-robin (replacing the first
// partition); --print-between-passes shows the block result.
// RUN: fsedp-opt %s --split-input-file --print-between-passes -p 'partition-tokens,partition-tokens{policy=round-robin}' | filecheck %s

// 6 tokens on a 2x2 mesh: 6 mod 4 = 2, so with block chiplets 0 and 1 hold one extra token.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
}

// CHECK-LABEL: IR after partition-tokens:
// CHECK:       moe.layer @layer0
// CHECK:       chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
// CHECK-NEXT:  }
// (the final output)
// CHECK:       chiplet.partition policy "round-robin" owners array<i64: 0, 1, 2, 3, 0, 1>
// CHECK-NEXT:  }

// -----

// Fewer tokens than chiplets: the last chiplets hold none. The old partition is replaced.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [1], [1]]> : tensor<3x1xi32>
  chiplet.partition policy "round-robin" owners array<i64: 3, 3, 3>
}

// CHECK-LABEL: IR after partition-tokens:
// CHECK:       chiplet.partition policy "block" owners array<i64: 0, 1, 2>
// CHECK-NEXT:  }
// (the final output)
// CHECK:       chiplet.partition policy "round-robin" owners array<i64: 0, 1, 2>
// CHECK-NEXT:  }
