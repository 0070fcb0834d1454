"""`lower-to-cisa{keep-plan=true|false}`: one `cisa.program` per chiplet from the plan.

The programs are appended to the module; the `moe.layer` (the numerics reference) and the
`chiplet.system` attribute stay. With `keep-plan=true` (default) the `chiplet.*` plan ops stay
too, as a record of the decisions; `keep-plan=false` erases them.

FSE-DP (the plan has trajectories). Every chiplet allocates its tokens' input `x` (filled by
`cisa.input`) and output `y`, then visits its slices in the global load order. At a stop it
allocates a weight buffer, fills it (`load` at the entry, from the slice's channel with the next
`seq` of that channel; else `recv` from the previous stop), applies it to its tokens routed to
the expert (`gemm`, none when it holds no such token) and `send`s it on to the next stop. Weight
buffers form a ring of `slots` buffers (`chiplet.buffers`): before an `alloc` the oldest buffers
are freed while `slots` are live, or `slots - reserve` for a DDR load (R4). At the end: `output
y`, free everything, `end`. Because every program and every channel follows the same global
order, the earliest unfinished slice can always progress: no deadlock (docs/compiler.md).

EP and Hydra (the plan has `chiplet.placement`). Each chiplet first gathers, for every
`chiplet.dispatch` it is the source of, the listed rows of `x` into a fresh buffer
(`accumulate`) and sends it to the home; it posts a `recv` (and allocates an output buffer) for
every dispatch it is the home of. Then it streams its home experts' slices in load order through
its ring (one weight buffer per slice; with one slot nothing is prefetched) and applies each to
its own tokens and to every received buffer. Then it returns every received buffer's partial
outputs, receives its own returns and adds them into `y` (`accumulate`), outputs `y` and ends.

Before (one slice of expert 0, tokens 0 and 1 on chiplet 0, token 2 on chiplet 1):

```mlir
chiplet.expert 0 slices 1 bytes 192 tokens 3 {channels = array<i64: 0>, order = array<i64: 0>,
    stops = [array<i64: 0, 1>]}
chiplet.buffers slots 2 reserve 1 bytes 192
```

After `lower-to-cisa{keep-plan=false}` (chiplet 0; chiplet 1 receives with `recv ... tag 0`):

```mlir
cisa.program @chiplet0 chiplet 0 {
  %a0 = cisa.alloc act bytes 32 tokens array<i32: 0, 1>
  cisa.input %a0
  %a1 = cisa.alloc act bytes 32 tokens array<i32: 0, 1>
  %w2 = cisa.alloc weight bytes 192
  cisa.load %w2 channel 0 seq 0 bytes 192 expert 0 slice 0 of 1
  cisa.gemm %w2, %a0, %a1 expert 0 slice 0 of 1 tokens array<i32: 0, 1> ops 768
  cisa.send %w2 to 1 tag 0 bytes 192
  cisa.free %w2
  cisa.output %a1
  cisa.free %a0
  cisa.free %a1
  cisa.end
}
```

The programs are built as data (`dialects/cisa_model.py`), not as xDSL ops: a layer lowers to
10^4-10^6 instructions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects import cisa
from dialects.chiplet import BuffersOp, DispatchOp, ExpertOp, PartitionOp
from dialects.cisa_model import ACT, WEIGHT, CodeBuilder
from dialects.cisa_opcodes import ACC, END, FREE, GEMM, INPUT, LOAD, OUTPUT, RECV, SEND
from fsedp_compiler import limits
from passes._plan import (
    FsedpPass,
    Layer,
    expert_chiplet_tokens,
    expert_homes,
    find_ops,
    int_array,
    load_order,
    read_layer,
    require_experts,
    require_op,
    tokens_by_chiplet,
    trajectories,
    trajectory_parents,
)

PLAN_OPS = ("chiplet.partition", "chiplet.expert", "chiplet.placement", "chiplet.dispatch")
PLAN_OPS += ("chiplet.buffers",)


class ProgramBuilder:
    """Appends instructions to one chiplet's program (`cisa_model.CodeBuilder`): buffers are
    integer ids, and the program is data until something asks for ops (dialects/cisa.py)."""

    def __init__(self, chiplet: int, token_bytes: int, slots: int):
        self.chiplet = chiplet
        self.token_bytes = token_bytes
        self.slots = slots
        self.code = CodeBuilder()
        self.ring: deque[int] = deque()
        self.x: int | None = None
        self.y: int | None = None
        self.held: list[int] = []  # act buffers freed at the very end
        self._token_tuples: dict[tuple[int, ...], tuple[int, ...]] = {}

    def _tokens(self, tokens: list[int]) -> tuple[int, ...]:
        """`tokens` as a tuple; every slice of an expert applies to the same tokens, so the
        tuple is shared."""
        key = tuple(tokens)
        return self._token_tuples.setdefault(key, key)

    def alloc_act(self, tokens: list[int]) -> int:
        return self.code.alloc(ACT, len(tokens) * self.token_bytes, self._tokens(tokens))

    def alloc_weight(self, nbytes: int, reserve: int = 0) -> int:
        """A weight buffer on the ring: free the oldest while `slots - reserve` are live."""
        while self.ring and len(self.ring) >= self.slots - reserve:
            self.free(self.ring.popleft())
        buf = self.code.alloc(WEIGHT, nbytes)
        self.ring.append(buf)
        return buf

    def free(self, buf: int) -> None:
        self.code.add(FREE, (buf,))

    def free_ring(self) -> None:
        while self.ring:
            self.free(self.ring.popleft())

    def open(self, tokens: list[int]) -> None:
        """Input and output rows of the chiplet's own tokens (none if it holds no token)."""
        if tokens:
            self.x = self.alloc_act(tokens)
            self.code.add(INPUT, (self.x,))
            self.y = self.alloc_act(tokens)

    def load(self, buf: int, channel: int, seq: int, nbytes: int, ref) -> None:
        self.code.add(LOAD, (buf,), (channel, seq, nbytes, ref.expert, ref.index, ref.slices))

    def send(self, buf: int, to: int, tag: int, nbytes: int) -> None:
        self.code.add(SEND, (buf,), (to, tag, nbytes))

    def recv(self, buf: int, src: int, tag: int, nbytes: int) -> None:
        self.code.add(RECV, (buf,), (src, tag, nbytes))

    def gemm(self, w: int, x: int, y: int, ref, tokens: list[int], ops_per_token: int) -> None:
        args = (ref.expert, ref.index, ref.slices, ops_per_token * len(tokens))
        self.code.add(GEMM, (w, x, y), args, self._tokens(tokens))

    def accumulate(self, src: int, dst: int, tokens: list[int], hidden: int) -> None:
        self.code.add(ACC, (src, dst), (len(tokens) * hidden,), self._tokens(tokens))

    def close(self) -> cisa.ProgramOp:
        self.free_ring()
        if self.y is not None:
            self.code.add(OUTPUT, (self.y,))
        for buf in (*self.held, self.x, self.y):
            if buf is not None:
                self.free(buf)
        self.code.add(END)
        return cisa.ProgramOp(self.chiplet, self.code.finish())


