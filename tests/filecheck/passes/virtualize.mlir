// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p virtualize | filecheck %s
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'virtualize{slice-buffers=3 reserve=2}' | filecheck %s --check-prefix=THREE
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'virtualize{slice-buffers=1 reserve=0}' | filecheck %s --check-prefix=ONE
// RUN: fsedp-opt %s --split-input-file --verify-diagnostics -p 'virtualize{slice-buffers=5}' | filecheck %s --check-prefix=FIVE

// 6 tokens of 8 B (input + output rows): chiplets 0 and 1 hold 32 B of activations, 2 and 3
// hold 16 B. Slices of 48 B stream over chiplets 0, 1 and 3.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
  chiplet.expert 1 slices 2 bytes 48 tokens 2 {order = array<i64: 2, 3>, channels = array<i64: 0, 1>, stops = [array<i64: 1, 2>, array<i64: 2, 1>]}
}

// The schedule would need 4 + 2·2 + 4·0.625 (see the next case) = 11 buffers, more than the
// system's 4, which fit easily. One buffer is allowed with reserve=0.
// CHECK: chiplet.buffers slots 4 reserve 1 bytes 48
// THREE: chiplet.buffers slots 3 reserve 2 bytes 48
// ONE: chiplet.buffers slots 1 reserve 0 bytes 48
// FIVE: error: virtualize: slice-buffers=5 is more than the 4 slice buffers per chiplet of the system (its slice_buffers)

// -----

// The same plan on a system with 16 slice buffers: the default takes what the schedule needs.
// The deepest trajectory has 2 forwarding steps. Compute per token and expert: 2·3·8·4 / 64 =
// 3 cycles; chiplets 0 and 1 compute 2 tokens each (6 cycles), DDR loads 2 x 96 B at 20 B per
// cycle (9.6 cycles): ρ = 0.625. 4 + ⌈2·2 + 4·0.625⌉ = 11.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 16>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
  chiplet.expert 1 slices 2 bytes 48 tokens 2 {order = array<i64: 2, 3>, channels = array<i64: 0, 1>, stops = [array<i64: 1, 2>, array<i64: 2, 1>]}
}

// CHECK: chiplet.buffers slots 11 reserve 1 bytes 48
// FIVE: chiplet.buffers slots 5 reserve 1 bytes 48

// -----

// 160 B of SRAM: chiplet 0 keeps 128 B next to its activations, room for 2 slices of 48 B, so
// the default takes 2 of the system's 4 buffers, and 3 with reserve=2 is rejected.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 160, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
}

// CHECK: chiplet.buffers slots 2 reserve 1 bytes 48
// THREE: error: virtualize: chiplet 0 fits 2 slice buffer(s) of 48 B in 160 B SRAM next to 32 B of activations; with reserve=2 (R4) it needs 3, so at least 176 B of SRAM

// -----

// 120 B: only one slice buffer fits next to the activations of chiplet 0.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 120, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
}

// CHECK: error: virtualize: chiplet 0 fits 1 slice buffer(s) of 48 B in 120 B SRAM next to 32 B of activations; with reserve=1 (R4) it needs 2, so at least 128 B of SRAM with slices of 48 B; use more slices or fewer tokens per chiplet
// THREE: error: virtualize: chiplet 0 fits 1 slice buffer(s) of 48 B in 120 B SRAM next to 32 B of activations; with reserve=2 (R4) it needs 3, so at least 176 B of SRAM with slices of 48 B
// ONE: chiplet.buffers slots 1 reserve 0 bytes 48

// -----

// 64 B: a 48-byte slice does not fit next to 32 B of activations.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 64, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
}

// CHECK: error: virtualize: chiplet 0 fits 0 slice buffer(s) of 48 B in 64 B SRAM next to 32 B of activations; with reserve=1 (R4) it needs 2, so at least 128 B of SRAM with slices of 48 B

// -----

// 24 B: not even the 32 B of activations of chiplet 0 fit.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 24, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
}

// CHECK: error: virtualize: chiplet 0 needs 32 B for 4 token vectors of 8 B, more than its 24 B SRAM; it needs at least 128 B of SRAM with slices of 48 B

// -----

// A slice assigned to channel 5 of a 2-channel system.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.expert 0 slices 2 bytes 48 tokens 4 {order = array<i64: 0, 1>, channels = array<i64: 0, 5>, stops = [array<i64: 0, 1, 3>, array<i64: 3, 1, 0>]}
}

// CHECK: a slice's DDR channel 5 does not exist; the system has 2 (0..1)

// -----

// Expert parallelism: the home (chiplet 0) loads and computes all 4 tokens (12 cycles against
// 4.8 of DDR: ρ = 2.5); single-stop trajectories need 4 + ⌈4·0.4⌉ = 6, the system has 4. A single
// buffer means no prefetching.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [1], [0]]> : tensor<6x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3>
  chiplet.expert 0 slices 1 bytes 96 tokens 4 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 0>]}
}

// CHECK: chiplet.buffers slots 4 reserve 1 bytes 96
// THREE: chiplet.buffers slots 3 reserve 2 bytes 96
// ONE:   chiplet.buffers slots 1 reserve 0 bytes 96
