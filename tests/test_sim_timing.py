"""Hand-computed timing, SRAM and error cases of the simulator, on small hand-written cisa IR.

The test machine (fsedp_compiler/testing.py) runs at 1 GHz, so GB/s are bytes per cycle:
DDR channels of 32 B/cycle at chiplets 0 and 3, links of 16 B/cycle, 100 ops/cycle, 5 cycles
per hop. Chiplets of the 2x2 mesh: 0 (0,0), 1 (0,1), 2 (1,0), 3 (1,1).
"""

from __future__ import annotations

import pytest

from backends.sim import SimError, simulate
from dialects.machine import Link
from fsedp_compiler.testing import TEST_SYSTEM, module_text, parse, system_text


def sim(programs: dict[int, str], **kwargs):
    """Simulate the programs, unverified: the simulator checks them itself."""
    sram = kwargs.pop("sram", 1 << 20)
    return simulate(parse(module_text(programs, sram=sram), verify=False), **kwargs)


def chiplet(report, c):
    return next(row for row in report["chiplets"] if row["chiplet"] == c)


def link(report, src, dst):
    return next(row for row in report["d2d"]["links"] if (row["from"], row["to"]) == (src, dst))


ACT = """
    %x = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %x
    %y = cisa.alloc act bytes 100 tokens array<i32: 0>
"""


def test_one_load_then_compute():
    # 6400 B at 32 B/cycle = 200 cycles, then 10000 ops at 100 ops/cycle = 100 cycles.
    report = sim(
        {
            0: ACT
            + """
    %w = cisa.alloc weight bytes 6400
    cisa.load %w channel 0 seq 0 bytes 6400 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.free %w
    cisa.output %y"""
        }
    ).report
    assert report["latency_cycles"] == 300.0
    assert report["latency_us"] == 0.3
    assert chiplet(report, 0)["compute_busy_cycles"] == 100.0
    assert chiplet(report, 0)["compute_utilization"] == pytest.approx(1 / 3, abs=1e-4)
    assert report["ddr"]["channels"][0]["bytes"] == 6400
    assert report["ddr"]["channels"][0]["busy_cycles"] == 200.0
    assert report["lower_bound"]["cycles"] == 200.0  # the busiest channel: 6400 B / 32
    assert report["lower_bound"]["bound_by"] == "ddr_busiest_channel"
    assert report["latency_over_lower_bound"] == 1.5


def _sends(first: int, second: int) -> dict[int, str]:
    # Chiplet 0 sends to 1 (link 0->1) and to 3 (XY: links 0->1 then 1->3) at the same time.
    return {
        0: f"""
    %a = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %a
    cisa.send %a to 1 tag 0 bytes {first}
    cisa.send %a to 3 tag 1 bytes {second}""",
        1: f"""
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 0 bytes {first}""",
        3: f"""
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 1 bytes {second}""",
    }


def test_two_transfers_share_a_link_equally():
    # Both flows get 16/2 = 8 B/cycle on link 0->1: 1600 B each leave by cycle 200. The one-hop
    # transfer arrives 5 cycles later, the two-hop one 10 cycles later.
    report = sim(_sends(1600, 1600)).report
    assert chiplet(report, 1)["finish_cycles"] == 205.0
    assert chiplet(report, 3)["finish_cycles"] == 210.0
    assert report["latency_cycles"] == 210.0
    assert link(report, 0, 1)["bytes"] == 3200
    assert link(report, 0, 1)["flows"] == 2
    assert link(report, 1, 3)["bytes"] == 1600
    assert link(report, 0, 1)["busy_cycles"] == 200.0
    assert report["d2d"]["link_bytes"] == 4800


def test_shared_link_rate_recomputed_when_a_flow_ends():
    # 800 B and 1600 B share link 0->1 at 8 B/cycle each: the first leaves at cycle 100; the
    # second has 800 B left and then runs alone at 16 B/cycle: 50 more cycles, +10 hop latency.
    report = sim(_sends(800, 1600)).report
    assert chiplet(report, 1)["finish_cycles"] == 105.0
    assert chiplet(report, 3)["finish_cycles"] == 160.0
    assert link(report, 0, 1)["busy_cycles"] == 150.0
    # Cut-through: the two-hop flow holds link 1->3 from its start until its last byte leaves.
    assert link(report, 1, 3)["busy_cycles"] == 150.0


