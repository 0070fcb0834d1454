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

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from backends.sim.machine import Machine
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import ProgramOp, programs_of
from dialects.cisa_model import (
    ENGINE,
    OPCODES,
    READ,
    RELEASE,
    WEIGHT,
    ModuleCode,
)
from dialects.cisa_opcodes import ALLOC, FREE, GEMM, LOAD, RECV, SEND
from dialects.cisa_rules import Machine as RuleMachine
from dialects.cisa_rules import module_violations, pair_transfers, program_violations
from dialects.moe import LayerOp
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.record import module_options, module_strategy


class SimError(FsedpError):
    """A program the simulator cannot run, or a run that went wrong (deadlock, overflow, ...)."""


def _list():
    return field(default_factory=list)


@dataclass
class FlatProgram:
    """The whole machine's instructions as parallel lists indexed by global instruction id.

    Per instruction: `op` (opcode), `prog` (program index), `buf` (first buffer operand or -1),
    `bufs` (all buffer operands), `nbytes` (bytes moved or allocated), `arg` (LOAD: channel;
    SEND/RECV: peer chiplet; GEMM/ACC: ops; ALLOC/FREE: buffer kind), `deps` (earlier
    instructions of its program it waits for, `npend` of them), `dependents` (the inverse) and
    `pair` (the SEND/RECV partner, or -1). Per program: `chiplet`, `start` (first instruction),
    `engine_queue` (its GEMM/ACC in program order), `visits` and `zero_token_visits`. Per channel:
    `channel_queue` (its LOADs in seq order). Per buffer: `buf_kind`, `buf_bytes`, `buf_tokens`
    (the act buffer's token ids). `path` holds the resources (`Machine` numbering) each LOAD and
    SEND occupies, `solo_rate` its flow's rate when alone and `flow_latency` its hop latency
    (all from `flows()`). `sram_ops`, `sram_delta`, `sram_weight`:
    per program, its ALLOCs and FREEs in program order, the bytes each adds (negative for
    FREE), and whether the buffer holds weights.
    """

    machine: Machine
    chiplet: list[int] = _list()
    start: list[int] = _list()
    op: list[int] = _list()
    prog: list[int] = _list()
    buf: list[int] = _list()
    nbytes: list[int] = _list()
    arg: list[int] = _list()
    bufs: list[tuple[int, ...]] = _list()
    deps: list[list[int]] = _list()
    dependents: list[list[int]] = _list()
    npend: list[int] = _list()
    pair: list[int] = _list()
    channel_queue: list[list[int]] = _list()
    engine_queue: list[list[int]] = _list()
    buf_kind: list[int] = _list()
    buf_bytes: list[int] = _list()
    buf_tokens: list[tuple[int, ...]] = _list()
    visits: list[int] = _list()
    zero_token_visits: list[int] = _list()
    path: list[tuple[int, ...]] = _list()
    solo_rate: list[float] = _list()
    flow_latency: list[int] = _list()
    sram_ops: list[list[int]] = _list()
    sram_delta: list[np.ndarray] = _list()
    sram_weight: list[np.ndarray] = _list()
    code: ModuleCode | None = field(default=None, repr=False)  # the programs, for fields and text
    layer: LayerOp | None = None
    strategy: str | None = None
    strategy_options: dict[str, object] = field(default_factory=dict)

    @property
    def num_instructions(self) -> int:
        return len(self.op)

    def flows(self) -> tuple[list[tuple[int, ...]], list[float], list[int]]:
        """Per LOAD and SEND: the resources its flow holds (a LOAD its channel, then the links
        from the channel's chiplet; a SEND the links to the receiver), its rate when it has them
        to itself (the slowest one's capacity) and the cycles its last byte takes to arrive
        (`hop_latency` per link). `()`, 0.0 and 0 for other instructions."""
        m = self.machine
        cap, hop = m.capacities(), m.hop_latency
        n = len(self.op)
        paths: list[tuple[int, ...]] = [()] * n
        rates, latencies = [0.0] * n, [0] * n
        chip, prog = self.chiplet, self.prog

        def add(instructions, first, route: tuple[int, ...]) -> None:
            path = (*first, *route)
            rate = min((cap[r] for r in path), default=0.0)  # a send to itself: no resource
            for i in instructions:
                paths[i], rates[i], latencies[i] = path, rate, hop * len(route)

        for channel, loads in enumerate(self.channel_queue):
            by_chiplet: dict[int, list[int]] = {}
            for i in loads:
                by_chiplet.setdefault(chip[prog[i]], []).append(i)
            here = m.ddr_chiplets[channel]
            for there, instructions in by_chiplet.items():
                add(instructions, (channel,), m.route(here, there))
        by_pair: dict[tuple[int, int], list[int]] = {}
        for i, partner in enumerate(self.pair):
            if partner >= 0 and self.op[i] == SEND:
                by_pair.setdefault((chip[prog[i]], chip[prog[partner]]), []).append(i)
        for (src, dst), instructions in by_pair.items():
            add(instructions, (), m.route(src, dst))
        return paths, rates, latencies

    def traffic(self) -> tuple[list[int], list[int], list[int]]:
        """Static totals: engine ops per program, and bytes and flows per resource."""
        ops = [0] * len(self.chiplet)
        for p, queue in enumerate(self.engine_queue):
            ops[p] = sum(self.arg[i] for i in queue)
        nres = self.machine.num_channels + len(self.machine.links)
        res_bytes, res_flows = [0] * nres, [0] * nres
        for i, path in enumerate(self.path):
            for r in path:
                res_bytes[r] += self.nbytes[i]
                res_flows[r] += 1
        return ops, res_bytes, res_flows

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
    flat = _Builder(machine, ModuleCode.of(programs)).finish()
    flat.layer = layers[0] if layers else None
    flat.strategy = module_strategy(module)
    flat.strategy_options = module_options(module) if flat.strategy else {}
    return flat


