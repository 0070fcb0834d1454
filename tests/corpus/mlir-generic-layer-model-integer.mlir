// EXPECT: exit 1: error: 3 : i64 should be of base attribute moe.model
// a generic moe.layer, model integer: the verifier's to report, nothing reads it before
"builtin.module"() ({
  "moe.layer"() <{sym_name = "layer0", model = 3 : i64, routing = dense<[[0, 1], [2, 3]]> : tensor<2x2xi32>}> : () -> ()
}) {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} : () -> ()