def _stream(loads: int, load_bytes: int, ops: int) -> dict[int, str]:
    # All weight buffers allocated up front, so issue never blocks: loads stream back to back
    # on channel 0 and each gemm starts when its slice has arrived and the engine is free.
    lines = [ACT]
    for k in range(loads):
        lines.append(f"    %w{k} = cisa.alloc weight bytes {load_bytes}")
    for k in range(loads):
        lines.append(
            f"    cisa.load %w{k} channel 0 seq {k} bytes {load_bytes} expert 0 slice {k} "
            f"of {loads}"
        )
        lines.append(
            f"    cisa.gemm %w{k}, %x, %y expert 0 slice {k} of {loads} tokens array<i32: 0> "
            f"ops {ops}"
        )
    lines.append("    cisa.output %y")
    return {0: "\n".join(lines)}


def test_ddr_bound_layer():
    # 4 loads of 100 cycles back to back; each 50-cycle gemm hides under the next load.
    report = sim(_stream(4, 3200, 5000)).report
    assert report["latency_cycles"] == 450.0
    assert report["lower_bound"]["components"]["ddr_total"] == 200.0  # 12800 B / 64 B/cycle
    assert report["lower_bound"]["bound_by"] == "ddr_busiest_channel"
    assert report["lower_bound"]["cycles"] == 400.0
    assert report["latency_over_lower_bound"] == 1.125
    assert report["ddr"]["channels"][0]["utilization"] == pytest.approx(400 / 450, abs=1e-4)


def test_compute_bound_layer():
    # Gemms of 200 cycles: the engine runs from cycle 100 (first slice in) without a gap.
    report = sim(_stream(4, 3200, 20000)).report
    assert report["latency_cycles"] == 900.0
    assert report["lower_bound"]["bound_by"] == "compute_busiest_chiplet"
    assert report["lower_bound"]["cycles"] == 800.0
    assert chiplet(report, 0)["compute_utilization"] == pytest.approx(800 / 900, abs=1e-4)


def _buffered_stream(slots: int) -> dict[int, str]:
    # 4 slices through `slots` rotating buffers: before reusing a slot, `free` waits for the
    # slot's gemm, which holds back the issue of the next alloc and load.
    lines = [ACT]
    for k in range(4):
        if k >= slots:
            lines.append(f"    cisa.free %w{k - slots}")
        lines.append(f"    %w{k} = cisa.alloc weight bytes 3200")
        lines.append(f"    cisa.load %w{k} channel 0 seq {k} bytes 3200 expert 0 slice {k} of 4")
        lines.append(
            f"    cisa.gemm %w{k}, %x, %y expert 0 slice {k} of 4 tokens array<i32: 0> ops 5000"
        )
    lines.append("    cisa.output %y")
    return {0: "\n".join(lines)}


def test_double_buffering_overlaps_load_and_compute():
    # Two slots: load k+1 overlaps gemm k, so the latency is as with unlimited buffers.
    report = sim(_buffered_stream(2)).report
    assert report["latency_cycles"] == 450.0
    assert chiplet(report, 0)["sram_peak_weight_bytes"] == 6400


def test_single_buffer_serializes_load_and_compute():
    # One slot: each load waits for the previous gemm: 4 x (100 + 50) cycles.
    report = sim(_buffered_stream(1)).report
    assert report["latency_cycles"] == 600.0
    assert chiplet(report, 0)["sram_peak_weight_bytes"] == 3200


def test_multi_hop_load_and_transfer_latency():
    # A load from channel 0 (at chiplet 0) into chiplet 3 crosses links 0->1 and 1->3: rate
    # min(32, 16, 16) = 16 B/cycle, 3200 B = 200 cycles, +2 hops x 5 cycles.
    report = sim(
        {
            3: """
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1"""
        }
    ).report
    assert report["latency_cycles"] == 210.0
    assert report["ddr"]["channels"][0]["busy_cycles"] == 200.0
    assert link(report, 0, 1)["bytes"] == 3200
    assert link(report, 1, 3)["bytes"] == 3200
    assert chiplet(report, 3)["slice_visits"] == 1
    assert chiplet(report, 3)["zero_token_visits"] == 1


