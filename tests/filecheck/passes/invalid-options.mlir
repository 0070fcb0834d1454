// Bad options and infeasible configurations end in one diagnostic and a non-zero exit code,
// never a traceback. (tests/test_compiler_cli.py checks every pass's options and exit codes.)
// RUN: not fsedp-opt %s -p 'order-loads{order=random}' 2>&1 | filecheck %s --check-prefix=CHOICE
// RUN: not fsedp-opt %s -p 'fsedp{slicez=4}' 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not fsedp-opt %s -p 'hydra{policy=round-robin}' 2>&1 | filecheck %s --check-prefix=AMBIGUOUS
// RUN: not fsedp-opt %s -p 'fsedp{slices=2 slice-buffers=9}' 2>&1 | filecheck %s --check-prefix=INFEASIBLE

// CHOICE:     error: order-loads: unknown order 'random'; accepted: paired, id, hot-first, pairs
// UNKNOWN:    error: fsedp: unknown option 'slicez'; options: policy, slices, min-slices, buffers, order, mode, shape, skip-idle, entry, slice-buffers, reserve, keep-plan, deadlock, verify (or <pass>-<option>, e.g. shard-experts-slices)
// AMBIGUOUS:  error: hydra: option 'policy' is ambiguous; write partition-tokens-policy or place-experts-policy
// INFEASIBLE: error: virtualize: slice-buffers=9 does not fit: chiplet 0 fits 8 slice buffer(s) of 48 B in 416 B SRAM next to 32 B of activations

builtin.module attributes {chiplet.system = #chiplet.system<"tiny-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 416, ddr [10.0 at 0, 10.0 at 3], d2d_gbps 10.0, hop_latency_cycles 1, element_bytes 1, slice_buffers 12>} {
  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 4, shared 1, top_k 1, bytes 1> routing dense<[[0], [0], [1], [0], [2], [0]]> : tensor<6x1xi32>
}
