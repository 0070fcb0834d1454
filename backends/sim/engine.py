"""The event-driven engine: runs a `FlatProgram` and returns what happened, in cycles.

Time jumps from event to event (a heap ordered by (time, sequence number), so equal times are
served first-come first-served and every run is deterministic). Three kinds of event exist: an
engine op finishes, a flow's last byte leaves its source, a flow's last byte arrives.

The model (docs/simulator.md says it in full):

- Each program issues in order. `alloc`, `input` and `output` take no time (`output` completes
  once the last earlier writer of its buffer has); `free` holds issue until every earlier use of
  its buffer has finished; `barrier` holds issue until every program has reached it; `end` stops
  issue. Async instructions (`load`, `send`, `recv`, `gemm`, `accumulate`) start once issued,
  once the earlier instructions they depend on (`FlatProgram.deps`) have finished, and once their
  unit is free.
- `gemm`/`accumulate`: one at a time per chiplet, in program order, `ops / ops_per_cycle` cycles.
- `load`: each DDR channel serves its loads one at a time in `seq` order. The bytes flow from
  the channel through the mesh links from the channel's chiplet to the loading chiplet.
- `send`/`recv`: the transfer starts when the send's data is ready and the receiver has posted
  the recv (its credit). The send finishes when its last byte leaves, the recv when it arrives.
- Flows (loads and transfers) are fluid and cut-through: a flow holds every resource of its path
  (its DDR channel, if any, and its XY links) at once, at rate `min over its resources of
  capacity / flows on it`, recomputed whenever a flow starts or ends on a shared resource. The
  last byte arrives `hop_latency` cycles per link after it leaves.

The event loop itself is `backends/sim/loop.py` (compiled with mypyc when installed). It only
moves time: SRAM peaks and averages come afterwards from the times the ALLOC and
FREE instructions took effect (`_sram_stats`), bytes per resource from the static flow paths
(`FlatProgram.traffic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backends.sim.loop_choice import LOOP_COMPILED, Loop, loop_source  # noqa: F401
from backends.sim.program import FlatProgram, SimError
from dialects.cisa_opcodes import ACC, BARRIER, FREE, GEMM, LOAD, RECV, SEND


@dataclass
class RunResult:
    """What the engine measured. Lists are indexed by program (chiplet order), channel or
    resource (DDR channels, then links, as `Machine` numbers them)."""

    latency: float
    finish: list[float]  # per program: completion of its last instruction
    resource_busy: list[float]  # cycles with at least one flow on the resource
    sram_peak: list[int]
    sram_peak_weight: list[int]
    sram_peak_act: list[int]
    sram_avg_weight: list[float]
    sram_avg_act: list[float]
    order: list[int] | None  # with record_order: the order data effects apply in (numerics)
    spans: list[tuple[int, int, float, float, int]] = field(default_factory=list)
    # spans: (track kind 0 engine / 1 resource, track index, start, end, instruction)


def run(
    flat: FlatProgram,
    *,
    trace: bool = False,
    record_order: bool = False,
    pure_python: bool = False,
) -> RunResult:
    """Run the programs to completion (or deadlock) and measure. `trace` records the spans of
    the timeline, `record_order` the order data effects apply in (for the numerics check);
    `pure_python` runs the loop's source even where it is compiled (tests, benchmarks)."""
    m = flat.machine
    loop = (loop_source().Loop if pure_python else Loop)(
        flat.op,
        flat.prog,
        flat.arg,
        flat.dependents.flat,
        flat.dependents.at,
        flat.npend,
        flat.start,
        flat.engine_queue,
        flat.channel_queue,
        flat.flow,
        flat.flow_owner,
        flat.flow_target,
        flat.flow_bytes,
        flat.path.flat,
        flat.path.at,
        flat.solo_rate,
        flat.flow_latency,
        m.capacities(),
        float(m.ops_per_cycle),
        trace,
        record_order,
    )
    loop.run()
    fin = np.frombuffer(loop.fin, dtype=np.float64)  # a view of the loop's packed floats
    starts = flat.start
    sram = _sram_stats(flat, fin)  # raises on an overflow, before any deadlock
    if (fin < 0.0).any():  # an instruction never finished
        raise SimError(_deadlock_message(flat, loop))
    finish = np.maximum.reduceat(fin, starts).tolist()
    latency = max(finish)
    peak, peak_w, peak_a, int_w, int_a = sram(latency)
    avg = (lambda x: x / latency) if latency > 0 else (lambda x: 0.0)
    return RunResult(
        latency=latency,
        finish=finish,
        resource_busy=list(loop.res_busy),
        sram_peak=peak,
        sram_peak_weight=peak_w,
        sram_peak_act=peak_a,
        sram_avg_weight=[avg(x) for x in int_w],
        sram_avg_act=[avg(x) for x in int_a],
        order=loop.order if record_order else None,
        spans=loop.spans,
    )