def test_send_waits_for_the_posted_recv():
    # The recv is posted only after chiplet 1's 100-cycle load: the credit holds the send back.
    report = sim(
        {
            0: """
    %a = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %a
    cisa.send %a to 1 tag 0 bytes 160""",
            1: """
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1
    cisa.free %w
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from 0 tag 0 bytes 160""",
        }
    ).report
    # Load 0->1: 16 B/cycle over link 0->1, 200 cycles + 5; then 160 B at 16 B/cycle + 5.
    assert report["latency_cycles"] == 205.0 + 10.0 + 5.0


def test_sram_peak_and_time_weighted_average():
    # Weights: 3200 B over [0, 150), then 1600 B over [150, 250) -> average 2560 B.
    report = sim(
        {
            0: """
    %x = cisa.alloc act bytes 1000 tokens array<i32: 0>
    cisa.input %x
    %w1 = cisa.alloc weight bytes 3200
    cisa.load %w1 channel 0 seq 0 bytes 3200 expert 0 slice 0 of 2
    cisa.gemm %w1, %x, %x expert 0 slice 0 of 2 tokens array<i32: 0> ops 5000
    cisa.free %w1
    %w2 = cisa.alloc weight bytes 1600
    cisa.load %w2 channel 0 seq 1 bytes 1600 expert 0 slice 1 of 2
    cisa.gemm %w2, %x, %x expert 0 slice 1 of 2 tokens array<i32: 0> ops 5000
    cisa.free %w2"""
        }
    ).report
    row = chiplet(report, 0)
    assert report["latency_cycles"] == 250.0
    assert row["sram_peak_bytes"] == 4200
    assert row["sram_peak_weight_bytes"] == 3200
    assert row["sram_peak_act_bytes"] == 1000
    assert row["sram_avg_weight_bytes"] == 2560.0
    assert row["sram_avg_act_bytes"] == 1000.0
    assert report["peak_sram_bytes"] == 4200


def test_sram_overflow_names_chiplet_time_and_bytes():
    programs = _buffered_stream(1)
    with pytest.raises(SimError) as error:
        sim({2: programs[0].replace("channel 0", "channel 1")}, sram=3250)
    message = str(error.value)
    assert "chiplet 2: SRAM overflow at cycle 0" in message
    assert "3400 bytes, above sram_bytes 3250" in message
    assert "cisa.alloc weight bytes 3200" in message


def test_deadlock_reports_each_blocked_instruction():
    # Each chiplet forwards what it receives, but each waits to receive first.
    programs = {
        c: f"""
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from {1 - c} tag {c} bytes 100
    cisa.send %b to {1 - c} tag {1 - c} bytes 100"""
        for c in (0, 1)
    }
    with pytest.raises(SimError) as error:
        sim(programs)
    message = str(error.value)
    assert message.startswith("error: deadlock at cycle 0")
    assert "chiplet 0: blocked at instruction 1 (cisa.recv %a0 from 1 tag 0 bytes 100)" in message
    assert "chiplet 1: blocked at instruction 1 (cisa.recv %a0 from 0 tag 1 bytes 100)" in message
    assert "waits for chiplet 1 to send" in message


def test_deadlock_on_a_ddr_channel_names_the_load_it_serves_next():
    # Chiplet 0's load is seq 1 on channel 0; seq 0 is chiplet 1's, which is never issued:
    # chiplet 1 frees the buffer of a recv that waits for chiplet 0's send of the loaded slice.
    load = "cisa.load {w} channel 0 seq {seq} bytes 100 expert 0 slice 0 of 1"
    programs = {
        0: f"""
    %w = cisa.alloc weight bytes 100
    {load.format(w="%w", seq=1)}
    cisa.send %w to 1 tag 0 bytes 100""",
        1: f"""
    %a = cisa.alloc weight bytes 100
    cisa.recv %a from 0 tag 0 bytes 100
    cisa.free %a
    %w = cisa.alloc weight bytes 100
    {load.format(w="%w", seq=0)}""",
    }
    with pytest.raises(SimError) as error:
        sim(programs)
    message = str(error.value)
    assert (
        f"chiplet 0: blocked at instruction 1 ({load.format(w='%w0', seq=1)}): waits for DDR "
        f"channel 0, whose next load in seq order is instruction 4 "
        f"({load.format(w='%w1', seq=0)}) on chiplet 1"
    ) in message
    assert (
        "chiplet 1: blocked at instruction 1 (cisa.recv %w0 from 0 tag 0 bytes 100): posted"
        in message
    )


