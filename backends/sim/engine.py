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

The loop only moves time: SRAM peaks and averages come afterwards from the log of ALLOC/FREE
events (`_sram_stats`), bytes per resource from the static flow paths (`FlatProgram.traffic`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from backends.sim.program import (
    ACC,
    ALLOC,
    BARRIER,
    END,
    FREE,
    GEMM,
    INPUT,
    LOAD,
    RECV,
    SEND,
    WEIGHT,
    FlatProgram,
    SimError,
)

_ENGINE_DONE, _FLOW_DONE, _ARRIVE = 0, 1, 2


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
    m = flat.machine
    op, prog, nbytes, arg, pair = flat.op, flat.prog, flat.nbytes, flat.arg, flat.pair
    n = len(op)
    nprog = len(flat.chiplet)
    starts = flat.start
    ends = starts[1:] + [n]
    cap = m.capacities()
    nres = len(cap)
    paths = flat.path
    hop = m.hop_latency
    inv_rate = 1.0 / m.ops_per_cycle

    npend = list(flat.npend)
    dependents = flat.dependents
    fin = [-1.0] * n
    rdy = [False] * n
    pc = list(starts)
    eng_q, eng_ptr, eng_busy = flat.engine_queue, [0] * nprog, [False] * nprog
    ch_q, ch_ptr, ch_busy = flat.channel_queue, [0] * m.num_channels, [False] * m.num_channels
    blocked_free = [-1] * nprog
    barrier_waiting: list[int] = []
    order: list[int] = []
    spans: list[tuple[int, int, float, float, int]] = []

    sram_log: list[int] = []  # ALLOC and FREE instructions in the order they took effect

    # Flows.
    # Flows: [remaining bytes, rate, time of last update, version, resources, owner instruction,
    # latency, start time]; the heap entry of a flow is valid while its version matches.
    flows_: list[list] = []
    res_flows: list[list[int]] = [[] for _ in range(nres)]
    res_busy = [0.0] * nres
    res_since = [0.0] * nres
    share = list(cap)  # capacity / active flows of each resource

    heap: list[tuple] = []
    push = heapq.heappush
    seq = 0
    now = 0.0
    worklist: list[int] = []

    def complete(i: int) -> None:
        fin[i] = now
        for d in dependents[i]:
            npend[d] -= 1
            if npend[d] == 0:
                p = prog[d]
                if d < pc[p]:
                    ready(d)
                elif blocked_free[p] == d:
                    blocked_free[p] = -1
                    worklist.append(p)

    def ready(i: int) -> None:
        rdy[i] = True
        c = op[i]
        if c == GEMM or c == ACC:
            p = prog[i]
            if not eng_busy[p] and eng_q[p][eng_ptr[p]] == i:
                start_engine(p, i)
        elif c == LOAD:
            ch = arg[i]
            if not ch_busy[ch] and ch_q[ch][ch_ptr[ch]] == i:
                start_load(ch, i)
        elif c == SEND:
            r = pair[i]
            if rdy[r]:
                order.append(r)
                start_flow(i, paths[i], hop * len(paths[i]))
        elif c == RECV:
            s = pair[i]
            if rdy[s]:
                order.append(i)
                start_flow(s, paths[s], hop * len(paths[s]))
        else:  # OUTPUT
            order.append(i)
            complete(i)

    def start_engine(p: int, i: int) -> None:
        nonlocal seq
        eng_busy[p] = True
        eng_ptr[p] += 1
        duration = arg[i] * inv_rate
        order.append(i)
        seq += 1
        push(heap, (now + duration, seq, _ENGINE_DONE, i, 0))
        if trace:
            spans.append((0, p, now, now + duration, i))

    def start_load(ch: int, i: int) -> None:
        ch_busy[ch] = True
        ch_ptr[ch] += 1
        order.append(i)
        start_flow(i, paths[i], hop * (len(paths[i]) - 1))

    def start_flow(owner: int, res: tuple[int, ...], latency: int) -> None:
        nonlocal seq
        g = len(flows_)
        size = float(nbytes[owner])
        alone = True
        for r in res:
            flows = res_flows[r]
            if flows:
                alone = False
            else:
                res_since[r] = now
            flows.append(g)
        if alone:  # the common case: nothing else to reschedule
            rate = min(map(cap.__getitem__, res))
            flows_.append([size, rate, now, 1, res, owner, latency, now])
            seq += 1
            push(heap, (now + size / rate, seq, _FLOW_DONE, g, 1))
        else:
            flows_.append([size, 0.0, now, 0, res, owner, latency, now])
            reschedule_around(res)

    def reschedule_around(res: tuple[int, ...]) -> None:
        # A flow's rate depends only on the flow counts of its own resources, so only the flows
        # sharing a resource with the one that started or ended can change rate.
        nonlocal seq
        if len(res) == 1:
            r = res[0]
            affected = res_flows[r]
            share[r] = cap[r] / len(affected) if affected else cap[r]
        else:
            for r in res:
                count = len(res_flows[r])
                share[r] = cap[r] / count if count else cap[r]
            affected = list(dict.fromkeys([g for r in res for g in res_flows[r]]))
        for g in affected:
            fl = flows_[g]
            path = fl[4]
            rate = share[path[0]] if len(path) == 1 else min(map(share.__getitem__, path))
            if rate != fl[1]:
                rem = fl[0] - fl[1] * (now - fl[2])
                if rem < 0.0:
                    rem = 0.0
                fl[0] = rem
                fl[1] = rate
                fl[2] = now
                fl[3] += 1
                seq += 1
                push(heap, (now + rem / rate, seq, _FLOW_DONE, g, fl[3]))

    def flow_done(g: int) -> None:
        nonlocal seq
        _, _, _, _, res, owner, latency, started = flows_[g]
        others = False
        for r in res:
            flows = res_flows[r]
            flows.remove(g)
            if flows:
                others = True
            else:
                res_busy[r] += now - res_since[r]
                share[r] = cap[r]
        if trace:
            for r in res:
                spans.append((1, r, started, now, owner))
        if others:
            reschedule_around(res)
        if op[owner] == LOAD:
            ch = arg[owner]
            ch_busy[ch] = False
            target = owner
            queue = ch_q[ch]
            if ch_ptr[ch] < len(queue) and rdy[queue[ch_ptr[ch]]]:
                start_load(ch, queue[ch_ptr[ch]])
        else:
            target = pair[owner]
            complete(owner)
        if latency:
            seq += 1
            push(heap, (now + latency, seq, _ARRIVE, target, 0))
        else:
            complete(target)

    def issue(p: int) -> None:
        i = pc[p]
        while True:
            c = op[i]
            if c == ALLOC:
                sram_log.append(i)
                fin[i] = now
                i += 1
            elif c == FREE:
                if npend[i]:
                    blocked_free[p] = i
                    break
                sram_log.append(i)
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
            elif c == END:
                fin[i] = now
                i += 1
                break
            else:
                i += 1
                pc[p] = i
                if c == INPUT:
                    order.append(i - 1)
                    complete(i - 1)
                elif not npend[i - 1]:
                    ready(i - 1)
        pc[p] = i

    for p in range(nprog):
        issue(p)
    while True:
        while worklist:
            issue(worklist.pop(0))
        if not heap:
            break
        now, _, kind, x, y = heapq.heappop(heap)
        if kind == _ENGINE_DONE:
            p = prog[x]
            eng_busy[p] = False
            complete(x)
            queue = eng_q[p]
            if eng_ptr[p] < len(queue) and rdy[queue[eng_ptr[p]]]:
                start_engine(p, queue[eng_ptr[p]])
        elif kind == _FLOW_DONE:
            if y == flows_[x][3]:
                flow_done(x)
        else:
            complete(x)

    sram = _sram_stats(flat, fin, sram_log)  # raises on an overflow, before any deadlock
    if min(fin) < 0.0:
        raise SimError(_deadlock_message(flat, now, fin, pc, ends, rdy, npend, ch_q, ch_ptr))
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


def _sram_stats(flat: FlatProgram, fin: list[float], log: list[int]):
    """Per program: peak bytes (total, weight, act) and time integrals of weight and act bytes
    over [0, latency], from the ALLOC/FREE log of a run (in the order they took effect).
    Returns a function of the latency; raises SimError at the first SRAM overflow."""
    nprog = len(flat.chiplet)
    op, nbytes, arg, prog = flat.op, flat.nbytes, flat.arg, flat.prog
    idx = np.array(log, dtype=np.int64)
    times = np.array([fin[i] for i in log], dtype=np.float64)
    delta = np.array([nbytes[i] if op[i] == ALLOC else -nbytes[i] for i in log], dtype=np.int64)
    kinds = np.array([arg[i] for i in log], dtype=np.int64)
    progs = np.array([prog[i] for i in log], dtype=np.int64)
    capacity = flat.machine.sram_bytes
    per_prog = []
    for p in range(nprog):
        mine = np.flatnonzero(progs == p)
        weight = np.cumsum(np.where(kinds[mine] == WEIGHT, delta[mine], 0))
        act = np.cumsum(np.where(kinds[mine] == WEIGHT, 0, delta[mine]))
        total = weight + act
        over = np.flatnonzero(total > capacity)
        if len(over):
            k = mine[over[0]]
            i = int(idx[k])
            raise SimError(
                f"chiplet {flat.chiplet[p]}: SRAM overflow at cycle {fin[i]:g}: "
                f"{flat.describe(i)} allocates {int(delta[k])} bytes, bringing the chiplet's "
                f"SRAM in use to {int(total[over[0]])} bytes, above sram_bytes {capacity} "
                f"({int(weight[over[0]])} weight, {int(act[over[0]])} act)"
            )
        per_prog.append((times[mine], weight, act, total))

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
