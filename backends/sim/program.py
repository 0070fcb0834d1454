"""Flatten the `cisa` programs of a module once into compact integer arrays for the engine.

Every instruction of every program gets a global index `i`; the programs are laid out one after
the other in chiplet order. Per instruction the arrays hold its opcode, program, main buffer,
bytes, one integer argument and the earlier instructions of the same program it must wait for
(`deps`, from read-after-write, write-after-write and write-after-read hazards on its buffers).

Everything that can be checked without running is checked here and raised as `SimError`:
a missing machine or program, a buffer used outside its program or after its `free`, a weight
buffer read before any `load`/`recv` fills it, an unmatched `send`/`recv` or a pair whose bytes
differ, DDR `seq` numbers that are not `0, 1, 2, ...` on a channel, and programs that disagree
on how many barriers they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from backends.sim.machine import Machine
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import EndOp, ProgramOp
from dialects.cisa_flat import ACT, OPCODE, WEIGHT, flatten_program
from dialects.cisa_opcodes import (
    ACC,
    ALLOC,
    BARRIER,
    END,
    FREE,
    GEMM,
    INPUT,
    LOAD,
    OUTPUT,
    RECV,
    SEND,
)
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
    ops: list[Operation] = field(default_factory=list, repr=False)
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
        """`#k `op text`` of instruction i, k being its index in its program."""
        p = self.prog[i]
        return f"#{i - self.start[p]} `{str(self.ops[i])}`"


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
    programs, layers = find_ops(module)
    if not programs:
        raise SimError(
            "the module holds no cisa.program; lower it to per-chiplet programs first "
            "(fsedp-sim compiles .moe files itself)"
        )
    by_chiplet: dict[int, ProgramOp] = {}
    for program in programs:
        chiplet = program.chiplet.value.data
        if chiplet in by_chiplet:
            raise SimError(f"two cisa.program ops for chiplet {chiplet}")
        if not 0 <= chiplet < machine.num_chiplets:
            raise SimError(f"cisa.program for chiplet {chiplet}, which is not on the mesh")
        by_chiplet[chiplet] = program
    builder = _Builder(machine)
    for chiplet in sorted(by_chiplet):
        builder.add_program(chiplet, by_chiplet[chiplet])
    flat = builder.finish()
    flat.layer = layers[0] if layers else None
    flat.strategy = module_strategy(module)
    flat.strategy_options = module_options(module) if flat.strategy else {}
    return flat


class _Builder:
    def __init__(self, machine: Machine):
        self.machine = machine
        self.f = FlatProgram(
            machine=machine, channel_queue=[[] for _ in range(machine.num_channels)]
        )
        self.loads: list[list[tuple[int, int]]] = [[] for _ in range(machine.num_channels)]
        self.sends: dict[tuple[int, int, int], list[int]] = {}
        self.recvs: dict[tuple[int, int, int], list[int]] = {}
        self.barriers: list[int] = []
        self.last_writer: list[int] = []
        self.readers: list[list[int]] = []
        self.freed: list[bool] = []
        self.fill: list[int] = []
        self.rows: list[tuple] = []

    def error(self, i: int, message: str) -> SimError:
        f = self.f
        f.prog.extend([len(f.chiplet) - 1] * (len(f.ops) - len(f.prog)))  # mid-program
        return SimError(f"chiplet {f.chiplet[f.prog[i]]}: instruction {f.describe(i)}: {message}")

    def add_program(self, chiplet: int, program: ProgramOp) -> None:  # noqa: C901 - one pass
        f = self.f
        p = len(f.chiplet)
        first = len(f.ops)
        f.chiplet.append(chiplet)
        f.start.append(first)
        engine: list[int] = []
        f.engine_queue.append(engine)
        code = flatten_program(program, len(f.buf_kind))
        f.ops.extend(code.ops)
        buf_kind, buf_bytes = f.buf_kind, f.buf_bytes
        buf_kind.extend(code.buffer_kind)
        buf_bytes.extend(code.buffer_bytes)
        f.buf_tokens.extend(code.buffer_tokens)
        # Per global buffer id: its last writer (-1 none), the readers since, whether it was
        # freed, and for weight buffers the open fill (-1 none, 0 unread by gemms, 1 read).
        # An instruction that writes a buffer (or frees it) waits for the readers since the
        # last writer: their list becomes its `deps`, and the buffer starts a new one.
        nbuf = len(code.buffer_kind)
        last_writer, readers, freed, fill = self.last_writer, self.readers, self.freed, self.fill
        last_writer.extend([-1] * nbuf)
        readers.extend([[] for _ in range(nbuf)])
        freed.extend([False] * nbuf)
        fill.extend([-1] * nbuf)
        visits = zero = barriers = 0
        rows = self.rows  # (opcode, bytes, argument, buffers, deps) per instruction
        sram_ops: list[int] = []  # its ALLOCs and FREEs, the bytes each adds, weight or not
        sram_delta: list[int] = []
        sram_weight: list[bool] = []
        i = first - 1
        for c, ids, args in zip(code.code, code.bufs, code.args, strict=True):
            i += 1
            if c < 0:
                raise self._not_cisa(chiplet, f.ops[i])
            if c == ALLOC:
                b = ids[0]
                rows.append((ALLOC, args[0], buf_kind[b], ids, ()))
                sram_ops.append(i)
                sram_delta.append(args[0])
                sram_weight.append(buf_kind[b] == WEIGHT)
                continue
            for b in ids:
                if freed[b]:
                    raise self.error(i, "uses a buffer after its cisa.free")
            if c == GEMM:
                w, x, y = ids
                if buf_kind[w] != WEIGHT or buf_kind[x] != ACT or buf_kind[y] != ACT:
                    raise self.error(i, "needs a weight buffer, then two act buffers")
                if last_writer[w] < 0:
                    raise self.error(i, "reads a weight buffer before any load or recv fills it")
                deps = [last_writer[w], *readers[y]]
                if last_writer[x] >= 0:
                    deps.append(last_writer[x])
                if last_writer[y] >= 0:
                    deps.append(last_writer[y])
                readers[w].append(i)
                if x != y:
                    readers[x].append(i)
                last_writer[y] = i
                readers[y] = []
                fill[w] = 1
                engine.append(i)
                rows.append((GEMM, 0, args[3], ids, deps))
                continue
            if c == FREE:
                b = ids[0]
                deps = readers[b]
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                freed[b] = True
                if fill[b] >= 0:
                    visits += 1
                    zero += fill[b] == 0
                rows.append((FREE, buf_bytes[b], buf_kind[b], ids, deps))
                sram_ops.append(i)
                sram_delta.append(-buf_bytes[b])
                sram_weight.append(buf_kind[b] == WEIGHT)
                continue
            size = argument = 0
            if c == LOAD or c == RECV:  # write the buffer
                b = ids[0]
                argument, key, size = args[:3]  # LOAD: channel, seq; RECV: from, tag
                if c == LOAD:
                    self.loads[argument].append((key, i))
                else:
                    self.recvs.setdefault((argument, chiplet, key), []).append(i)
                deps = readers[b]
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                last_writer[b] = i
                readers[b] = []
                if buf_kind[b] == WEIGHT:
                    if fill[b] >= 0:
                        visits += 1
                        zero += fill[b] == 0
                    fill[b] = 0
            elif c == SEND or c == OUTPUT:  # read the buffer
                b = ids[0]
                if c == SEND:
                    argument, tag, size = args
                    self.sends.setdefault((chiplet, argument, tag), []).append(i)
                elif buf_kind[b] != ACT:
                    raise self.error(i, "declares an act buffer only")
                if last_writer[b] >= 0:
                    deps = [last_writer[b]]
                elif buf_kind[b] == WEIGHT:
                    raise self.error(i, "reads a weight buffer before any load or recv fills it")
                else:
                    deps = []
                readers[b].append(i)
            elif c == ACC:
                src, dst = ids
                if buf_kind[src] != ACT or buf_kind[dst] != ACT:
                    raise self.error(i, "adds act buffers only")
                argument = args[0]
                deps = readers[dst]
                if last_writer[src] >= 0:
                    deps.append(last_writer[src])
                if last_writer[dst] >= 0:
                    deps.append(last_writer[dst])
                if src != dst:
                    readers[src].append(i)
                last_writer[dst] = i
                readers[dst] = []
                engine.append(i)
            elif c == INPUT:
                b = ids[0]
                if buf_kind[b] != ACT:
                    raise self.error(i, "fills an act buffer only")
                deps = readers[b]
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                last_writer[b] = i
                readers[b] = []
            else:  # BARRIER, END
                deps = ()
                barriers += c == BARRIER
                if c == END and i + 1 < first + len(code.code):
                    raise self.error(i + 1, "comes after the program's cisa.end")
            rows.append((c, size, argument, ids, deps))
        if code.bad >= 0:
            i = first + code.bad
            if code.ops[code.bad].name not in OPCODE:
                raise self._not_cisa(chiplet, f.ops[i])
            raise self.error(i, "uses a buffer allocated in another program")
        if i < first or rows[-1][0] != END:
            # A program without a final `cisa.end` ends after its last instruction.
            rows.append((END, 0, 0, (), ()))
            f.ops.append(EndOp())
        f.prog.extend([p] * (len(f.ops) - first))
        for b in range(len(buf_kind) - nbuf, len(buf_kind)):
            if fill[b] >= 0 and not freed[b]:
                visits += 1
                zero += fill[b] == 0
        f.visits.append(visits)
        f.zero_token_visits.append(zero)
        f.sram_ops.append(sram_ops)
        f.sram_delta.append(np.array(sram_delta, dtype=np.int64))
        f.sram_weight.append(np.array(sram_weight, dtype=bool))
        self.barriers.append(barriers)

    @staticmethod
    def _not_cisa(chiplet: int, op: Operation) -> SimError:
        return SimError(f"chiplet {chiplet}: `{op.name}` is not a cisa instruction")

    def finish(self) -> FlatProgram:
        f = self.f
        f.op, f.nbytes, f.arg, f.bufs, f.deps = (list(c) for c in zip(*self.rows, strict=True))
        f.buf = [ids[0] if ids else -1 for ids in f.bufs]
        f.pair = [-1] * len(f.op)
        for channel, loads in enumerate(self.loads):
            loads.sort()
            for expected, (seq, i) in enumerate(loads):
                if seq != expected:
                    raise self.error(
                        i,
                        f"DDR channel {channel} serves loads in seq order 0, 1, 2, ...; "
                        + (
                            f"seq {seq} is used twice"
                            if expected and loads[expected - 1][0] == seq
                            else f"seq {expected} is missing"
                        ),
                    )
            f.channel_queue[channel] = [i for _, i in loads]
        for key in sorted(set(self.sends) | set(self.recvs)):
            sends, recvs = self.sends.get(key, []), self.recvs.get(key, [])
            src, dst, tag = key
            for s, r in zip(sends, recvs, strict=False):
                if f.nbytes[s] != f.nbytes[r]:
                    raise self.error(
                        s,
                        f"sends {f.nbytes[s]} bytes but the matching recv on chiplet {dst} "
                        f"{f.describe(r)} receives {f.nbytes[r]}",
                    )
                f.pair[s], f.pair[r] = r, s
            if len(sends) > len(recvs):
                message = f"no matching cisa.recv from {src} tag {tag} on chiplet {dst}"
                raise self.error(sends[len(recvs)], message)
            if len(recvs) > len(sends):
                raise self.error(
                    recvs[len(sends)], f"no matching cisa.send to {dst} tag {tag} on chiplet {src}"
                )
        f.path, f.solo_rate, f.flow_latency = f.flows()
        dependents: list[list[int]] = [[] for _ in f.op]
        for i, deps in enumerate(f.deps):
            for j in deps:
                dependents[j].append(i)
        f.dependents = dependents
        f.npend = [len(deps) for deps in f.deps]
        if len(set(self.barriers)) > 1:
            counts = ", ".join(
                f"chiplet {c}: {n}" for c, n in zip(f.chiplet, self.barriers, strict=True)
            )
            raise SimError(f"the programs hold different numbers of cisa.barrier ({counts})")
        return f