def _deadlock_message(flat: FlatProgram, loop) -> str:
    fin, pc = loop.fin, loop.pc
    ends = flat.start[1:] + [len(fin)]
    lines = [
        f"deadlock at cycle {loop.now:g}: nothing left to happen, but some chiplets have not "
        "finished"
    ]
    for p, chiplet in enumerate(flat.chiplet):
        first = next((i for i in range(flat.start[p], ends[p]) if fin[i] < 0.0), None)
        if first is None:
            continue
        if pc[p] < ends[p] and pc[p] <= first:
            first = pc[p]
        why = _why_blocked(flat, loop, first)
        lines.append(f"  chiplet {chiplet}: blocked at {flat.describe(first)}: {why}")
    return "\n".join(lines)


def _why_blocked(flat: FlatProgram, loop, i: int) -> str:
    code = flat.op[i]
    p = flat.prog[i]
    waiting = [d for d in flat.deps[i] if loop.fin[d] < 0.0]
    if code == BARRIER:
        return "waits for the other chiplets to reach this barrier"
    if code == FREE:
        return f"waits for an earlier use of the buffer: {flat.describe(waiting[0])}"
    if i >= loop.pc[p]:
        return "not issued yet"
    if loop.npend[i]:
        return f"waits for its input from {flat.describe(waiting[0])}"
    if code in (SEND, RECV):
        other = flat.pair[i]
        peer = flat.chiplet[flat.prog[other]]
        if code == SEND:
            return f"waits for chiplet {peer} to post the matching {flat.describe(other)}"
        return f"posted; waits for chiplet {peer} to send {flat.describe(other)}"
    if code == LOAD:
        channel = flat.arg[i]
        head = loop.ch_q[loop.ch_ptr[channel]]
        owner = flat.chiplet[flat.prog[head]]
        return (
            f"waits for DDR channel {channel}, whose next load in seq order is "
            f"{flat.describe(head)} on chiplet {owner}"
        )
    if code in (GEMM, ACC):
        return "waits for the matrix engine, busy with an earlier engine op in program order"
    return "waits"


def _sram_stats(flat: FlatProgram, fin: np.ndarray):
    """Per program: peak bytes (total, weight, act) and time integrals of weight and act bytes
    over [0, latency], from the times its ALLOC and FREE instructions took effect (`fin`; a
    program issues them in program order, so the ones that issued are a prefix of
    `FlatProgram.sram_ops`). Returns a function of the latency; raises SimError at the first
    SRAM overflow."""
    capacity = flat.machine.sram_bytes
    per_prog = []
    for p, ids in enumerate(flat.sram_ops):
        times = fin[ids]
        unissued = np.flatnonzero(times < 0.0)
        issued = int(unissued[0]) if len(unissued) else len(ids)
        times, delta = times[:issued], flat.sram_delta[p][:issued]
        is_weight = flat.sram_weight[p][:issued]
        weight = np.cumsum(np.where(is_weight, delta, 0))
        act = np.cumsum(np.where(is_weight, 0, delta))
        total = weight + act
        over = np.flatnonzero(total > capacity)
        if len(over):
            k = int(over[0])
            i = ids[k]
            raise SimError(
                f"chiplet {flat.chiplet[p]}: SRAM overflow at cycle {fin[i]:g}: "
                f"{flat.describe(i)} allocates {int(delta[k])} bytes, bringing the chiplet's "
                f"SRAM in use to {int(total[k])} bytes, above sram_bytes {capacity} "
                f"({int(weight[k])} weight, {int(act[k])} act)"
            )
        per_prog.append((times, weight, act, total))

    def stats(latency: float):
        out = []
        for t, weight, act, total in per_prog:
            dt = np.diff(np.append(t, latency))
            out.append(
                (
                    int(total.max(initial=0)),
                    int(weight.max(initial=0)),
                    int(act.max(initial=0)),
                    float(weight @ dt),
                    float(act @ dt),
                )
            )
        return [list(column) for column in zip(*out, strict=True)]

    return stats
