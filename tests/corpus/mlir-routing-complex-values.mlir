// EXPECT: exit 1: error: routing must hold integers, got element type complex<i32>
// a routing of complex numbers
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 16, ffn 8, experts 8, shared 0, top_k 2, bytes 1> routing dense<[
    [(0, 0), (1, 0)],
    [(2, 0), (3, 0)]
  ]> : tensor<2x2xcomplex<i32>>
}