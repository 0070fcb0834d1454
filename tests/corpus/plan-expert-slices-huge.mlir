// EXPECT opt: exit 1: error: order-loads: chiplet.expert 0 has 2147483648 slices; the FFN dimension is 16
// ARGS opt: -p order-loads
// 2^31 slices on a 16-row expert: order-loads looped over them for minutes
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 1, cols 3, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 2], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} {
  moe.layer @layer0 model #moe.model<"t", hidden 16, ffn 16, experts 4, shared 1, top_k 2, bytes 1> routing dense<[
    [0, 1],
    [1, 2],
    [2, 3],
    [0, 3],
    [1, 3],
    [0, 2]
  ]> : tensor<6x2xi32>
  chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2>
  chiplet.expert 0 slices 2147483648 bytes 384 tokens 3
  chiplet.expert 1 slices 2 bytes 384 tokens 3
  chiplet.expert 2 slices 2 bytes 384 tokens 3
  chiplet.expert 3 slices 2 bytes 384 tokens 3
  chiplet.expert 4 slices 2 bytes 384 tokens 6
}

