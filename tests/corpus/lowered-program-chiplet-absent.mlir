// EXPECT: exit 1: {file}:11:36: error: program chiplet 3 is not a chiplet of the machine (chiplets 0..0, 1x1)
// a program for chiplet 3 of a 1x1 mesh
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 1, cols 1, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline", fsedp.strategy = "ep", fsedp.strategy_options = {"partition-tokens-policy" = "block", "place-experts-policy" = "round-robin", schedule = "ring", "round-bytes" = 0 : i64, slices = 1 : i64, "min-slices" = 1 : i64, buffers = 0 : i64, order = "paired", mode = "even", shape = "tree", "skip-idle" = true, entry = "nearest-need", "slice-buffers" = 5 : i64, reserve = 0 : i64, "keep-plan" = true, deadlock = true, verify = true}} {
  moe.layer @layer0 model #moe.model<"t", hidden 8, ffn 8, experts 1, shared 0, top_k 1, bytes 1> routing dense<[
    [0]
  ]> : tensor<1x1xi32>
  chiplet.partition policy "block" owners array<i64: 0>
  chiplet.placement policy "round-robin" homes array<i64: 0>
  chiplet.expert 0 slices 1 bytes 192 tokens 1 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 0>], parents = [array<i64: -1>]}
  chiplet.buffers slots 5 reserve 0 bytes 192
  cisa.program @chiplet0 chiplet 3 {
    %a0 = cisa.alloc act bytes 8 tokens array<i32: 0>
    cisa.input %a0
    %a1 = cisa.alloc act bytes 8 tokens array<i32: 0>
    %w2 = cisa.alloc weight bytes 192
    cisa.load %w2 channel 0 seq 0 bytes 192 expert 0 slice 0 of 1
    cisa.gemm %w2, %a0, %a1 expert 0 slice 0 of 1 tokens array<i32: 0> ops 384
    cisa.free %w2
    cisa.output %a1
    cisa.free %a0
    cisa.free %a1
    cisa.end
  }
}

