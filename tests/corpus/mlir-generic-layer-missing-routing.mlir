// EXPECT: exit 1: error: property 'routing' expected in operation 'moe.layer'
// a generic moe.layer, missing routing: the verifier's to report, nothing reads it before
"builtin.module"() ({
  "moe.layer"() <{sym_name = "layer0", model = #moe.model<"tiny", hidden 16, ffn 8, experts 8, shared 0, top_k 2, bytes 1>}> : () -> ()
}) {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2, clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608, ddr [25.6 at 0, 25.6 at 1, 25.6 at 2, 25.6 at 3], d2d_gbps 288.0, hop_latency_cycles 8, element_bytes 1, slice_buffers 12>, fsedp.routing = "inline"} : () -> ()