@dataclass(frozen=True)
class LowerToCisaPass(FsedpPass):
    name = "lower-to-cisa"

    keep_plan: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        if any(o.name == "cisa.program" for o in op.body.block.ops):
            raise self.error("the module already holds cisa programs")
        experts = require_experts(op, layer, self.name)
        owners = require_op(op, PartitionOp, self.name, "partition-tokens").owners.get_values()
        buffers = require_op(op, BuffersOp, self.name, "virtualize")
        plan = self._slice_plan(layer, experts)
        builders = [
            ProgramBuilder(c, layer.token_bytes, buffers.slots.value.data)
            for c in range(layer.chiplets)
        ]
        for builder, tokens in zip(
            builders, tokens_by_chiplet(owners, layer.chiplets), strict=True
        ):
            builder.open(tokens)
        per_chiplet = expert_chiplet_tokens(layer, owners)
        homes = expert_homes(op)
        self._check_size(layer, plan, per_chiplet, homes, len(find_ops(op, DispatchOp)))
        exchange = _Exchange(op, layer, builders, per_chiplet, homes) if homes else None
        if exchange is not None:
            self._check_dispatch(layer, per_chiplet, homes, exchange.plan)
            exchange.send_inputs()
        self._stream(layer, experts, plan, builders, per_chiplet, exchange, buffers)
        if exchange is not None:
            exchange.return_outputs()
        programs = [builder.close() for builder in builders]
        if not self.keep_plan:
            for plan_op in [o for o in op.body.block.ops if o.name in PLAN_OPS]:
                plan_op.detach()
                plan_op.erase()
        op.body.block.add_ops(programs)

    def _check_size(self, layer, plan, per_chiplet, homes, dispatches: int) -> None:
        """Refuse, before building anything, programs too large to compile and simulate in
        this machine's memory (README: Limits), naming the estimate."""
        count = instruction_bound(layer, plan, per_chiplet, homes, dispatches)
        if count > limits.MAX_INSTRUCTIONS:
            gib = count * limits.SIMULATOR_BYTES_PER_INSTRUCTION / 2**30
            raise self.error(
                f"the programs would hold up to {count} instructions, more than the limit of "
                f"{limits.MAX_INSTRUCTIONS} per layer (README: Limits; simulating them would take "
                f"about {gib:.0f} GiB); use fewer slices (the strategy option `slices`), fewer "
                "tokens or fewer chiplets"
            )

    def _slice_plan(self, layer: Layer, experts: list[ExpertOp]) -> dict[int, tuple]:
        """Per expert id: its channels, stops and parents, one entry per slice."""
        plan = {}
        for expert in experts:
            e = expert.expert.value.data
            channels, stops = int_array(expert, "channels"), trajectories(expert)
            if channels is None:
                raise self.error(
                    f"{layer.expert_name(e)} has no DDR channels; run distribute-slices first"
                )
            if stops is None:
                raise self.error(
                    f"{layer.expert_name(e)} has no trajectories; run schedule-trajectories first"
                )
            plan[e] = (channels, stops, trajectory_parents(expert))
        return plan

    def _stream(
        self,
        layer: Layer,
        experts: list[ExpertOp],
        plan: dict[int, tuple],
        builders: list[ProgramBuilder],
        per_chiplet: dict[int, list[list[int]]],
        exchange: _Exchange | None,
        buffers: BuffersOp,
    ) -> None:
        """Every slice in the global load order: loaded at its entry, forwarded from each stop
        to the stops that receive it from there, applied at every stop to the tokens there."""
        reserve = buffers.reserve.value.data
        seq = [0] * len(layer.system.ddr)
        tag = exchange.first_free_tag if exchange is not None else 0
        stream = load_order(experts)
        if exchange is not None:
            exchange.plan_rounds(stream)
        for position, ref in enumerate(stream):
            channels, paths, parents = plan[ref.expert]
            stops, sources = paths[ref.item], parents[ref.item]
            channel = channels[ref.item]
            nbytes = layer.slice_bytes(ref.slices, ref.index)
            lo, hi = layer.slice_rows(ref.slices, ref.index)
            ops_per_token = 2 * 3 * layer.hidden * (hi - lo)
            tags = {stop: tag + k for k, stop in enumerate(stops[1:])}  # the edge into each stop
            tag += len(stops) - 1
            for stop, source in zip(stops, sources, strict=True):
                builder = builders[stop]
                if source < 0:
                    w = builder.alloc_weight(nbytes, reserve)
                    builder.load(w, channel, seq[channel], nbytes, ref)
                    seq[channel] += 1
                else:
                    w = builder.alloc_weight(nbytes)
                    builder.recv(w, source, tags[stop], nbytes)
                routed_here = exchange is not None and not layer.is_shared(ref.expert)
                if routed_here:
                    exchange.open_round(builder, ref.round)
                tokens = per_chiplet[ref.expert][stop]
                if tokens and ref.round == 0:  # a home serves its own tokens in round 0
                    builder.gemm(w, builder.x, builder.y, ref, tokens, ops_per_token)
                if routed_here:
                    exchange.apply_to_inputs(builder, w, ref, ops_per_token)
                for child, parent in zip(stops, sources, strict=True):
                    if parent == stop:
                        builder.send(w, child, tags[child], nbytes)
                if routed_here:
                    exchange.close_round_after(builder, position)

    def _check_dispatch(self, layer, per_chiplet, homes, plan) -> None:
        sent = {(src, dst): set(tokens) for src, dst, tokens, _ in plan}
        for expert, chiplets in per_chiplet.items():
            if layer.is_shared(expert):
                continue
            home = homes[expert]
            for chiplet, tokens in enumerate(chiplets):
                missing = set(tokens) - sent.get((chiplet, home), set()) if chiplet != home else ()
                if missing:
                    raise self.error(
                        f"token {min(missing)} on chiplet {chiplet} uses "
                        f"{layer.expert_name(expert)} homed on chiplet {home}, but no "
                        "chiplet.dispatch sends it there; run dispatch-tokens after place-experts"
                    )


