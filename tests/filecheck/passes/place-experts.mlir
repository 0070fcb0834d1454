// RUN: fsedp-opt %s --print-between-passes -p 'place-experts{policy=round-robin},place-experts{policy=nearest-ddr},place-experts{policy=hydra}' | filecheck %s

// 8 tokens, two per chiplet; top-1 routing plus shared expert 4, which gets no home (every
// chiplet applies it to its own tokens). DDR channels at chiplets 0, 3.
// Times (cycles): an expert is 96 B, loaded at a 1/4 share of 20 GB/s at 1 GHz (5 B/cycle):
// 19.2; compute 3 cycles per token. Tokens: e0 2 (chiplets 1, 3), e1 2 (chiplet 2), e2 1
// (chiplet 3), e3 3 (chiplets 0, 0, 1).
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[3], [3], [3], [0], [1], [1], [2], [0]]> : tensor<8x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2, 3, 3>
}

// CHECK-LABEL: IR after place-experts:
// CHECK: chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3>
// CHECK-LABEL: IR after place-experts:
// CHECK: chiplet.placement policy "nearest-ddr" homes array<i64: 0, 3, 0, 3>
// Hydra, longest processing time first: every expert's time is max(19.2 DDR, its compute) =
// 19.2, so by id. e0: every chiplet would finish at 19.2; chiplets 1 and 3 hold one of its
// tokens: 1 (lower id). e1: 0, 2 and 3 would finish at 19.2 (1 at 38.4); 2 holds its tokens.
// e2: 0 or 3; 3 holds its token. e3: only 0 still finishes at 19.2.
// (the final output)
// CHECK: chiplet.placement policy "hydra" homes array<i64: 1, 2, 3, 0>
