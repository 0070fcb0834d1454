// RUN: fsedp-opt %s --split-input-file -p lower-to-cisa | filecheck %s
// RUN: fsedp-opt %s --split-input-file -p 'lower-to-cisa{keep-plan=false}' | filecheck %s --check-prefix=DROP

// FSE-DP. Token 0 on chiplet 0, tokens 1 and 2 on chiplet 1; expert 0 serves tokens 0 and 1,
// expert 1 token 2. Load order (0,0) (1,0) (0,1) (1,1); a ring of 2 buffers, and a DDR load
// keeps 1 of them free (reserve 1), so an entry frees its previous slice before loading.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [1]]> : tensor<3x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1, 1>
  chiplet.expert 0 slices 2 bytes 48 tokens 2 {order = array<i64: 0, 2>, channels = array<i64: 0, 1>, stops = [array<i64: 0, 1>, array<i64: 1, 0>]}
  chiplet.expert 1 slices 2 bytes 48 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>, stops = [array<i64: 1>, array<i64: 1>]}
  chiplet.buffers slots 2 reserve 1 bytes 48
}

// CHECK:      moe.layer @layer0
// CHECK:      chiplet.buffers slots 2 reserve 1 bytes 48
// CHECK-NEXT: cisa.program @chiplet0 chiplet 0 {
// CHECK-NEXT:   %[[X0:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.input %[[X0]]
// CHECK-NEXT:   %[[Y0:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   %[[A:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.load %[[A]] channel 0 seq 0 bytes 48 expert 0 slice 0 of 2
// CHECK-NEXT:   cisa.gemm %[[A]], %[[X0]], %[[Y0]] expert 0 slice 0 of 2 tokens array<i32: 0> ops 96
// CHECK-NEXT:   cisa.send %[[A]] to 1 tag 0 bytes 48
// CHECK-NEXT:   %[[B:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.recv %[[B]] from 1 tag 1 bytes 48
// CHECK-NEXT:   cisa.gemm %[[B]], %[[X0]], %[[Y0]] expert 0 slice 1 of 2 tokens array<i32: 0> ops 96
// CHECK-NEXT:   cisa.free %[[A]]
// CHECK-NEXT:   cisa.free %[[B]]
// CHECK-NEXT:   cisa.output %[[Y0]]
// CHECK-NEXT:   cisa.free %[[X0]]
// CHECK-NEXT:   cisa.free %[[Y0]]
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }
// CHECK-NEXT: cisa.program @chiplet1 chiplet 1 {
// CHECK-NEXT:   %[[X1:.*]] = cisa.alloc act bytes 16 tokens array<i32: 1, 2>
// CHECK-NEXT:   cisa.input %[[X1]]
// CHECK-NEXT:   %[[Y1:.*]] = cisa.alloc act bytes 16 tokens array<i32: 1, 2>
// CHECK-NEXT:   %[[C:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.recv %[[C]] from 0 tag 0 bytes 48
// CHECK-NEXT:   cisa.gemm %[[C]], %[[X1]], %[[Y1]] expert 0 slice 0 of 2 tokens array<i32: 1> ops 96
// CHECK-NEXT:   cisa.free %[[C]]
// CHECK-NEXT:   %[[D:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.load %[[D]] channel 1 seq 0 bytes 48 expert 1 slice 0 of 2
// CHECK-NEXT:   cisa.gemm %[[D]], %[[X1]], %[[Y1]] expert 1 slice 0 of 2 tokens array<i32: 2> ops 96
// CHECK-NEXT:   cisa.free %[[D]]
// CHECK-NEXT:   %[[E:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.load %[[E]] channel 1 seq 1 bytes 48 expert 0 slice 1 of 2
// CHECK-NEXT:   cisa.gemm %[[E]], %[[X1]], %[[Y1]] expert 0 slice 1 of 2 tokens array<i32: 1> ops 96
// CHECK-NEXT:   cisa.send %[[E]] to 0 tag 1 bytes 48
// CHECK-NEXT:   cisa.free %[[E]]
// CHECK-NEXT:   %[[F:.*]] = cisa.alloc weight bytes 48
// CHECK-NEXT:   cisa.load %[[F]] channel 1 seq 2 bytes 48 expert 1 slice 1 of 2
// CHECK-NEXT:   cisa.gemm %[[F]], %[[X1]], %[[Y1]] expert 1 slice 1 of 2 tokens array<i32: 2> ops 96
// CHECK-NEXT:   cisa.free %[[F]]
// CHECK-NEXT:   cisa.output %[[Y1]]
// CHECK-NEXT:   cisa.free %[[X1]]
// CHECK-NEXT:   cisa.free %[[Y1]]
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }

// DROP:       moe.layer @layer0
// DROP-NOT:   chiplet.{{partition|expert|buffers}}
// DROP:       cisa.program @chiplet0

// -----

// Expert parallelism on a 1x2 mesh: expert 1 lives on chiplet 1 (its one stop) and serves token 1
// there and token 0 of chiplet 0, which posts the recv of its returned output (tag 1) first,
// then gathers and sends the token (tag 0); chiplet 1 computes it and returns it.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-1x2", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, top_k 1, bytes 1> routing dense<[[1], [1]]> : tensor<2x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1>
  chiplet.placement policy "round-robin" homes array<i64: 0, 1>
  chiplet.dispatch from 0 to 1 tokens array<i64: 0>
  chiplet.expert 1 slices 1 bytes 96 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 1>]}
  chiplet.buffers slots 2 reserve 0 bytes 96
}

// CHECK:      cisa.program @chiplet0 chiplet 0 {
// CHECK-NEXT:   %[[X0:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.input %[[X0]]
// CHECK-NEXT:   %[[Y0:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   %[[R:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.recv %[[R]] from 1 tag 1 bytes 8
// CHECK-NEXT:   %[[G:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.accumulate %[[X0]] into %[[G]] tokens array<i32: 0> ops 8
// CHECK-NEXT:   cisa.send %[[G]] to 1 tag 0 bytes 8
// CHECK-NEXT:   cisa.accumulate %[[R]] into %[[Y0]] tokens array<i32: 0> ops 8
// CHECK-NEXT:   cisa.output %[[Y0]]
// CHECK-NEXT:   cisa.free %[[R]]
// CHECK-NEXT:   cisa.free %[[G]]
// CHECK-NEXT:   cisa.free %[[X0]]
// CHECK-NEXT:   cisa.free %[[Y0]]
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }
// CHECK-NEXT: cisa.program @chiplet1 chiplet 1 {
// CHECK-NEXT:   %[[X1:.*]] = cisa.alloc act bytes 8 tokens array<i32: 1>
// CHECK-NEXT:   cisa.input %[[X1]]
// CHECK-NEXT:   %[[Y1:.*]] = cisa.alloc act bytes 8 tokens array<i32: 1>
// CHECK-NEXT:   %[[XR:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.recv %[[XR]] from 0 tag 0 bytes 8
// CHECK-NEXT:   %[[YR:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   %[[W:.*]] = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.load %[[W]] channel 0 seq 0 bytes 96 expert 1 slice 0 of 1
// CHECK-NEXT:   cisa.gemm %[[W]], %[[X1]], %[[Y1]] expert 1 slice 0 of 1 tokens array<i32: 1> ops 192
// CHECK-NEXT:   cisa.gemm %[[W]], %[[XR]], %[[YR]] expert 1 slice 0 of 1 tokens array<i32: 0> ops 192
// CHECK-NEXT:   cisa.free %[[W]]
// CHECK-NEXT:   cisa.free %[[XR]]
// CHECK-NEXT:   cisa.send %[[YR]] to 0 tag 1 bytes 8
// CHECK-NEXT:   cisa.output %[[Y1]]
// CHECK-NEXT:   cisa.free %[[YR]]
// CHECK-NEXT:   cisa.free %[[X1]]
// CHECK-NEXT:   cisa.free %[[Y1]]
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }

// -----

// A tree trajectory: the slice enters at chiplet 0, which forwards it to 1 and to 2 (parents
// -1, 0, 0), one tag per edge; chiplet 3 holds no token and gets an empty program.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 1, shared 0, top_k 1, bytes 1> routing dense<[[0], [0], [0]]> : tensor<3x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1, 2>
  chiplet.expert 0 slices 1 bytes 96 tokens 3 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 0, 1, 2>], parents = [array<i64: -1, 0, 0>]}
  chiplet.buffers slots 2 reserve 1 bytes 96
}