def test_barrier_waits_for_every_chiplet():
    # Chiplet 1 reaches its barrier only after a 100-cycle free; chiplet 0's load waits for it.
    report = sim(
        {
            0: """
    cisa.barrier
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1""",
            1: """
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 1 seq 0 bytes 3200 expert 0 slice 0 of 1
    cisa.free %w
    cisa.barrier""",
        }
    ).report
    # Channel 1 sits at chiplet 3: 3->1 is one hop, 16 B/cycle: 200 + 5; then chiplet 0's
    # local load: 100 cycles.
    assert report["latency_cycles"] == 305.0


@pytest.mark.parametrize(
    ("programs", "message"),
    [
        (
            {0: "    %a = cisa.alloc act bytes 1 tokens array<i32: 0>\n"
                "    cisa.input %a\n    cisa.send %a to 1 tag 7 bytes 1"},
            "no matching cisa.recv from 0 tag 7 on chiplet 1",
        ),
        (
            {
                0: "    %a = cisa.alloc act bytes 1 tokens array<i32: 0>\n"
                "    cisa.input %a\n    cisa.send %a to 1 tag 7 bytes 1",
                1: "    %a = cisa.alloc act bytes 1 tokens array<i32: 0>\n"
                "    cisa.recv %a from 0 tag 7 bytes 2",
            },
            "sends 1 B but the matching recv on chiplet 1",
        ),
        (
            {0: "    %w = cisa.alloc weight bytes 1\n"
                "    cisa.load %w channel 0 seq 1 bytes 1 expert 0 slice 0 of 1"},
            "seq 0 is missing",
        ),
        (
            {0: "    %w = cisa.alloc weight bytes 1\n    cisa.free %w\n    cisa.free %w"},
            "uses a buffer freed at instruction 1",
        ),
        (
            {0: "    %w = cisa.alloc weight bytes 1\n    cisa.send %w to 1 tag 0 bytes 1",
             1: "    %w = cisa.alloc weight bytes 1\n    cisa.recv %w from 0 tag 0 bytes 1"},
            "reads a weight buffer before any load or recv fills it",
        ),
        (
            {0: "    cisa.barrier", 1: ""},
            "different numbers of barriers (chiplet 0: 1, chiplet 1: 0)",
        ),
    ],
)  # fmt: skip
def test_static_errors(programs, message):
    with pytest.raises(SimError, match=".*" + message.replace("(", r"\(").replace(")", r"\)")):
        sim(programs)


def test_an_instruction_after_end_is_an_error():
    module = parse(
        module_text({0: "    cisa.end\n    %a = cisa.alloc act bytes 1 tokens array<i32: 0>"}),
        verify=False,
    )
    with pytest.raises(
        SimError, match=r"instruction 1 \(%a0 = cisa.alloc.*\): comes after the program's cisa.end"
    ):
        simulate(module)


def test_reports_are_deterministic():
    first = sim(_sends(800, 1600)).json()
    second = sim(_sends(800, 1600)).json()
    assert first == second


def test_trace_has_a_track_per_engine_channel_and_link():
    programs = _sends(800, 1600)
    programs[0] += _stream(2, 3200, 5000)[0]
    trace = sim(programs, trace=True).chrome_trace()
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {"chiplet 0 engine", "ddr0 (at chiplet 0)", "link 0->1", "link 0->1 #2"} <= names
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert any(e["name"].startswith("gemm e0 s1/2") for e in spans)
    assert all(e["dur"] >= 0 for e in spans)


def test_engine_runs_one_op_at_a_time_when_a_finish_readies_the_next():
    # B waits for A through y, C (into z) is ready as soon as the load is. When A finishes it
    # makes B ready and B starts; C must wait for B, never run beside it: 6400 B load = 200
    # cycles, then A, B, C of 100 cycles each, one after the other.
    report = sim(
        {
            0: ACT
            + """
    %z = cisa.alloc act bytes 100 tokens array<i32: 0>
    %w = cisa.alloc weight bytes 6400
    cisa.load %w channel 0 seq 0 bytes 6400 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.gemm %w, %x, %z expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.free %w
    cisa.output %y"""
        },
        trace=True,
    )
    assert report.report["latency_cycles"] == 500.0
    assert chiplet(report.report, 0)["compute_busy_cycles"] == 300.0


