// RUN: fsedp-opt %s | fsedp-opt | filecheck %s
// RUN: fsedp-opt %s -p program-form | filecheck %s
// RUN: fsedp-opt %s -p program-form,program-form{ops=false} | filecheck %s
// RUN: fsedp-opt %s --print-op-generic | filecheck %s --check-prefix=DATA
// RUN: fsedp-opt %s -p program-form --print-op-generic | filecheck %s --check-prefix=GENERIC
// RUN: FSEDP_ROUNDTRIP

// A program reads into data (its `code`) whatever its buffers are called, and prints them as
// %a<k> (act) and %w<k> (weight), k counting its allocations; as ops (program-form) or data,
// it prints the same.

builtin.module attributes {chiplet.system = #chiplet.system<"p", rows 1, cols 2, clock_ghz 1.0, ops_per_cycle 64, sram_bytes 65536, ddr [16.0 at 0], d2d_gbps 32.0, hop_latency_cycles 2, element_bytes 1, slice_buffers 2>} {
  cisa.program @chiplet0 chiplet 0 {
    %x = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
    cisa.input %x
    %y = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
    %w = cisa.alloc weight bytes 96
    cisa.load %w channel 0 seq 0 bytes 96 expert 3 slice 0 of 2
    cisa.gemm %w, %x, %y expert 3 slice 0 of 2 tokens array<i32: 1> ops 192
    cisa.send %w to 1 tag 0 bytes 96
    cisa.free %w
    %r = cisa.alloc act bytes 8 tokens array<i32: 0>
    cisa.recv %r from 1 tag 1 bytes 8
    cisa.accumulate %r into %y tokens array<i32: 0> ops 8
    cisa.free %r
    cisa.barrier
    cisa.output %y
    cisa.end
  }
  cisa.program @chiplet1 chiplet 1 {
    cisa.end
  }
}
// CHECK:      cisa.program @chiplet0 chiplet 0 {
// CHECK-NEXT:   %a0 = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
// CHECK-NEXT:   cisa.input %a0
// CHECK-NEXT:   %a1 = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
// CHECK-NEXT:   %w2 = cisa.alloc weight bytes 96
// CHECK-NEXT:   cisa.load %w2 channel 0 seq 0 bytes 96 expert 3 slice 0 of 2
// CHECK-NEXT:   cisa.gemm %w2, %a0, %a1 expert 3 slice 0 of 2 tokens array<i32: 1> ops 192
// CHECK-NEXT:   cisa.send %w2 to 1 tag 0 bytes 96
// CHECK-NEXT:   cisa.free %w2
// CHECK-NEXT:   %a3 = cisa.alloc act bytes 8 tokens array<i32: 0>
// CHECK-NEXT:   cisa.recv %a3 from 1 tag 1 bytes 8
// CHECK-NEXT:   cisa.accumulate %a3 into %a1 tokens array<i32: 0> ops 8
// CHECK-NEXT:   cisa.free %a3
// CHECK-NEXT:   cisa.barrier
// CHECK-NEXT:   cisa.output %a1
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }
// CHECK-NEXT: cisa.program @chiplet1 chiplet 1 {
// CHECK-NEXT:   cisa.end
// CHECK-NEXT: }

// The generic form holds the data as one string, the text of the body.
// DATA:      "cisa.program"() <{sym_name = "chiplet0", chiplet = 0 : i64, code = #cisa.code<"%a0 = cisa.alloc act bytes 16 tokens array<i32: 0, 1>\0Acisa.input %a0\0A{{.*}}\0Acisa.end">}> ({
// DATA-NEXT: }) : () -> ()

// GENERIC:      "cisa.program"() <{sym_name = "chiplet0", chiplet = 0 : i64}> ({
// GENERIC-NEXT:   %0 = "cisa.alloc"() <{kind = #cisa<kind act>, bytes = 16 : i64, tokens = array<i32: 0, 1>}> : () -> !cisa.buf
// GENERIC:        "cisa.load"(%2) <{channel = 0 : i64, seq = 0 : i64, bytes = 96 : i64, expert = 3 : i64, slice = 0 : i64, of = 2 : i64}> : (!cisa.buf) -> ()
// GENERIC-NEXT:   "cisa.gemm"(%2, %0, %1) <{expert = 3 : i64, slice = 0 : i64, of = 2 : i64, ops = 192 : i64, tokens = array<i32: 1>}> : (!cisa.buf, !cisa.buf, !cisa.buf) -> ()
// GENERIC-NEXT:   "cisa.send"(%2) <{to = 1 : i64, tag = 0 : i64, bytes = 96 : i64}> : (!cisa.buf) -> ()
// GENERIC:        "cisa.recv"(%3) <{from = 1 : i64, tag = 1 : i64, bytes = 8 : i64}> : (!cisa.buf) -> ()
// GENERIC-NEXT:   "cisa.accumulate"(%3, %1) <{ops = 8 : i64, tokens = array<i32: 0>}> : (!cisa.buf, !cisa.buf) -> ()