// CHECK:      cisa.program @chiplet0 chiplet 0 {
// CHECK:        %[[W:.*]] = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.load %[[W]] channel 0 seq 0 bytes 96 expert 0 slice 0 of 1
// CHECK-NEXT:   cisa.gemm %[[W]], %{{.*}}, %{{.*}} expert 0 slice 0 of 1 tokens array<i32: 0> ops 192
// CHECK-NEXT:   cisa.send %[[W]] to 1 tag 0 bytes 96
// CHECK-NEXT:   cisa.send %[[W]] to 2 tag 1 bytes 96
// CHECK-NEXT:   cisa.free %[[W]]
// CHECK:      cisa.program @chiplet1 chiplet 1 {
// CHECK:        cisa.recv %{{.*}} from 0 tag 0 bytes 96
// CHECK-NEXT:   cisa.gemm {{.*}} tokens array<i32: 1> ops 192
// CHECK:      cisa.program @chiplet2 chiplet 2 {
// CHECK:        cisa.recv %{{.*}} from 0 tag 1 bytes 96
// CHECK-NEXT:   cisa.gemm {{.*}} tokens array<i32: 2> ops 192
// CHECK:      cisa.program @chiplet3 chiplet 3 {
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }

// -----

// Expert parallelism with a shared expert (id 1): the routed expert 0 is computed at its home,
// chiplet 1, for both tokens (token 0 travels there and back); the shared expert streams from
// chiplet 0 to chiplet 1 and each applies it to its own token.
builtin.module attributes {chiplet.system = #chiplet.system<"tiny-1x2", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 4096, ddr [10.0 at 0], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 4>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 1, shared 1, top_k 1, bytes 1> routing dense<[[0], [0]]> : tensor<2x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1>
  chiplet.placement policy "round-robin" homes array<i64: 1>
  chiplet.dispatch from 0 to 1 tokens array<i64: 0>
  chiplet.expert 0 slices 1 bytes 96 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 1>]}
  chiplet.expert 1 slices 1 bytes 96 tokens 2 {order = array<i64: 1>, channels = array<i64: 0>, stops = [array<i64: 0, 1>]}
  chiplet.buffers slots 2 reserve 0 bytes 96
}

// CHECK:      cisa.program @chiplet0 chiplet 0 {
// CHECK:        cisa.recv %{{.*}} from 1 tag 1 bytes 8
// CHECK:        cisa.send %{{.*}} to 1 tag 0 bytes 8
// CHECK:        %[[S:.*]] = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.load %[[S]] channel 0 seq 1 bytes 96 expert 1 slice 0 of 1
// CHECK-NEXT:   cisa.gemm %[[S]], %{{.*}}, %{{.*}} expert 1 slice 0 of 1 tokens array<i32: 0> ops 192
// CHECK-NEXT:   cisa.send %[[S]] to 1 tag 2 bytes 96
// CHECK:      cisa.program @chiplet1 chiplet 1 {
// CHECK:        cisa.recv %[[XR:.*]] from 0 tag 0 bytes 8
// CHECK-NEXT:   %[[YR:.*]] = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   %[[W:.*]] = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.load %[[W]] channel 0 seq 0 bytes 96 expert 0 slice 0 of 1
// CHECK-NEXT:   cisa.gemm %[[W]], %{{.*}}, %{{.*}} expert 0 slice 0 of 1 tokens array<i32: 1> ops 192
// CHECK-NEXT:   cisa.gemm %[[W]], %[[XR]], %[[YR]] expert 0 slice 0 of 1 tokens array<i32: 0> ops 192
// CHECK-NEXT:   %[[S1:.*]] = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.recv %[[S1]] from 0 tag 2 bytes 96
// CHECK-NEXT:   cisa.gemm %[[S1]], %{{.*}}, %{{.*}} expert 1 slice 0 of 1 tokens array<i32: 1> ops 192
// CHECK:        cisa.send %[[YR]] to 0 tag 1 bytes 8