def instruction_bound(layer, plan, per_chiplet, homes, dispatches: int) -> int:
    """At least as many instructions as `lower-to-cisa` emits for this plan, counted from it
    without building them: per slice and stop an alloc, a load or recv, a gemm and a free, a
    send per edge of its trajectory, and at a routed expert's home a gemm per source; per
    dispatch its gathers, transfers and returns; per chiplet its inputs, outputs and end."""
    count = 8 * layer.chiplets + 12 * dispatches
    for expert, (_, paths, _) in plan.items():
        sources = 0
        if homes and not layer.is_shared(expert):
            sources = sum(1 for tokens in per_chiplet.get(expert, ()) if tokens)
        for stops in paths:
            count += 5 * len(stops) - 1 + sources
    return count


class _Exchange:
    """Expert parallelism's token traffic. Every source posts, at the start, the `recv` each
    dispatch k's returned outputs will arrive in (tag 2k+1). A home serves its dispatches round
    by round: round 0 at the start, round r before its first slice of round r. Then each source
    gathers the listed rows of its `x` into a fresh buffer (`accumulate`) and sends it (tag 2k);
    the home posts the `recv`s and allocates output rows, and its slices of the round apply to
    them. After its last slice of round r the home frees the inputs, sends the outputs back and
    frees them (the last round at the end of the program). At the end every source adds its
    returned outputs into `y`."""

    def __init__(self, module, layer, builders, per_chiplet, homes):
        self.layer = layer
        self.builders = builders
        self.per_chiplet = per_chiplet
        self.homes = homes
        self.plan = [
            (d.src.value.data, d.dst.value.data, list(d.tokens.get_values()), d.round_index)
            for d in find_ops(module, DispatchOp)
        ]
        self.first_free_tag = 2 * len(self.plan)
        # per home: the dispatches of its open round, (k, src, inputs, outputs)
        self.incoming: list[list[tuple[int, int, int, int]]] = [[] for _ in builders]
        self.returns: list[list[tuple[int, list[int], int]]] = [[] for _ in builders]
        self.opened: list[int] = [-1 for _ in builders]  # per home: its open round
        self.closing: dict[int, int] = {}  # stream position -> round its home closes there

    def send_inputs(self) -> None:
        """At the start: every source posts the `recv`s of its returned outputs; round 0's
        inputs are sent and their `recv`s posted."""
        layer, builders = self.layer, self.builders
        for k, (src, dst, tokens, _) in enumerate(self.plan):
            builder = builders[src]
            returned = builder.alloc_act(tokens)
            builder.recv(returned, dst, 2 * k + 1, len(tokens) * layer.token_bytes)
            self.returns[src].append((k, tokens, returned))
            builder.held.append(returned)
        for home in sorted({dst for _, dst, _, r in self.plan if r == 0}):
            self._open(home, 0)

    def _send(self, k: int) -> None:
        """Dispatch k: the source gathers its rows and sends them to the home."""
        src, dst, tokens, _ = self.plan[k]
        builder = self.builders[src]
        gathered = builder.alloc_act(tokens)
        builder.accumulate(builder.x, gathered, tokens, self.layer.hidden)
        builder.send(gathered, dst, 2 * k, len(tokens) * self.layer.token_bytes)
        builder.held.append(gathered)

    def plan_rounds(self, stream) -> None:
        """Where each home's rounds close: after its last slice of the round, except the last
        round of a home, which closes at the end of the program."""
        last: dict[tuple[int, int], int] = {}
        for position, ref in enumerate(stream):
            if not self.layer.is_shared(ref.expert):
                last[(self.homes[ref.expert], ref.round)] = position
        final = {home: max(r for h, r in last if h == home) for home, _ in last}
        self.closing = {p: r for (home, r), p in last.items() if r < final[home]}

    def open_round(self, builder: ProgramBuilder, round_: int) -> None:
        if self.opened[builder.chiplet] != round_:
            self._open(builder.chiplet, round_)

    def _open(self, home: int, round_: int) -> None:
        """Round `round_` of `home` begins: its sources send their inputs (emitted now, so that
        in every program they come after everything earlier in the load order: a send waiting
        for its receiver never holds up the transfers of earlier slices), and the home posts
        their `recv`s and allocates their output rows."""
        self.opened[home] = round_
        builder, layer = self.builders[home], self.layer
        for k, (src, dst, tokens, r) in enumerate(self.plan):
            if dst == home and r == round_:
                self._send(k)
                inputs = builder.alloc_act(tokens)
                builder.recv(inputs, src, 2 * k, len(tokens) * layer.token_bytes)
                outputs = builder.alloc_act(tokens)
                self.incoming[home].append((k, src, inputs, outputs))

    def apply_to_inputs(self, builder: ProgramBuilder, w: int, ref, ops_per_token) -> None:
        """At a routed expert's home: the slice on the open round's received tokens using it."""
        for _, src, inputs, outputs in self.incoming[builder.chiplet]:
            tokens = self.per_chiplet[ref.expert][src]
            if tokens:
                builder.gemm(w, inputs, outputs, ref, tokens, ops_per_token)

    def close_round_after(self, builder: ProgramBuilder, position: int) -> None:
        if position in self.closing:
            self._close(builder, free_outputs=True)

    def _close(self, builder: ProgramBuilder, *, free_outputs: bool) -> None:
        layer = self.layer
        for _, _, inputs, _ in self.incoming[builder.chiplet]:
            builder.free(inputs)
        for k, src, _, outputs in self.incoming[builder.chiplet]:
            count = len(self.plan[k][2])
            builder.send(outputs, src, 2 * k + 1, count * layer.token_bytes)
            if free_outputs:
                builder.free(outputs)
            else:
                builder.held.append(outputs)
        self.incoming[builder.chiplet] = []

    def return_outputs(self) -> None:
        for builder in self.builders:
            builder.free_ring()
            self._close(builder, free_outputs=False)
        for builder in self.builders:
            for _, tokens, returned in self.returns[builder.chiplet]:
                builder.accumulate(returned, builder.y, tokens, self.layer.hidden)
