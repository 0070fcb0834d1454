"""The simulator's event loop over flattened programs; `engine.run` drives it.

This module is compiled with mypyc when the project is installed (setup.py) and runs as plain
Python otherwise; both give the same results bit for bit (tests/test_sim_loop.py runs the two
side by side). To stay compilable and fast it follows mypyc's rules: every attribute and
argument is typed, state lives on one native class (`Loop`) whose methods call each other
directly, and it imports nothing but the standard library and the opcode numbers. The model it
implements is described in `backends/sim/engine.py` and docs/simulator.md.

Heap entries are `(time, seq, kind, x)`; `seq` is unique, so entries at equal times are served
first-come first-served and nothing after it is ever compared.
"""

from __future__ import annotations

import heapq
from typing import Final

from dialects.cisa_opcodes import ACC, ALLOC, BARRIER, END, FREE, GEMM, INPUT, LOAD, RECV, SEND

ENGINE_DONE: Final = 0  # an engine op finishes
FLOW_DONE: Final = 1  # a flow's last byte leaves its source
ARRIVE: Final = 2  # a flow's last byte arrives

Span = tuple[int, int, float, float, int]  # (0 engine / 1 resource, its index, start, end, op)


class Loop:
    """The state of one run, as lists indexed by instruction, program, channel or resource.

    Flows, one per LOAD or SEND, are indexed by that instruction (their owner): bytes not yet
    sent, rate, time of the last rate change, seq of the flow's valid heap entry (a reschedule
    pushes a newer one and the older goes stale) and start time.
    """

    def __init__(
        self,
        op: list[int],
        prog: list[int],
        nbytes: list[int],
        arg: list[int],
        pair: list[int],
        dependents: list[list[int]],
        npend: list[int],
        starts: list[int],
        engine_queue: list[list[int]],
        channel_queue: list[list[int]],
        paths: list[tuple[int, ...]],
        solo_rate: list[float],
        hop_latency: list[int],
        capacity: list[float],
        ops_per_cycle: float,
        trace: bool,
        record_order: bool,
    ) -> None:
        n = len(op)
        nprog = len(starts)
        self.op = op
        self.prog = prog
        self.nbytes = nbytes
        self.arg = arg
        self.pair = pair
        self.dependents = dependents
        self.npend: list[int] = list(npend)
        self.nprog = nprog
        self.paths = paths
        self.solo_rate = solo_rate  # a flow's rate while it has its resources to itself
        self.hop_latency = hop_latency  # cycles from a flow's last byte leaving to arriving
        self.cap = capacity
        self.inv_rate: float = 1.0 / ops_per_cycle
        self.trace = trace
        self.record_order = record_order

        self.fin: list[float] = [-1.0] * n
        self.rdy: list[bool] = [False] * (n + 1)  # n ends every queue below and is never ready
        self.pc: list[int] = list(starts)
        self.eng_q: list[list[int]] = [[*queue, n] for queue in engine_queue]
        self.eng_ptr: list[int] = [0] * nprog
        self.eng_busy: list[bool] = [False] * nprog
        self.ch_q: list[list[int]] = [[*queue, n] for queue in channel_queue]
        self.ch_ptr: list[int] = [0] * len(channel_queue)
        self.ch_busy: list[bool] = [False] * len(channel_queue)
        self.blocked_free: list[int] = [-1] * nprog
        self.barrier_waiting: list[int] = []
        self.worklist: list[int] = []
        # With record_order: instructions in the order their data effects apply (numerics).
        self.order: list[int] = []
        self.spans: list[Span] = []

        self.flow_rem: list[float] = [0.0] * n
        self.flow_rate: list[float] = [0.0] * n
        self.flow_t: list[float] = [0.0] * n
        self.flow_seq: list[int] = [0] * n
        self.flow_start: list[float] = [0.0] * n
        nres = len(capacity)
        self.res_flows: list[list[int]] = [[] for _ in range(nres)]  # owners of its flows
        self.res_busy: list[float] = [0.0] * nres  # cycles with at least one flow on it
        self.res_since: list[float] = [0.0] * nres
        self.share: list[float] = list(capacity)  # capacity / active flows

        self.heap: list[tuple[float, int, int, int]] = []
        self.seq = 0  # of the last heap entry
        self.now = 0.0

    def push(self, time: float, kind: int, x: int) -> int:
        self.seq += 1
        heapq.heappush(self.heap, (time, self.seq, kind, x))
        return self.seq

    def applied(self, i: int) -> None:
        """Instruction i's data effect applies now (recorded for the numerics check)."""
        if self.record_order:
            self.order.append(i)

    def run(self) -> None:
        """Issue every program, then serve events until none is left."""
        worklist = self.worklist
        heap = self.heap
        for p in range(self.nprog):
            self.issue(p)
        while True:
            while worklist:
                self.issue(worklist.pop(0))
            if not heap:
                break
            now, s, kind, x = heapq.heappop(heap)
            self.now = now
            if kind == FLOW_DONE:
                if s == self.flow_seq[x]:
                    self.flow_done(x)
            elif kind == ENGINE_DONE:
                self.engine_done(x)
            else:
                self.complete(x)

    def complete(self, i: int) -> None:
        self.fin[i] = self.now
        npend = self.npend
        pc = self.pc
        for d in self.dependents[i]:
            left = npend[d] - 1
            npend[d] = left
            if left:
                continue
            p = self.prog[d]
            if d < pc[p]:
                self.ready(d)
            elif self.blocked_free[p] == d:
                self.blocked_free[p] = -1
                self.worklist.append(p)

    def ready(self, i: int) -> None:
        self.rdy[i] = True
        c = self.op[i]
        if c == GEMM or c == ACC:
            p = self.prog[i]
            if not self.eng_busy[p] and self.eng_q[p][self.eng_ptr[p]] == i:
                self.start_engine(p, i)
        elif c == RECV:
            other = self.pair[i]
            if self.rdy[other]:
                self.applied(i)
                self.start_flow(other)
        elif c == SEND:
            other = self.pair[i]
            if self.rdy[other]:
                self.applied(other)
                self.start_flow(i)
        elif c == LOAD:
            ch = self.arg[i]
            if not self.ch_busy[ch] and self.ch_q[ch][self.ch_ptr[ch]] == i:
                self.start_load(ch, i)
        else:  # OUTPUT
            self.applied(i)
            self.complete(i)

    def start_engine(self, p: int, i: int) -> None:
        self.eng_busy[p] = True
        self.eng_ptr[p] += 1
        now = self.now
        end = now + self.arg[i] * self.inv_rate
        self.applied(i)
        self.push(end, ENGINE_DONE, i)
        if self.trace:
            self.spans.append((0, p, now, end, i))

    def engine_done(self, i: int) -> None:
        p = self.prog[i]
        self.eng_busy[p] = False
        self.complete(i)
        queue = self.eng_q[p]
        head = queue[self.eng_ptr[p]]
        if self.rdy[head]:
            self.start_engine(p, head)

    def start_load(self, ch: int, i: int) -> None:
        self.ch_busy[ch] = True
        self.ch_ptr[ch] += 1
        self.applied(i)
        self.start_flow(i)

    def start_flow(self, owner: int) -> None:
        now = self.now
        res = self.paths[owner]
        res_flows = self.res_flows
        alone = True
        for r in res:
            flows = res_flows[r]
            if flows:
                alone = False
            else:
                self.res_since[r] = now
            flows.append(owner)
        size = float(self.nbytes[owner])
        self.flow_rem[owner] = size
        self.flow_t[owner] = now
        if self.trace:
            self.flow_start[owner] = now
        if alone:  # the common case: nothing else to reschedule
            rate = self.solo_rate[owner]
            self.flow_rate[owner] = rate
            self.flow_seq[owner] = self.push(now + size / rate, FLOW_DONE, owner)
        else:
            self.flow_rate[owner] = 0.0
            self.reschedule_around(res)

    def reschedule_around(self, res: tuple[int, ...]) -> None:
        """Give the flows on `res` their new rates. A flow's rate depends only on the flow
        counts of its own resources, so only flows sharing a resource with the one that started
        or ended can change rate."""
        cap, share, res_flows = self.cap, self.share, self.res_flows
        affected: list[int] = []
        for r in res:
            count = len(res_flows[r])
            share[r] = cap[r] / count if count else cap[r]
            for f in res_flows[r]:
                if f not in affected:
                    affected.append(f)
        now = self.now
        for f in affected:
            rate = min([share[r] for r in self.paths[f]])
            old = self.flow_rate[f]
            if rate != old:
                rem = self.flow_rem[f] - old * (now - self.flow_t[f])
                if rem < 0.0:
                    rem = 0.0
                self.flow_rem[f] = rem
                self.flow_rate[f] = rate
                self.flow_t[f] = now
                self.flow_seq[f] = self.push(now + rem / rate, FLOW_DONE, f)

    def flow_done(self, owner: int) -> None:
        now = self.now
        res = self.paths[owner]
        others = False
        for r in res:
            flows = self.res_flows[r]
            flows.remove(owner)
            if flows:
                others = True
            else:
                self.res_busy[r] += now - self.res_since[r]
                self.share[r] = self.cap[r]
        if self.trace:
            for r in res:
                self.spans.append((1, r, self.flow_start[owner], now, owner))
        if others:
            self.reschedule_around(res)
        if self.op[owner] == LOAD:
            ch = self.arg[owner]
            self.ch_busy[ch] = False
            target = owner
            head = self.ch_q[ch][self.ch_ptr[ch]]
            if self.rdy[head]:
                self.start_load(ch, head)
        else:
            target = self.pair[owner]
            self.complete(owner)
        latency = self.hop_latency[owner]
        if latency:
            self.push(now + latency, ARRIVE, target)
        else:
            self.complete(target)

    def issue(self, p: int) -> None:
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

    def reach_barrier(self, i: int) -> None:
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
