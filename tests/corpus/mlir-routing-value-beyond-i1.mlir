// EXPECT: exit 1: {file}:4:116: error: dense literal: Integer value 2 is out of range for type i1 which supports values in the range [-1, 2)
// an expert id beyond the i1 element type
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 16, ffn 8, experts 8, shared 0, top_k 2, bytes 1> routing dense<[
    [0, 1],
    [2, 3]
  ]> : tensor<2x2xi1>
}