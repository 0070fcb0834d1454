// EXPECT: exit 1: {file}: error: fsedp.strategy must be a string naming a strategy, got 5 : i64
// a strategy of the wrong type would be dropped and the default run instead
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 1, cols 1, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline", fsedp.strategy = 5} {
  moe.layer @layer0 model #moe.model<"t", hidden 8, ffn 8, experts 1, shared 0, top_k 1, bytes 1> routing dense<[
    [0]
  ]> : tensor<1x1xi32>
}

