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

The loop only moves time: SRAM peaks and averages come afterwards from the times the ALLOC and
FREE instructions took effect (`_sram_stats`), bytes per resource from the static flow paths
(`FlatProgram.traffic`).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np

from backends.sim.program import (
    ACC,
    ALLOC,
    BARRIER,
    FREE,
    GEMM,
    INPUT,
    LOAD,
    OUTPUT,
    RECV,
    SEND,
    FlatProgram,
    SimError,
)

_ENGINE_DONE, _FLOW_DONE, _ARRIVE = 0, 1, 2  # event kinds
_ENGINE_OPS = frozenset((GEMM, ACC))  # run on the matrix engine
_STARTED_AT_ISSUE = frozenset((INPUT, OUTPUT, LOAD, SEND, RECV, GEMM, ACC))  # not held at issue


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
    order: list[int]  # instructions in the order their data effects apply (for numerics)
    spans: list[tuple[int, int, float, float, int]] = field(default_factory=list)
    # spans: (track kind 0 engine / 1 resource, track index, start, end, instruction)


def run(flat: FlatProgram, *, trace: bool = False) -> RunResult:  # noqa: C901 - one hot loop
    """Run the programs to completion (or deadlock) and measure.

    Deliberately one function whose helpers are closures over plain local lists indexed by
    instruction (no objects, no per-flow records): they run once per instruction or event.
    Heap entries are `(time, seq, kind, x)`; `seq` is unique, so ties are served first-come
    first-served and nothing after it is ever compared.
    """
    m = flat.machine
    op, prog, nbytes, arg, pair = flat.op, flat.prog, flat.nbytes, flat.arg, flat.pair
    n = len(op)
    nprog = len(flat.chiplet)
    starts = flat.start
    ends = starts[1:] + [n]
    cap = m.capacities()
    nres = len(cap)
    paths = flat.path
    solo_rate = flat.solo_rate  # a flow's rate while it has its resources to itself
    inv_rate = 1.0 / m.ops_per_cycle

    npend = list(flat.npend)
    dependents = flat.dependents
    fin = [-1.0] * n
    rdy = [False] * (n + 1)  # n: the end of every queue below, never ready
    pc = list(starts)
    eng_q = [[*queue, n] for queue in flat.engine_queue]
    eng_ptr, eng_busy = [0] * nprog, [False] * nprog
    ch_q = [[*queue, n] for queue in flat.channel_queue]
    ch_ptr, ch_busy = [0] * m.num_channels, [False] * m.num_channels
    blocked_free = [-1] * nprog
    barrier_waiting: list[int] = []
    order: list[int] = []
    append_order = order.append
    spans: list[tuple[int, int, float, float, int]] = []

    # Flows, one per LOAD or SEND (its owner instruction, by which they are indexed): bytes not
    # yet sent, rate, time of the last rate change, seq of its valid heap entry (a reschedule
    # pushes a newer one and the older goes stale) and start time.
    flow_rem, flow_rate, flow_t = [0.0] * n, [0.0] * n, [0.0] * n
    flow_seq, flow_start = [0] * n, [0.0] * n
    res_flows: list[list[int]] = [[] for _ in range(nres)]  # owners of the flows on each
    res_busy = [0.0] * nres
    res_since = [0.0] * nres
    share = list(cap)  # capacity / active flows of each resource
    latency = flat.flow_latency  # cycles from a flow's last byte leaving to its arrival

    heap: list[tuple[float, int, int, int]] = []
    push, pop = heapq.heappush, heapq.heappop
    tick = itertools.count(1).__next__  # the seq of the next heap entry
    now = 0.0
    worklist: list[int] = []

    def complete(i: int) -> None:
        fin[i] = now
        for d in dependents[i]:
            left = npend[d] - 1
            npend[d] = left
            if left:
                continue
            p = prog[d]
            if d < pc[p]:
                ready(d)
            elif blocked_free[p] == d:
                blocked_free[p] = -1
                worklist.append(p)

    def ready(i: int) -> None:
        rdy[i] = True
        c = op[i]
        if c in _ENGINE_OPS:
            p = prog[i]
            if not eng_busy[p] and eng_q[p][eng_ptr[p]] == i:
                start_engine(p, i)
        elif c == RECV:
            if rdy[pair[i]]:
                append_order(i)
                start_flow(pair[i])
        elif c == SEND:
            if rdy[pair[i]]:
                append_order(pair[i])
                start_flow(i)
        elif c == LOAD:
            ch = arg[i]
            if not ch_busy[ch] and ch_q[ch][ch_ptr[ch]] == i:
                start_load(ch, i)
        else:  # OUTPUT
            append_order(i)
            complete(i)

    def start_engine(p: int, i: int) -> None:
        eng_busy[p] = True
        eng_ptr[p] += 1
        end = now + arg[i] * inv_rate
        append_order(i)
        push(heap, (end, tick(), _ENGINE_DONE, i))
        if trace:
            spans.append((0, p, now, end, i))

    def start_load(ch: int, i: int) -> None:
        ch_busy[ch] = True
        ch_ptr[ch] += 1
        append_order(i)
        start_flow(i)

    def start_flow(owner: int) -> None:
        res = paths[owner]
        alone = True
        for r in res:
            flows = res_flows[r]
            if flows:
                alone = False
            else:
                res_since[r] = now
            flows.append(owner)
        size = flow_rem[owner] = nbytes[owner]
        flow_t[owner] = now
        if trace:
            flow_start[owner] = now
        if alone:  # the common case: nothing else to reschedule
            rate = flow_rate[owner] = solo_rate[owner]
            flow_seq[owner] = s = tick()
            push(heap, (now + size / rate, s, _FLOW_DONE, owner))
        else:
            flow_rate[owner] = 0.0
            reschedule_around(res)

    def reschedule_around(res: tuple[int, ...]) -> None:
        # A flow's rate depends only on the flow counts of its own resources, so only the flows
        # sharing a resource with the one that started or ended can change rate.
        if len(res) == 1:
            r = res[0]
            affected = res_flows[r]
            share[r] = cap[r] / len(affected) if affected else cap[r]
        else:
            for r in res:
                count = len(res_flows[r])
                share[r] = cap[r] / count if count else cap[r]
            affected = list(dict.fromkeys([f for r in res for f in res_flows[r]]))
        for f in affected:
            path = paths[f]
            rate = share[path[0]] if len(path) == 1 else min(map(share.__getitem__, path))
            if rate != flow_rate[f]:
                rem = flow_rem[f] - flow_rate[f] * (now - flow_t[f])
                if rem < 0.0:
                    rem = 0.0
                flow_rem[f] = rem
                flow_rate[f] = rate
                flow_t[f] = now
                flow_seq[f] = s = tick()
                push(heap, (now + rem / rate, s, _FLOW_DONE, f))

    def flow_done(owner: int) -> None:
        res = paths[owner]
        others = False
        for r in res:
            flows = res_flows[r]
            flows.remove(owner)
            if flows:
                others = True
            else:
                res_busy[r] += now - res_since[r]
                share[r] = cap[r]
        if trace:
            for r in res:
                spans.append((1, r, flow_start[owner], now, owner))
        if others:
            reschedule_around(res)
        if op[owner] == LOAD:
            ch = arg[owner]
            ch_busy[ch] = False
            target = owner
            queue = ch_q[ch]
            if rdy[queue[ch_ptr[ch]]]:
                start_load(ch, queue[ch_ptr[ch]])
        else:
            target = pair[owner]
            complete(owner)
        if latency[owner]:
            push(heap, (now + latency[owner], tick(), _ARRIVE, target))
        else:
            complete(target)

    def issue(p: int) -> None:
        i = pc[p]
        while True:
            c = op[i]
            if c in _STARTED_AT_ISSUE:
                i += 1
                pc[p] = i
                if c == INPUT:
                    append_order(i - 1)
                    complete(i - 1)
                elif not npend[i - 1]:
                    ready(i - 1)
            elif c == ALLOC:
                fin[i] = now
                i += 1
            elif c == FREE:
                if npend[i]:
                    blocked_free[p] = i
                    break
                fin[i] = now
                i += 1
            elif c == BARRIER:
                barrier_waiting.append(i)
                if len(barrier_waiting) == nprog:
                    for b in barrier_waiting:
                        fin[b] = now
                        pc[prog[b]] = b + 1
                        worklist.append(prog[b])
                    barrier_waiting.clear()
                    return
                break
            else:  # END
                fin[i] = now
                i += 1
                break
        pc[p] = i

    for p in range(nprog):
        issue(p)
    while True:
        while worklist:
            issue(worklist.pop(0))
        if not heap:
            break
        now, s, kind, x = pop(heap)
        if kind == _FLOW_DONE:
            if s == flow_seq[x]:
                flow_done(x)
        elif kind == _ENGINE_DONE:
            p = prog[x]
            eng_busy[p] = False
            complete(x)
            queue = eng_q[p]
            if rdy[queue[eng_ptr[p]]]:
                start_engine(p, queue[eng_ptr[p]])
        else:
            complete(x)

    sram = _sram_stats(flat, fin)  # raises on an overflow, before any deadlock
    if -1.0 in fin:  # an instruction never finished
        raise SimError(
            _deadlock_message(flat, now, fin, pc, ends, rdy, npend, flat.channel_queue, ch_ptr)
        )
    finish = [max(fin[starts[p] : ends[p]]) for p in range(nprog)]
    latency = max(finish)
    peak, peak_w, peak_a, int_w, int_a = sram(latency)
    avg = (lambda x: x / latency) if latency > 0 else (lambda x: 0.0)
    return RunResult(
        latency=latency,
        finish=finish,
        resource_busy=res_busy,
        sram_peak=peak,
        sram_peak_weight=peak_w,
        sram_peak_act=peak_a,
        sram_avg_weight=[avg(x) for x in int_w],
        sram_avg_act=[avg(x) for x in int_a],
        order=order,
        spans=spans,
    )


