// EXPECT opt: exit 1: error: stop chiplet 7 is not a chiplet of the machine (chiplets 0..1, 1x2)
// ARGS opt: -p lower-to-cisa
// a trajectory stop beyond the 1x2 mesh, then lower-to-cisa
builtin.module attributes {chiplet.system = #chiplet.system<"two", rows 1, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline", fsedp.strategy = "fsedp", fsedp.strategy_options = {policy = "block", slices = 1 : i64, "min-slices" = 1 : i64, buffers = 12 : i64, order = "id", mode = "per-expert", shape = "tree", "skip-idle" = true, entry = "nearest-need", "slice-buffers" = 7 : i64, reserve = 1 : i64, "keep-plan" = true, deadlock = true, verify = true}} {
  moe.layer @layer0 model #moe.model<"t", hidden 8, ffn 8, experts 2, shared 0, top_k 1, bytes 1> routing dense<[
    [0],
    [0]
  ]> : tensor<2x1xi32>
  chiplet.partition policy "block" owners array<i64: 0, 1>
  chiplet.expert 0 slices 1 bytes 192 tokens 2 {order = array<i64: 0>, channels = array<i64: 0>, stops = [array<i64: 0, 7>], parents = [array<i64: -1, 0>]}
  chiplet.buffers slots 7 reserve 1 bytes 192
}

