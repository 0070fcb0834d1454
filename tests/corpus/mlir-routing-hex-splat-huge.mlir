// EXPECT: exit 1: {file}:4:133: error: a dense tensor of shape 1048576x2 (2097152 elements) is larger than a routing may be: at most 65536 tokens and 1048576 expert ids per layer (README: Limits)
// a hex splat routing of 2^20 x 2 ids: refused from its type, before the bytes are repeated
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 16, ffn 8, experts 8, shared 0, top_k 2, bytes 1> routing dense<"0x01000000"> : tensor<1048576x2xi32>
}