# -- other topologies ----------------------------------------------------------------------------
# The same test machine (1 GHz, links of 16 B/cycle, DDR of 32 B/cycle, 5 cycles per hop) with its
# chiplets joined as a torus, a ring or listed links; routes are the interconnect's
# (dialects/interconnect.py): shortest, then the neighbour whose id is closest, then the lower.


def sim_on(system: str, programs: dict[int, str]):
    return simulate(parse(module_text(programs, system=system))).report


def test_system_text_is_the_test_machine():
    assert system_text() == TEST_SYSTEM.format(sram=1 << 20)


def _send(src: int, dst: int, size: int, tag: int = 0) -> dict[int, str]:
    return {
        src: f"""
    %a = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %a
    cisa.send %a to {dst} tag {tag} bytes {size}""",
        dst: f"""
    %b = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.recv %b from {src} tag {tag} bytes {size}""",
    }


def test_torus_transfer_takes_the_wrap_around_link():
    # 3x3 torus: chiplet 0 (row 0, col 0) to 2 (row 0, col 2) is one hop over the row's
    # wrap-around link 0-2: 1600 B at 16 B/cycle = 100 cycles, +5. On the mesh: 0->1->2, +10.
    torus = sim_on(system_text(rows=3, cols=3, topology="torus"), _send(0, 2, 1600))
    assert torus["latency_cycles"] == 105.0
    assert link(torus, 0, 2)["bytes"] == 1600
    assert torus["d2d"]["link_bytes"] == 1600
    mesh = sim_on(system_text(rows=3, cols=3), _send(0, 2, 1600))
    assert mesh["latency_cycles"] == 110.0
    assert link(mesh, 0, 1)["bytes"] == link(mesh, 1, 2)["bytes"] == 1600


def test_load_routed_from_a_channel_across_the_wrap():
    # 3x3 torus, channel 0 at chiplet 0; chiplet 6 (row 2, col 0) loads: one hop over the
    # column's wrap-around link 0-6. min(32, 16) = 16 B/cycle: 3200 B = 200 cycles, +5.
    program = {
        6: """
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1"""
    }
    report = sim_on(system_text(rows=3, cols=3, topology="torus"), program)
    assert report["latency_cycles"] == 205.0
    assert link(report, 0, 6)["bytes"] == 3200
    assert report["d2d"]["link_bytes"] == 3200
    assert report["ddr"]["channels"][0]["busy_cycles"] == 200.0


def test_two_flows_share_a_ring_link():
    # Ring 0-1-2-3-0. 0->3 is one hop (link 0->3). 1->3 is two hops either way; the tie goes to
    # the lower id of the next chiplets 0 and 2, so 1->0->3: both flows share link 0->3 at
    # 8 B/cycle. 800 B leave at cycle 100 (+5); the other has 800 B left, alone at 16 B/cycle:
    # 50 more cycles, +2 hops x 5.
    programs = _send(0, 3, 800, tag=0)
    programs[1] = """
    %a = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %a
    cisa.send %a to 3 tag 1 bytes 1600"""
    programs[3] += "\n    %c = cisa.alloc act bytes 100 tokens array<i32: 0>"
    programs[3] += "\n    cisa.recv %c from 1 tag 1 bytes 1600"
    report = sim_on(system_text(rows=1, cols=4, topology="ring"), programs)
    assert link(report, 0, 3)["flows"] == 2
    assert link(report, 0, 3)["bytes"] == 2400
    assert link(report, 1, 0)["bytes"] == 1600
    assert link(report, 0, 3)["busy_cycles"] == 150.0
    assert chiplet(report, 0)["finish_cycles"] == 100.0  # the send: when its last byte leaves
    assert report["latency_cycles"] == 160.0


def test_custom_link_runs_at_its_own_bandwidth():
    # Links 0-1 at 8 GB/s (8 B/cycle at 1 GHz), 1-3 and 3-2 at d2d_gbps (16). 0->3 crosses
    # 0->1 then 1->3: the slower link sets the rate, 1600 B / 8 = 200 cycles, +2 hops x 5.
    system = system_text(topology="custom", links=(Link(0, 1, 8.0), Link(1, 3), Link(3, 2)))
    report = sim_on(system, _send(0, 3, 1600))
    assert report["latency_cycles"] == 210.0
    assert link(report, 0, 1)["utilization"] == pytest.approx(1600 / (8 * 210), abs=1e-4)
    assert link(report, 1, 3)["bytes"] == 1600
