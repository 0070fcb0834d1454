"""The simulator's event loop over flattened programs; `engine.run` drives it.

This module is compiled with mypyc when the project is installed (setup.py) and runs as plain
Python otherwise; both give the same results bit for bit (tests/test_sim_loop.py runs the two
side by side). To stay compilable and fast it follows mypyc's rules: every attribute and
argument is typed, state lives on one native class (`Loop`) whose methods call each other
directly, and it imports nothing but the standard library, mypyc's runtime library and the
opcode numbers. The model it implements is described in `backends/sim/engine.py` and
docs/simulator.md.

The state is held in `vec`s (librt.vecs, mypyc's packed arrays) of `i64`, `float` and `bool`,
not in lists: compiled, a vec item is a machine word read in place, where a list item is a
pointer to a boxed number elsewhere in memory, and chasing those pointers was what the loop
spent most of its time on. Lists of lists (a program's engine queue, an instruction's
dependents, a flow's resources) are laid out one after the other in one vec, each found by
its offset (`*_at`).

Events live in a binary heap of three parallel vecs: time, seq and `x * 4 + kind`. `seq`
numbers the pushes, so events at equal times are served first-come first-served, and the
order events leave the heap in is fully determined by (time, seq).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from librt.vecs import append, vec
from mypy_extensions import i64

from dialects.cisa_opcodes import ACC, ALLOC, BARRIER, END, FREE, GEMM, INPUT, LOAD, RECV, SEND

ENGINE_DONE: Final = 0  # an engine op finishes
FLOW_DONE: Final = 1  # a flow's last byte leaves its source
ARRIVE: Final = 2  # a flow's last byte arrives

Span = tuple[int, int, float, float, int]  # (0 engine / 1 resource, its index, start, end, op)


def packed(lists: list[vec[i64]], end: int) -> tuple[vec[i64], vec[i64]]:
    """`lists` one after the other in one vec, each followed by `end`, and the offset of each
    list in it (plus the total length)."""
    items = vec[i64]()
    at = vec[i64]()
    for values in lists:
        at = append(at, len(items))
        for v in values:
            items = append(items, v)
        items = append(items, end)
    at = append(at, len(items))
    return items, at


class Loop:
    """The state of one run, as vecs indexed by instruction, program, channel or resource.

    The instruction columns are the `FlatProgram`'s own vecs, read in place (only `npend`,
    which the loop counts down, is copied). Flows, one per LOAD and per SEND, have their own
    index: `flow[i]` is the flow of a LOAD, a SEND or a RECV (its send's), `flow_owner[f]` its
    LOAD or SEND, `flow_target[f]` what completes when its last byte arrives (the LOAD, or the
    SEND's RECV). Per flow the loop keeps bytes not yet sent, rate, time of the last rate
    change, seq of the flow's valid heap entry (a reschedule pushes a newer one and the older
    goes stale) and start time.
    """

    def __init__(
        self,
        op: vec[i64],
        prog: vec[i64],
        arg: vec[i64],
        dep: vec[i64],
        dep_at: vec[i64],
        npend: Sequence[int],
        starts: list[int],
        engine_queue: list[vec[i64]],
        channel_queue: list[vec[i64]],
        flow: vec[i64],
        flow_owner: vec[i64],
        flow_target: vec[i64],
        flow_bytes: vec[i64],
        path: vec[i64],
        path_at: vec[i64],
        solo_rate: vec[float],
        hop_latency: vec[i64],
        capacity: list[float],
        ops_per_cycle: float,
        trace: bool,
        record_order: bool,
    ) -> None:
        n: i64 = len(op)
        nprog: i64 = len(starts)
        nres: i64 = len(capacity)
        nflow: i64 = len(flow_owner)
        self.op = op
        self.prog = prog
        self.arg = arg
        self.dep = dep  # instruction i's dependents: dep[dep_at[i]:dep_at[i + 1]]
        self.dep_at = dep_at
        self.npend = vec[i64](npend)
        self.nprog = nprog
        self.flow = flow
        self.flow_owner = flow_owner
        self.flow_target = flow_target  # completes when the last byte arrives: load, or recv
        self.flow_bytes = flow_bytes
        self.path = path  # flow f's resources: path[path_at[f]:path_at[f + 1]]
        self.path_at = path_at
        self.solo_rate = solo_rate  # a flow's rate while it has its resources alone
        self.hop_latency = hop_latency  # cycles from last byte leaving to arriving
        self.cap = vec[float](capacity)
        self.inv_rate: float = 1.0 / ops_per_cycle
        self.trace = trace
        self.record_order = record_order

        self.fin = vec[float]([-1.0] * n)
        self.rdy = vec[bool]([False] * (n + 1))  # n ends every queue below and is never ready
        self.pc = vec[i64](starts)
        # Queues, each ended by n: eng_ptr[p] / ch_ptr[ch] is the index of the head in eng_q /
        # ch_q.
        self.eng_q, self.eng_ptr = packed(engine_queue, n)
        self.eng_busy = vec[bool]([False] * nprog)
        self.ch_q, self.ch_ptr = packed(channel_queue, n)
        self.ch_busy = vec[bool]([False] * len(channel_queue))
        self.blocked_free = vec[i64]([-1] * nprog)
        self.barrier_waiting: list[int] = []
        self.worklist: list[int] = []
        # With record_order: instructions in the order their data effects apply (numerics).
        self.order: list[int] = []
        self.spans: list[Span] = []

        self.flow_rem = vec[float]([0.0] * nflow)
        self.flow_rate = vec[float]([0.0] * nflow)
        self.flow_t = vec[float]([0.0] * nflow)
        self.flow_seq = vec[i64]([0] * nflow)
        self.flow_start = vec[float]([0.0] * nflow)
        self.res_flows: list[list[int]] = [[] for _ in range(nres)]  # the flows on it
        self.res_busy = vec[float]([0.0] * nres)  # cycles with at least one flow on it
        self.res_since = vec[float]([0.0] * nres)
        self.share = vec[float](capacity)  # capacity / active flows
        self.mark = vec[bool]([False] * nflow)  # reschedule_around: flows already collected

        self.heap_time = vec[float]()
        self.heap_seq = vec[i64]()
        self.heap_event = vec[i64]()  # x * 4 + kind
        self.heap_size: i64 = 0
        self.seq: i64 = 0  # of the last heap entry
        self.now = 0.0

    # --- the event heap ---------------------------------------------------------------

    def push(self, time: float, kind: i64, x: i64) -> i64:
        self.seq += 1
        seq = self.seq
        event = x * 4 + kind
        k = self.heap_size
        self.heap_size = k + 1
        if k == len(self.heap_time):
            self.heap_time = append(self.heap_time, time)
            self.heap_seq = append(self.heap_seq, seq)
            self.heap_event = append(self.heap_event, event)
        ht, hs, he = self.heap_time, self.heap_seq, self.heap_event
        while k > 0:  # sift the new entry up from the end
            parent = (k - 1) >> 1
            t = ht[parent]
            if t < time or (t == time and hs[parent] < seq):
                break
            ht[k], hs[k], he[k] = t, hs[parent], he[parent]
            k = parent
        ht[k], hs[k], he[k] = time, seq, event
        return seq

    def pop(self) -> tuple[float, i64, i64]:
        """Remove the earliest entry; returns its time, seq and event."""
        ht, hs, he = self.heap_time, self.heap_seq, self.heap_event
        top_time, top_seq, top_event = ht[0], hs[0], he[0]
        size = self.heap_size - 1
        self.heap_size = size
        if size > 0:  # sift the last entry down from the root
            time, seq, event = ht[size], hs[size], he[size]
            k: i64 = 0
            while True:
                child = 2 * k + 1
                if child >= size:
                    break
                right = child + 1
                if right < size and (
                    ht[right] < ht[child] or (ht[right] == ht[child] and hs[right] < hs[child])
                ):
                    child = right
                t = ht[child]
                if time < t or (time == t and seq < hs[child]):
                    break
                ht[k], hs[k], he[k] = t, hs[child], he[child]
                k = child
            ht[k], hs[k], he[k] = time, seq, event
        return top_time, top_seq, top_event

    # --- the loop -----------------------------------------------------------------------

    def applied(self, i: i64) -> None:
        """Instruction i's data effect applies now (recorded for the numerics check)."""
        if self.record_order:
            self.order.append(i)

    def run(self) -> None:
        """Issue every program, then serve events until none is left."""
        worklist = self.worklist
        for p in range(self.nprog):
            self.issue(p)
        while True:
            while worklist:
                self.issue(worklist.pop(0))
            if self.heap_size == 0:
                break
            now, s, event = self.pop()
            self.now = now
            kind = event & 3
            x = event >> 2
            if kind == FLOW_DONE:
                if s == self.flow_seq[x]:
                    self.flow_done(x)
            elif kind == ENGINE_DONE:
                self.engine_done(x)
            else:
                self.complete(x)

    def complete(self, i: i64) -> None:
        self.fin[i] = self.now
        npend, pc, prog, dep = self.npend, self.pc, self.prog, self.dep
        for k in range(self.dep_at[i], self.dep_at[i + 1]):
            d = dep[k]
            left = npend[d] - 1
            npend[d] = left
            if left:
                continue
            p = prog[d]
            if d < pc[p]:
                self.ready(d)
            elif self.blocked_free[p] == d:
                self.blocked_free[p] = -1
                self.worklist.append(p)

    def ready(self, i: i64) -> None:
        self.rdy[i] = True
        c = self.op[i]
        if c == GEMM or c == ACC:
            p = self.prog[i]
            if not self.eng_busy[p] and self.eng_q[self.eng_ptr[p]] == i:
                self.start_engine(p, i)
        elif c == RECV:  # its flow is its send's
            f = self.flow[i]
            if self.rdy[self.flow_owner[f]]:
                self.applied(i)
                self.start_flow(f)
        elif c == SEND:
            f = self.flow[i]
            recv = self.flow_target[f]
            if self.rdy[recv]:
                self.applied(recv)
                self.start_flow(f)
        elif c == LOAD:
            ch = self.arg[i]
            if not self.ch_busy[ch] and self.ch_q[self.ch_ptr[ch]] == i:
                self.start_load(ch, i)
        else:  # OUTPUT
            self.applied(i)
            self.complete(i)

    def start_engine(self, p: i64, i: i64) -> None:
        self.eng_busy[p] = True
        self.eng_ptr[p] += 1
        now = self.now
        end = now + float(self.arg[i]) * self.inv_rate
        self.applied(i)
        self.push(end, ENGINE_DONE, i)
        if self.trace:
            self.spans.append((0, p, now, end, i))

    def engine_done(self, i: i64) -> None:
        p = self.prog[i]
        self.eng_busy[p] = False
        self.complete(i)  # may make the next engine op ready, and start it
        if self.eng_busy[p]:
            return
        head = self.eng_q[self.eng_ptr[p]]
        if self.rdy[head]:
            self.start_engine(p, head)

    def start_load(self, ch: i64, i: i64) -> None:
        self.ch_busy[ch] = True
        self.ch_ptr[ch] += 1
        self.applied(i)
        self.start_flow(self.flow[i])

    def start_flow(self, f: i64) -> None:
        now = self.now
        path = self.path
        res_flows = self.res_flows
        alone = True
        for k in range(self.path_at[f], self.path_at[f + 1]):
            r = path[k]
            flows = res_flows[r]
            if flows:
                alone = False
            else:
                self.res_since[r] = now
            flows.append(f)
        size = float(self.flow_bytes[f])
        self.flow_rem[f] = size
        self.flow_t[f] = now
        if self.trace:
            self.flow_start[f] = now
        if alone:  # the common case: nothing else to reschedule
            rate = self.solo_rate[f]
            self.flow_rate[f] = rate
            self.flow_seq[f] = self.push(now + size / rate, FLOW_DONE, f)
        else:
            self.flow_rate[f] = 0.0
            self.reschedule_around(f)

    def reschedule_around(self, changed: i64) -> None:
        """Give the flows on the resources of flow `changed` their new rates. A flow's rate
        depends only on the flow counts of its own resources, so only flows sharing a resource
        with flow `changed` (which started or ended) can change rate."""
        cap, share, res_flows, path, path_at = (
            self.cap,
            self.share,
            self.res_flows,
            self.path,
            self.path_at,
        )
        mark = self.mark
        affected: list[int] = []
        for k in range(path_at[changed], path_at[changed + 1]):
            r = path[k]
            flows = res_flows[r]
            count = len(flows)
            share[r] = cap[r] / float(count) if count else cap[r]
            for f in flows:
                if not mark[f]:
                    mark[f] = True
                    affected.append(f)
        now = self.now
        for f in affected:
            mark[f] = False
            start = path_at[f]
            rate = share[path[start]]
            for k in range(start + 1, path_at[f + 1]):
                if share[path[k]] < rate:
                    rate = share[path[k]]
            old = self.flow_rate[f]
            if rate != old:
                rem = self.flow_rem[f] - old * (now - self.flow_t[f])
                if rem < 0.0:
                    rem = 0.0
                self.flow_rem[f] = rem
                self.flow_rate[f] = rate
                self.flow_t[f] = now
                self.flow_seq[f] = self.push(now + rem / rate, FLOW_DONE, f)

    def flow_done(self, f: i64) -> None:
        now = self.now
        path = self.path
        owner = self.flow_owner[f]
        first, last = self.path_at[f], self.path_at[f + 1]
        others = False
        for k in range(first, last):
            r = path[k]
            flows = self.res_flows[r]
            flows.remove(f)
            if flows:
                others = True
            else:
                self.res_busy[r] += now - self.res_since[r]
                self.share[r] = self.cap[r]
        if self.trace:
            for k in range(first, last):
                self.spans.append((1, path[k], self.flow_start[f], now, owner))
        if others:
            self.reschedule_around(f)
        if self.op[owner] == LOAD:
            ch = self.arg[owner]
            self.ch_busy[ch] = False
            head = self.ch_q[self.ch_ptr[ch]]
            if self.rdy[head]:
                self.start_load(ch, head)
        else:  # the send is done when its last byte leaves
            self.complete(owner)
        target = self.flow_target[f]
        latency = self.hop_latency[f]
        if latency:
            self.push(now + float(latency), ARRIVE, target)
        else:
            self.complete(target)

    def issue(self, p: i64) -> None:
        """Issue program p's instructions in order until one holds issue."""
        op, npend = self.op, self.npend
        i = self.pc[p]
        while True:
            c = op[i]
            if c == ALLOC:
                self.fin[i] = self.now
                i += 1
            elif c == FREE:
                if npend[i]:
                    self.blocked_free[p] = i
                    break
                self.fin[i] = self.now
                i += 1
            elif c == BARRIER:
                self.reach_barrier(i)
                return
            elif c == END:
                self.fin[i] = self.now
                i += 1
                break
            else:  # started at issue: INPUT, OUTPUT, LOAD, SEND, RECV, GEMM, ACC
                i += 1
                self.pc[p] = i
                if c == INPUT:
                    self.applied(i - 1)
                    self.complete(i - 1)
                elif not npend[i - 1]:
                    self.ready(i - 1)
        self.pc[p] = i

    def reach_barrier(self, i: i64) -> None:
        """Program prog[i] waits at barrier i; the last one to arrive releases them all."""
        waiting = self.barrier_waiting
        waiting.append(i)
        if len(waiting) < self.nprog:
            self.pc[self.prog[i]] = i
            return
        for b in waiting:
            self.fin[b] = self.now
            self.pc[self.prog[b]] = b + 1
            self.worklist.append(self.prog[b])
        waiting.clear()
