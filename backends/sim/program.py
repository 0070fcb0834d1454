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

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from backends.sim.machine import Machine
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import EndOp, ProgramOp
from dialects.moe import LayerOp
from fsedp_compiler.errors import FsedpError

# Opcodes. Engine ops (GEMM, ACC) share the matrix engine; LOAD/SEND/RECV move bytes.
ALLOC, FREE, INPUT, OUTPUT, LOAD, SEND, RECV, GEMM, ACC, BARRIER, END = range(11)
OPCODE = {
    "cisa.alloc": ALLOC,
    "cisa.free": FREE,
    "cisa.input": INPUT,
    "cisa.output": OUTPUT,
    "cisa.load": LOAD,
    "cisa.send": SEND,
    "cisa.recv": RECV,
    "cisa.gemm": GEMM,
    "cisa.accumulate": ACC,
    "cisa.barrier": BARRIER,
    "cisa.end": END,
}
WEIGHT, ACT = 0, 1


class SimError(FsedpError):
    """A program the simulator cannot run, or a run that went wrong (deadlock, overflow, ...)."""


def _int(op: Operation, name: str) -> int:
    return op.properties[name].value.data


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
    (the act buffer's token array attribute, decoded only by the numerics check). `path` holds
    the resources (`Machine` numbering) each LOAD and SEND occupies, from `flow_paths()`.
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
    buf_tokens: list[object] = _list()
    visits: list[int] = _list()
    zero_token_visits: list[int] = _list()
    path: list[tuple[int, ...]] = _list()
    ops: list[Operation] = field(default_factory=list, repr=False)
    layer: LayerOp | None = None
    strategy: str | None = None

    @property
    def num_instructions(self) -> int:
        return len(self.op)

    def flow_paths(self) -> list[tuple[int, ...]]:
        """Resources each LOAD (its channel, then the links from the channel's chiplet) and
        SEND (the links to the receiver) holds; empty for other instructions."""
        m = self.machine
        routes = m.route_table()
        chip, prog = self.chiplet, self.prog
        paths: list[tuple[int, ...]] = [()] * len(self.op)
        for channel, loads in enumerate(self.channel_queue):
            here = m.ddr_chiplets[channel]
            for i in loads:
                paths[i] = (channel, *routes[here][chip[prog[i]]])
        for i, partner in enumerate(self.pair):
            if partner >= 0 and self.op[i] == SEND:
                paths[i] = routes[chip[prog[i]]][chip[prog[partner]]]
        return paths

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
    strategy = module.attributes.get("fsedp.strategy")
    builder = _Builder(machine)
    for chiplet in sorted(by_chiplet):
        builder.add_program(chiplet, by_chiplet[chiplet])
    flat = builder.finish()
    flat.layer = layers[0] if layers else None
    flat.strategy = getattr(strategy, "data", None)
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

    def add_program(self, chiplet: int, program: ProgramOp) -> None:  # noqa: C901
        f = self.f
        p = len(f.chiplet)
        first = len(f.ops)
        f.chiplet.append(chiplet)
        f.start.append(first)
        engine: list[int] = []
        f.engine_queue.append(engine)
        buffers: dict[int, int] = {}  # id() of the SSA value -> global buffer id
        # Per global buffer id: its last writer (-1 none), the readers since, whether it was
        # freed, and for weight buffers the open fill (-1 none, 0 unread by gemms, 1 read).
        last_writer, readers, freed, fill = self.last_writer, self.readers, self.freed, self.fill
        visits = zero = barriers = 0
        rows, ops_a = self.rows, f.ops  # rows: (opcode, bytes, argument, buffers, deps)
        buf_kind, buf_bytes, buf_tokens = f.buf_kind, f.buf_bytes, f.buf_tokens
        opcode = OPCODE
        i = first - 1
        for op in program.body.block.ops:
            i += 1
            code = opcode.get(op.name)
            if code is None:
                raise SimError(f"chiplet {chiplet}: `{op.name}` is not a cisa instruction")
            ops_a.append(op)
            props = op.properties
            if code == ALLOC:
                b = len(buf_kind)
                kind = WEIGHT if props["kind"].data == "weight" else ACT
                size = props["bytes"].value.data
                buffers[id(op.results[0])] = b
                buf_kind.append(kind)
                buf_bytes.append(size)
                buf_tokens.append(props.get("tokens"))
                last_writer.append(-1)
                readers.append([])
                freed.append(False)
                fill.append(-1)
                rows.append((ALLOC, size, kind, (b,), ()))
                continue
            try:
                ids = tuple(map(buffers.__getitem__, map(id, op._operands)))  # noqa: SLF001
            except KeyError:
                raise self.error(i, "uses a buffer allocated in another program") from None
            for b in ids:
                if freed[b]:
                    raise self.error(i, "uses a buffer after its cisa.free")
            if code == GEMM:
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
                rows.append((GEMM, 0, props["ops"].value.data, ids, deps))
                continue
            if code == FREE:
                b = ids[0]
                deps = list(readers[b])
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                freed[b] = True
                if fill[b] >= 0:
                    visits += 1
                    zero += fill[b] == 0
                rows.append((FREE, buf_bytes[b], buf_kind[b], ids, deps))
                continue
            size = argument = 0
            if code == LOAD or code == RECV:  # write the buffer
                b = ids[0]
                size = props["bytes"].value.data
                if code == LOAD:
                    argument = props["channel"].value.data
                    self.loads[argument].append((props["seq"].value.data, i))
                else:
                    argument = props["from"].value.data
                    key = (argument, chiplet, props["tag"].value.data)
                    self.recvs.setdefault(key, []).append(i)
                deps = list(readers[b])
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                last_writer[b] = i
                readers[b] = []
                if buf_kind[b] == WEIGHT:
                    if fill[b] >= 0:
                        visits += 1
                        zero += fill[b] == 0
                    fill[b] = 0
            elif code == SEND or code == OUTPUT:  # read the buffer
                b = ids[0]
                if code == SEND:
                    size, argument = props["bytes"].value.data, props["to"].value.data
                    key = (chiplet, argument, props["tag"].value.data)
                    self.sends.setdefault(key, []).append(i)
                elif buf_kind[b] != ACT:
                    raise self.error(i, "declares an act buffer only")
                if last_writer[b] >= 0:
                    deps = [last_writer[b]]
                elif buf_kind[b] == WEIGHT:
                    raise self.error(i, "reads a weight buffer before any load or recv fills it")
                else:
                    deps = []
                readers[b].append(i)
            elif code == ACC:
                src, dst = ids
                if buf_kind[src] != ACT or buf_kind[dst] != ACT:
                    raise self.error(i, "adds act buffers only")
                argument = props["ops"].value.data
                deps = [*readers[dst]]
                if last_writer[src] >= 0:
                    deps.append(last_writer[src])
                if last_writer[dst] >= 0:
                    deps.append(last_writer[dst])
                if src != dst:
                    readers[src].append(i)
                last_writer[dst] = i
                readers[dst] = []
                engine.append(i)
            elif code == INPUT:
                b = ids[0]
                if buf_kind[b] != ACT:
                    raise self.error(i, "fills an act buffer only")
                deps = list(readers[b])
                if last_writer[b] >= 0:
                    deps.append(last_writer[b])
                last_writer[b] = i
                readers[b] = []
            else:  # BARRIER, END
                deps = ()
                barriers += code == BARRIER
            rows.append((code, size, argument, ids, deps))
        if i < first or rows[-1][0] != END:
            # A program without a final `cisa.end` ends after its last instruction.
            rows.append((END, 0, 0, (), ()))
            ops_a.append(EndOp())
        f.prog.extend([p] * (len(ops_a) - first))
        for b in set(buffers.values()):
            if fill[b] >= 0 and not freed[b]:
                visits += 1
                zero += fill[b] == 0
        f.visits.append(visits)
        f.zero_token_visits.append(zero)
        self.barriers.append(barriers)

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
        f.path = f.flow_paths()
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