def _deadlock_message(flat, now, fin, pc, ends, rdy, npend, ch_q, ch_ptr) -> str:
    lines = [
        f"deadlock at cycle {now:g}: nothing left to happen, but some chiplets have not finished"
    ]
    for p, chiplet in enumerate(flat.chiplet):
        first = next((i for i in range(flat.start[p], ends[p]) if fin[i] < 0.0), None)
        if first is None:
            continue
        if pc[p] < ends[p] and pc[p] <= first:
            first = pc[p]
        why = _why_blocked(flat, first, fin, pc, rdy, npend, ch_q, ch_ptr)
        lines.append(f"  chiplet {chiplet}: blocked at {flat.describe(first)}: {why}")
    return "\n".join(lines)


def _why_blocked(flat, i, fin, pc, rdy, npend, ch_q, ch_ptr) -> str:
    code = flat.op[i]
    p = flat.prog[i]
    waiting = [d for d in flat.deps[i] if fin[d] < 0.0]
    if code == BARRIER:
        return "waits for the other chiplets to reach this barrier"
    if code == FREE:
        return f"waits for an earlier use of the buffer: {flat.describe(waiting[0])}"
    if i >= pc[p]:
        return "not issued yet"
    if npend[i]:
        return f"waits for its input from {flat.describe(waiting[0])}"
    if code in (SEND, RECV):
        other = flat.pair[i]
        peer = flat.chiplet[flat.prog[other]]
        if code == SEND:
            return f"waits for chiplet {peer} to post the matching {flat.describe(other)}"
        return f"posted; waits for chiplet {peer} to send {flat.describe(other)}"
    if code == LOAD:
        channel = flat.arg[i]
        head = ch_q[channel][ch_ptr[channel]]
        owner = flat.chiplet[flat.prog[head]]
        return (
            f"waits for DDR channel {channel}, whose next load in seq order is "
            f"{flat.describe(head)} on chiplet {owner}"
        )
    if code in (GEMM, ACC):
        return "waits for the matrix engine, busy with an earlier engine op in program order"
    return "waits"


def _sram_stats(flat: FlatProgram, fin: list[float]):
    """Per program: peak bytes (total, weight, act) and time integrals of weight and act bytes
    over [0, latency], from the times its ALLOC and FREE instructions took effect (`fin`; a
    program issues them in program order, so the ones that issued are a prefix of
    `FlatProgram.sram_ops`). Returns a function of the latency; raises SimError at the first
    SRAM overflow."""
    capacity = flat.machine.sram_bytes
    per_prog = []
    for p, ids in enumerate(flat.sram_ops):
        times = np.fromiter(map(fin.__getitem__, ids), np.float64, len(ids))
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
