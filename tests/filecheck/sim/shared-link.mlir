// Chiplet 0 sends 800 B to chiplet 1 and 1600 B to chiplet 3 (XY: 0->1->3). Both share link
// 0->1 at 8 B/cycle; the first leaves at cycle 100 (+5 hop), the second then runs alone at
// 16 B/cycle and leaves at 150 (+10 for two hops).
// RUN: fsedp-opt %s -t sim-report | filecheck %s
// RUN: not fsedp-opt %s -t 'sim-report{format=xml}' 2>&1 | filecheck %s --check-prefix=ERR

// CHECK:      latency: 160.0 cycles
// CHECK:      chiplet  finish_cycles
// CHECK-NEXT:       0          150.0
// CHECK-NEXT:       1          105.0
// CHECK-NEXT:       3          160.0
// CHECK:      D2D: 4000 B (3.9 KiB) over links (bytes x hops), 2 of 8 directed links used
// CHECK-NEXT:   link 0->1: 2 flows, 2400 B (2.3 KiB), utilization
// CHECK-NEXT:   link 1->3: 1 flows, 1600 B (1.6 KiB), utilization

// ERR: error: sim-report format 'xml' is unknown; use one of: text, json, csv

builtin.module attributes {chiplet.system = #chiplet.system<"test-2x2", rows 2, cols 2, clock_ghz 1.0,
    ops_per_cycle 100, sram_bytes 1048576, ddr [32.0 at 0, 32.0 at 3], d2d_gbps 16.0,
    hop_latency_cycles 5, element_bytes 1, slice_buffers 4>} {
  cisa.program @chiplet0 chiplet 0 {
    %a = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %a
    cisa.send %a to 1 tag 0 bytes 800
    cisa.send %a to 3 tag 1 bytes 1600
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 0 bytes 800
    cisa.end
  }
  cisa.program @chiplet3 chiplet 3 {
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 1 bytes 1600
    cisa.end
  }
}
