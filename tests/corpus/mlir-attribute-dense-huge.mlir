// EXPECT: exit 1: {file}:3:310: error: a dense tensor of shape 1000000x1000000 (1000000000000 elements) is larger than a routing may be: at most 65536 tokens and 1048576 expert ids per layer (README: Limits)
// a dense splat of 10^12 elements as a module attribute: refused from its type
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline", x = dense<0> : tensor<1000000x1000000xi8>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 16, ffn 8, experts 8, shared 0, top_k 2, bytes 1> routing dense<[
    [0, 1],
    [2, 3]
  ]> : tensor<2x2xi32>
}