class _Builder:
    """The engine's lists from well-formed programs (the rules have been checked)."""

    def __init__(self, machine: Machine, code: ModuleCode):
        self.machine = machine
        self.code = code
        self.f = FlatProgram(
            machine=machine, channel_queue=[[] for _ in range(machine.num_channels)], code=code
        )

    def finish(self) -> FlatProgram:  # noqa: C901 - one pass over every instruction
        f, code = self.f, self.code
        f.buf_kind, f.buf_bytes, f.buf_tokens = (
            code.buffer_kind,
            code.buffer_bytes,
            code.buffer_tokens,
        )
        nbuf = len(code.buffer_kind)
        # Per buffer: its last writer (-1 none), the readers since, and for weight buffers the
        # open fill (-1 none, 0 unread by gemms, 1 read). An instruction that writes a buffer
        # (or frees it) waits for the readers since the last writer: their list becomes its
        # `deps`, and the buffer starts a new one.
        last_writer, readers, fill = [-1] * nbuf, [[] for _ in range(nbuf)], [-1] * nbuf
        freed = [False] * nbuf
        op, nbytes, arg, deps = f.op, f.nbytes, f.arg, f.deps
        loads: list[list[tuple[int, int]]] = [[] for _ in range(self.machine.num_channels)]
        for p, (chiplet, span) in enumerate(code.spans.items()):
            f.chiplet.append(chiplet)
            f.start.append(span.start)
            engine: list[int] = []
            f.engine_queue.append(engine)
            sram_ops: list[int] = []  # its ALLOCs and FREEs, the bytes each adds, weight or not
            sram_delta: list[int] = []
            sram_weight: list[bool] = []
            visits = zero = 0
            for i in span:
                c, ids, args = code.code[i], code.bufs[i], code.args[i]
                opcode = OPCODES[c]
                op.append(c)
                f.prog.append(p)
                size = argument = 0
                if c == ALLOC:
                    b = ids[0]
                    size, argument = args[0], code.buffer_kind[b]
                    sram_ops.append(i)
                    sram_delta.append(size)
                    sram_weight.append(argument == WEIGHT)
                    deps.append(())
                elif c == FREE:
                    b = ids[0]
                    size, argument = code.buffer_bytes[b], code.buffer_kind[b]
                    sram_ops.append(i)
                    sram_delta.append(-size)
                    sram_weight.append(argument == WEIGHT)
                    freed[b] = True
                    if fill[b] >= 0:
                        visits += 1
                        zero += fill[b] == 0
                    deps.append(self._uses(i, opcode, ids, last_writer, readers))
                else:
                    if c == LOAD or c == SEND or c == RECV:  # channel/to/from, _, bytes
                        argument, size = args[0], args[2]
                        if c == LOAD:
                            loads[argument].append((args[1], i))
                        if code.buffer_kind[ids[0]] == WEIGHT and c != SEND:
                            b = ids[0]
                            if fill[b] >= 0:
                                visits += 1
                                zero += fill[b] == 0
                            fill[b] = 0
                    elif opcode.unit == ENGINE:
                        argument = args[-1]  # ops
                        engine.append(i)
                        if c == GEMM:
                            fill[ids[0]] = 1
                    deps.append(self._uses(i, opcode, ids, last_writer, readers))
                nbytes.append(size)
                arg.append(argument)
            first = code.first_buffer[chiplet]
            for b in range(first, first + len(code.programs[chiplet].buffer_kind)):
                if fill[b] >= 0 and not freed[b]:  # still held at the end: one more visit
                    visits += 1
                    zero += fill[b] == 0
            f.visits.append(visits)
            f.zero_token_visits.append(zero)
            f.sram_ops.append(sram_ops)
            f.sram_delta.append(np.array(sram_delta, dtype=np.int64))
            f.sram_weight.append(np.array(sram_weight, dtype=bool))
        f.bufs = code.bufs
        f.buf = [ids[0] if ids else -1 for ids in code.bufs]
        for channel, queue in enumerate(loads):
            queue.sort()
            f.channel_queue[channel] = [i for _, i in queue]
        f.pair = [-1] * len(op)
        endpoints, _ = pair_transfers(code.programs)
        for a, b in endpoints.items():
            f.pair[code.gid(*a)] = code.gid(*b)
        f.path, f.solo_rate, f.flow_latency = f.flows()
        dependents: list[list[int]] = [[] for _ in op]
        for i, waits in enumerate(deps):
            for j in waits:
                dependents[j].append(i)
        f.dependents = dependents
        f.npend = [len(waits) for waits in deps]
        return f

    @staticmethod
    def _uses(i, opcode, ids, last_writer, readers) -> list[int]:
        """What instruction i waits for, by how it uses its buffers; records its uses."""
        waits: list[int] = []
        for operand, b in zip(opcode.operands, ids, strict=True):
            if operand.access == READ:
                if last_writer[b] >= 0:
                    waits.append(last_writer[b])
            else:  # WRITE, UPDATE, RELEASE: after the last writer and the readers since
                waits.extend(readers[b])
                if last_writer[b] >= 0:
                    waits.append(last_writer[b])
        for operand, b in zip(opcode.operands, ids, strict=True):
            if operand.access == READ:
                readers[b].append(i)
            elif operand.access != RELEASE:
                last_writer[b] = i
                readers[b] = []
        return waits
