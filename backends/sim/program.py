"""The lowered programs as the engine runs them: compact integer lists, built once.

Every instruction of every program gets a global index `i` (its gid in
`dialects.cisa_model.ModuleCode`: the programs one after the other, in chiplet order). Per
instruction the lists hold its opcode, program, main buffer, bytes, one integer argument and the
earlier instructions of the same program it must wait for (`deps`), which follow from how it uses
its buffers (`cisa_model.OPCODES`: an instruction that reads a buffer waits for its last writer;
one that writes it also for the readers since).

Before anything runs the programs must obey the rules of dialects/cisa_rules.py (the ones
`verify-programs` and the xDSL verifier apply); the first violation is raised as `SimError`,
as is a missing machine or program.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from librt.vecs import vec
from mypy_extensions import i64
from xdsl.dialects.builtin import ModuleOp

from backends.sim.machine import Machine
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import ProgramOp, programs_of
from dialects.cisa_model import (
    DEFINE,
    ENGINE,
    OPCODES,
    READ,
    RELEASE,
    WEIGHT,
    ModuleCode,
    Rows,
    run_starts,
)
from dialects.cisa_opcodes import ALLOC, FREE, GEMM, LOAD, RECV, SEND
from dialects.cisa_rules import Machine as RuleMachine
from dialects.cisa_rules import module_violations, program_violations, transfer_partners
from dialects.moe import LayerOp
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.record import module_options, module_strategy


class SimError(FsedpError):
    """A program the simulator cannot run, or a run that went wrong (deadlock, overflow, ...)."""


def _list():
    return field(default_factory=list)


def _vec_field():
    return field(default_factory=vec[i64])


def _rows_field():
    return field(default_factory=lambda: Rows(vec[i64](), vec[i64]([0])))


@dataclass
class FlatProgram:
    """The whole machine's instructions as columns indexed by global instruction id, packed
    (`vec[i64]`, the event loop's own arrays: `engine.run` hands them over without a copy).

    Per instruction: `op` (opcode), `prog` (program index), `bufs` (its buffer operands), `arg`
    (LOAD: channel; SEND/RECV: peer chiplet; GEMM/ACC: ops; ALLOC/FREE: buffer kind),
    `dependents` (the later instructions of its program that wait for it, as `Rows`) and `flow`
    (the flow of a LOAD or a SEND, a RECV's that of its SEND, or -1). Derived on request: `pair`
    (the SEND/RECV partner, or -1), `deps` (what each instruction waits for, in order) and
    `npend` (how many). Per program: `chiplet`, `start` (first instruction),
    `engine_queue` (its GEMM/ACC in program order), `visits` and `zero_token_visits`. Per
    channel: `channel_queue` (its LOADs in seq order). Per buffer: `buf_kind`, `buf_bytes`,
    `buf_tokens` (the act buffer's token ids). Per flow (`_flows`), in the order of their LOAD
    or SEND: `flow_owner` (that instruction), `flow_target` (what completes when the last byte
    arrives: the LOAD, or the SEND's RECV), `flow_bytes`, `path` (the resources it occupies,
    `Machine` numbering, as `Rows`), `solo_rate` (its rate when alone) and `flow_latency` (its
    hop latency).
    `sram_ops`, `sram_delta`, `sram_weight`: per program, its ALLOCs and FREEs in program
    order, the bytes each adds (negative for FREE), and whether the buffer holds weights.
    """

    machine: Machine
    chiplet: list[int] = _list()
    start: list[int] = _list()
    op: vec[i64] = _vec_field()
    prog: vec[i64] = _vec_field()
    arg: vec[i64] = _vec_field()
    bufs: Sequence[tuple[int, ...]] = _list()
    dependents: Rows = _rows_field()
    flow: vec[i64] = _vec_field()
    channel_queue: list[vec[i64]] = _list()
    engine_queue: list[vec[i64]] = _list()
    buf_kind: list[int] = _list()
    buf_bytes: list[int] = _list()
    buf_tokens: list[tuple[int, ...]] = _list()
    visits: list[int] = _list()
    zero_token_visits: list[int] = _list()
    flow_owner: vec[i64] = _vec_field()
    flow_target: vec[i64] = _vec_field()
    flow_bytes: vec[i64] = _vec_field()
    path: Rows = _rows_field()
    solo_rate: vec[float] = field(default_factory=vec[float])
    flow_latency: vec[i64] = _vec_field()
    sram_ops: list[np.ndarray] = _list()
    sram_delta: list[np.ndarray] = _list()
    sram_weight: list[np.ndarray] = _list()
    code: ModuleCode | None = field(default=None, repr=False)  # the programs, for fields and text
    layer: LayerOp | None = None
    strategy: str | None = None
    strategy_options: dict[str, object] = field(default_factory=dict)

    @property
    def num_instructions(self) -> int:
        return len(self.op)

    @functools.cached_property
    def deps(self) -> Rows:
        """What each instruction waits for, in the order of its waits (`_edges`). Derived on
        request: only a deadlock's message reads it."""
        ops = self.code.opcodes().astype(np.int64)
        waiter, target = _edges(*_buffer_uses(ops, *self.code.bufs.arrays(), len(ops)))
        return _rows(target, _starts(np.bincount(waiter, minlength=len(ops))))

    @functools.cached_property
    def pair(self) -> np.ndarray:
        """Per instruction: the send or recv it pairs with (the tag rule), -1 for none."""
        return transfer_partners(self.code)

    @property
    def npend(self) -> np.ndarray:
        """How many instructions each one waits for (the times it is someone's dependent)."""
        return np.bincount(self.dependents.arrays()[0], minlength=len(self.op))

    def traffic(self) -> tuple[list[int], list[int], list[int]]:
        """Static totals: engine ops per program, and bytes and flows per resource."""
        arg = np.frombuffer(self.arg, dtype=np.int64)
        ops = [int(arg[np.frombuffer(q, dtype=np.int64)].sum()) for q in self.engine_queue]
        nres = self.machine.num_channels + len(self.machine.links)
        flat, at = self.path.arrays()
        moved = np.frombuffer(self.flow_bytes, dtype=np.int64)
        res_bytes = np.zeros(nres, dtype=np.int64)
        np.add.at(res_bytes, flat, np.repeat(moved, np.diff(at)))
        return ops, res_bytes.tolist(), np.bincount(flat, minlength=nres).tolist()

    def describe(self, i: int) -> str:
        """`instruction k (its text)`, k being its index in its program."""
        return self.code.describe(i)

    def field(self, i: int, name: str) -> int:
        """Integer field `name` of instruction i (`cisa_model.OPCODES`)."""
        return self.code.field(i, name)


def find_ops(module: ModuleOp) -> tuple[list[ProgramOp], list[LayerOp]]:
    """Programs and layers at any depth, without walking into program bodies."""
    programs: list[ProgramOp] = []
    layers: list[LayerOp] = []
    stack = list(reversed(list(module.body.block.ops)))
    while stack:
        op = stack.pop()
        if isinstance(op, ProgramOp):
            programs.append(op)
        elif isinstance(op, LayerOp):
            layers.append(op)
        else:
            for region in reversed(op.regions):
                for block in reversed(list(region.blocks)):
                    stack.extend(reversed(list(block.ops)))
    return programs, layers


def system_attr(module: ModuleOp) -> SystemAttr:
    system = module.attributes.get(SYSTEM_ATTR_NAME)
    if not isinstance(system, SystemAttr):
        raise SimError(
            f"the module has no `{SYSTEM_ATTR_NAME}` attribute; the simulator needs the machine "
            "description (compile a .moe file, or add the attribute)"
        )
    return system


def flatten(module: ModuleOp) -> FlatProgram:
    machine = Machine.from_system(system_attr(module))
    _, layers = find_ops(module)
    try:
        programs = programs_of(module)
    except ValueError as error:
        raise SimError(str(error)) from None
    if not programs:
        raise SimError(
            "the module holds no cisa.program; lower it to per-chiplet programs first "
            "(fsedp-sim compiles .moe files itself)"
        )
    rules = RuleMachine(machine.num_chiplets, machine.num_channels)
    for chiplet, program in sorted(programs.items()):
        violations = program_violations(program, chiplet, rules)
        if violations:
            raise SimError(str(violations[0]))
    violations = module_violations(programs, rules)
    if violations:
        raise SimError(str(violations[0]))
    flat = _build(machine, ModuleCode.of(programs))
    flat.layer = layers[0] if layers else None
    flat.strategy = module_strategy(module)
    flat.strategy_options = module_options(module) if flat.strategy else {}
    return flat


def _vec(values: np.ndarray) -> vec[i64]:
    return vec[i64](values.astype(np.int64, copy=False))


def _rows(values: np.ndarray, at: np.ndarray) -> Rows:
    return Rows(_vec(values), _vec(at))


def _starts(lengths: np.ndarray) -> np.ndarray:
    """Where each of rows of these lengths starts, one after the other, and the total."""
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


# What each operand access does to the order of a program's instructions (`_edges`): a read
# waits for the buffer's last writer; a write or update also for the readers since, and becomes
# the last writer; a release (free) waits like a write and records nothing; a define (alloc)
# neither waits nor records.
_R, _W, _F, _NONE = 0, 1, 2, 3
_ACCESS = np.full((len(OPCODES), max(len(o.operands) for o in OPCODES)), _NONE, dtype=np.int64)
for _op in OPCODES:
    for _k, _operand in enumerate(_op.operands):
        _ACCESS[_op.code, _k] = {READ: _R, RELEASE: _F, DEFINE: _NONE}.get(_operand.access, _W)


def _build(machine: Machine, code: ModuleCode) -> FlatProgram:
    """The engine's columns from well-formed programs (the rules have been checked). Each
    numpy column is let go as soon as its vec is made and nothing else needs it (the vecs are
    read through views after)."""
    ops = code.opcodes().astype(np.int64)
    n = len(ops)
    bflat, bat = code.bufs.arrays()
    dependents = _dependents(ops, bflat, bat, n)  # the most temporary memory: before the rest
    aflat, aat = code.args.arrays()
    lengths = [len(span) for span in code.spans.values()]
    prog = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    buf = np.full(n, -1, dtype=np.int64)  # the first buffer operand
    has_buf = np.diff(bat) > 0
    buf[has_buf] = bflat[bat[:-1][has_buf]]
    del has_buf
    kind = np.asarray(code.buffer_kind, dtype=np.int64)
    size = np.asarray(code.buffer_bytes, dtype=np.int64)
    nbytes, arg = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    memory = (ops == ALLOC) | (ops == FREE)
    arg[memory] = kind[buf[memory]]
    nbytes[memory] = size[buf[memory]]
    moves = (ops == LOAD) | (ops == SEND) | (ops == RECV)  # channel/to/from, _, bytes
    arg[moves], nbytes[moves] = aflat[aat[:-1][moves]], aflat[aat[:-1][moves] + 2]
    del moves
    engine = np.isin(ops, [o.code for o in OPCODES if o.unit == ENGINE])
    arg[engine] = aflat[aat[1:][engine] - 1]  # ops, the last field
    starts = [span.start for span in code.spans.values()]
    f = FlatProgram(
        machine=machine,
        chiplet=list(code.spans),
        start=starts,
        op=_vec(ops),
        prog=_vec(prog),
        arg=_vec(arg),
        bufs=code.bufs,
        dependents=dependents,
        channel_queue=_channel_queues(code, ops, machine.num_channels),
        engine_queue=_per_program(np.flatnonzero(engine), prog, len(lengths)),
        buf_kind=code.buffer_kind,
        buf_bytes=code.buffer_bytes,
        buf_tokens=code.buffer_tokens,
        code=code,
    )
    del engine, arg
    f.visits, f.zero_token_visits = _visits(ops, bflat, bat, kind, prog, len(lengths))
    sram_ops = np.flatnonzero(memory)
    del memory, ops, prog  # from here on the opcodes are read through the vec
    weight = kind[buf[sram_ops]] == WEIGHT
    is_alloc = np.frombuffer(f.op, dtype=np.int64)[sram_ops] == ALLOC
    delta = np.where(is_alloc, nbytes[sram_ops], -nbytes[sram_ops])
    cuts = np.searchsorted(sram_ops, starts[1:])
    f.sram_ops = np.split(sram_ops, cuts)
    f.sram_delta = np.split(delta, cuts)
    f.sram_weight = np.split(weight, cuts)
    del buf
    _flows(f, nbytes)
    return f


def _flows(f: FlatProgram, nbytes: np.ndarray) -> None:
    """The flows, one per LOAD and per paired SEND, in instruction order: the instruction, what
    completes when its last byte arrives, its bytes, the resources it holds (a LOAD its channel,
    then the links from the channel's chiplet; a SEND the links to the receiver), its rate when
    it has them to itself (the slowest one's capacity) and the cycles its last byte takes to
    arrive (`hop_latency` per link); one route per distinct (channel or sender, receiver).
    Also each instruction's flow (a RECV's is its SEND's)."""
    m = f.machine
    cap, hop = m.capacities(), m.hop_latency
    op, arg, pair = np.frombuffer(f.op, np.int64), np.frombuffer(f.arg, np.int64), f.pair
    chip = np.asarray(f.chiplet, dtype=np.int64)[np.frombuffer(f.prog, dtype=np.int64)]
    owner = np.flatnonzero((op == LOAD) | ((op == SEND) & (pair >= 0)))
    is_load = op[owner] == LOAD
    target = np.where(is_load, owner, pair[owner])
    source = np.where(is_load, arg[owner], chip[owner])  # the channel, or the sender
    # one integer per (load or send, channel or sender, receiver): unique over one column is
    # ten times faster than over rows
    span = max(m.num_channels, m.num_chiplets)
    keys = (is_load.astype(np.int64) * span + source) * m.num_chiplets + chip[target]
    unique, inverse = np.unique(keys, return_inverse=True)
    paths, rate = [], np.zeros(len(unique))
    latency = np.zeros(len(unique), dtype=np.int64)
    for k, key in enumerate(unique.tolist()):
        (load, x), y = divmod(key // m.num_chiplets, span), key % m.num_chiplets
        first, hops = ((x,), m.route(m.ddr_chiplets[x], y)) if load else ((), m.route(x, y))
        path = (*first, *hops)
        paths.append(path)
        rate[k] = min((cap[r] for r in path), default=0.0)  # to itself: no resource
        latency[k] = hop * len(hops)
    inverse = inverse.ravel()
    unique_flat, unique_at = Rows.of(paths).arrays()
    lengths = np.diff(unique_at)[inverse]
    at = _starts(lengths)
    within = np.arange(at[-1]) - np.repeat(at[:-1], lengths)
    f.path = _rows(unique_flat[np.repeat(unique_at[inverse], lengths) + within], at)
    f.flow_owner, f.flow_target, f.flow_bytes = _vec(owner), _vec(target), _vec(nbytes[owner])
    f.solo_rate, f.flow_latency = vec[float](rate[inverse]), _vec(latency[inverse])
    flow = np.full(len(op), -1, dtype=np.int64)
    flow[owner] = flow[target] = np.arange(len(owner))  # a load is its own target
    f.flow = _vec(flow)


def _per_program(gids: np.ndarray, prog: np.ndarray, nprog: int) -> list[vec[i64]]:
    cuts = np.searchsorted(prog[gids], np.arange(1, nprog))
    return [_vec(part) for part in np.split(gids, cuts)]


def _channel_queues(code: ModuleCode, ops: np.ndarray, channels: int) -> list[vec[i64]]:
    """Each channel's loads in seq order."""
    loads = np.flatnonzero(ops == LOAD)
    channel, seq = code.args.column(loads, 0), code.args.column(loads, 1)
    order = np.lexsort((loads, seq, channel))
    cuts = np.searchsorted(channel[order], np.arange(1, channels))
    return [_vec(part) for part in np.split(loads[order], cuts)]


def _dependents(ops: np.ndarray, bflat: np.ndarray, bat: np.ndarray, n: int) -> Rows:
    """Each instruction's dependents: the later instructions of its program that wait for it
    (`_edges`), in instruction order."""
    waiter, target = _edges(*_buffer_uses(ops, bflat, bat, n))
    count = np.bincount(target, minlength=n)
    order = np.argsort(target, kind="stable")  # `_edges` gives the waiters in order already
    del target
    return _rows(waiter[order], _starts(count))


def _buffer_uses(ops: np.ndarray, bflat: np.ndarray, bat: np.ndarray, n: int):
    """Every use of a buffer that orders instructions (instruction, operand slot, access,
    buffer), sorted by buffer, then instruction, then slot; 32-bit (a program's size is
    limited far below 2^31)."""
    inst = np.repeat(np.arange(n, dtype=np.int32), np.diff(bat))
    slot = (np.arange(len(bflat), dtype=np.int64) - bat[inst]).astype(np.int8)
    access = _ACCESS[ops[inst], slot].astype(np.int8)
    used = access != _NONE
    inst, slot, b, access = inst[used], slot[used], bflat[used].astype(np.int32), access[used]
    order = np.argsort(b, kind="stable")  # the uses come in (instruction, slot) order
    return inst[order], slot[order], access[order], b[order]


def _edges(inst, slot, access, b) -> tuple[np.ndarray, np.ndarray]:
    """(waiting instruction, what it waits for) pairs in the order of each one's waits: for
    each operand in order, a read gives the buffer's last writer before the instruction, a
    write (or free) the reads since that writer, in order, then the writer."""
    m = len(inst)
    pos = np.arange(m, dtype=np.int32)
    buffer_start = run_starts(b).astype(np.int32)
    run_start = run_starts(np.stack([b, inst])).astype(np.int32)  # the instruction's first use
    del b
    writes = np.where(access == _W, pos, -1).astype(np.int32)
    last_write = np.maximum.accumulate(writes) if m else writes
    del writes
    before = run_start - 1
    writer = np.where(before >= buffer_start, last_write[np.maximum(before, 0)], -1)
    writer = np.where(writer >= buffer_start, writer, -1)  # the last write of an earlier one
    del last_write, before
    # the reads between that write (or the buffer's first use) and the instruction
    reads = np.flatnonzero(access == _R).astype(np.int32)
    low = np.where(writer >= 0, writer + 1, buffer_start)
    del buffer_start
    first = np.searchsorted(reads, low).astype(np.int32)
    del low
    count = np.where(access != _R, np.searchsorted(reads, run_start) - first, 0).astype(np.int32)
    del run_start
    event = np.repeat(pos, count)
    within = np.arange(len(event), dtype=np.int32) - np.repeat(np.cumsum(count) - count, count)
    read_inst = inst[reads[np.repeat(first, count) + within]]
    del reads, first
    # edges (waiting instruction, slot, rank within the slot's waits, what it waits for)
    has_writer = writer >= 0
    w_event = pos[has_writer]
    waiter = np.concatenate([inst[event], inst[w_event]])
    key_slot = np.concatenate([slot[event], slot[w_event]]).astype(np.int64)
    rank = np.concatenate([within, count[w_event]]).astype(np.int64)
    target = np.concatenate([read_inst, inst[writer[has_writer]]])
    del event, within, read_inst, w_event, count, writer
    ranks = int(rank.max()) + 1 if len(rank) else 1
    key = (waiter.astype(np.int64) * _ACCESS.shape[1] + key_slot) * ranks + rank
    order = np.argsort(key, kind="stable")  # keys are distinct; stable (timsort) runs faster
    del key
    return waiter[order], target[order]


def _visits(ops, bflat, bat, kind, prog, nprog) -> tuple[list[int], list[int]]:
    """Per program: how many times a weight buffer was filled (a slice visit: a load or a recv
    into it), and how many of those fills no gemm read before the next fill or the end."""
    fills = np.flatnonzero((ops == LOAD) | (ops == RECV))
    fills = fills[kind[bflat[bat[fills]]] == WEIGHT]
    gemms = np.flatnonzero(ops == GEMM)
    gid = np.concatenate([fills, gemms])
    b = bflat[bat[gid]]  # a gemm's weight buffer is its first operand
    is_fill = np.repeat([True, False], [len(fills), len(gemms)])
    order = np.lexsort((gid, b))
    gid, b, is_fill = gid[order], b[order], is_fill[order]
    read = np.zeros(len(gid), dtype=bool)  # the next use of the same buffer is a gemm
    read[:-1] = (b[1:] == b[:-1]) & ~is_fill[1:]
    visits = np.bincount(prog[gid[is_fill]], minlength=nprog)
    zero = np.bincount(prog[gid[is_fill & ~read]], minlength=nprog)
    return visits.tolist(), zero.tolist()
