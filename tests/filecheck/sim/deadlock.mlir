// Each chiplet forwards what it receives, but each waits to receive first: a deadlock, reported
// with the instruction each chiplet is blocked at, and a non-zero exit.
// RUN: not fsedp-opt %s -t sim-report 2>&1 | filecheck %s

// CHECK:      error: deadlock at cycle 0: nothing left to happen, but some chiplets have not finished
// CHECK-NEXT:   chiplet 0: blocked at instruction 1 (cisa.recv %a0 from 1 tag 0 bytes 100): posted; waits for chiplet 1 to send instruction 2 (cisa.send %a0 to 0 tag 0 bytes 100)
// CHECK-NEXT:   chiplet 1: blocked at instruction 1 (cisa.recv %a0 from 0 tag 1 bytes 100): posted; waits for chiplet 0 to send instruction 2 (cisa.send %a0 to 1 tag 1 bytes 100)

builtin.module attributes {chiplet.system = #chiplet.system<"test-2x2", rows 2, cols 2, clock_ghz 1.0,
    ops_per_cycle 100, sram_bytes 1048576, ddr [32.0 at 0], d2d_gbps 16.0,
    hop_latency_cycles 5, element_bytes 1, slice_buffers 4>} {
  cisa.program @chiplet0 chiplet 0 {
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 1 tag 0 bytes 100
    cisa.send %b to 1 tag 1 bytes 100
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 1 bytes 100
    cisa.send %b to 0 tag 0 bytes 100
    cisa.end
  }
}
