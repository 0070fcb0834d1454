// EXPECT: exit 1: {file}:18:5: error: chiplet 0, instruction 6 (cisa.send %w2 to 7 tag 0 bytes 192): peer chiplet 7 is not a chiplet of the machine (2 chiplets)
// a send to chiplet 7 of a 1x2 mesh
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 1, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline", fsedp.strategy = "fsedp", fsedp.strategy_options = {policy = "block", slices = 1 : i64, "min-slices" = 1 : i64, buffers = 0 : i64, order = "id", mode = "per-expert", shape = "tree", "skip-idle" = true, entry = "nearest-need", "slice-buffers" = 7 : i64, reserve = 1 : i64, "keep-plan" = true, deadlock = true, verify = true}} {
  moe.layer @layer0 model #moe.model<"t", hidden 8, ffn 8, experts 1, shared 0, top_k 1, bytes 1> routing dense<[
    [0],
    [0]
  ]> : tensor<2x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1>
  chiplet.expert 0 slices 1 bytes 192 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 0, 1>], parents = [array<i64: -1, 0>]}
  chiplet.buffers slots 7 reserve 1 bytes 192
  cisa.program @chiplet0 chiplet 0 {
    %a0 = cisa.alloc act bytes 8 tokens array<i32: 0>
    cisa.input %a0
    %a1 = cisa.alloc act bytes 8 tokens array<i32: 0>
    %w2 = cisa.alloc weight bytes 192
    cisa.load %w2 channel 0 seq 0 bytes 192 expert 0 slice 0 of 1
    cisa.gemm %w2, %a0, %a1 expert 0 slice 0 of 1 tokens array<i32: 0> ops 384
    cisa.send %w2 to 7 tag 0 bytes 192
    cisa.free %w2
    cisa.output %a1
    cisa.free %a0
    cisa.free %a1
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    %a0 = cisa.alloc act bytes 8 tokens array<i32: 1>
    cisa.input %a0
    %a1 = cisa.alloc act bytes 8 tokens array<i32: 1>
    %w2 = cisa.alloc weight bytes 192
    cisa.recv %w2 from 0 tag 0 bytes 192
    cisa.gemm %w2, %a0, %a1 expert 0 slice 0 of 1 tokens array<i32: 1> ops 384
    cisa.free %w2
    cisa.output %a1
    cisa.free %a0
    cisa.free %a1
    cisa.end
  }
}

