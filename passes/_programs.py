"""The lowered `cisa` programs as plain Python records, for the verifier and the asm backend.

`flatten(module)` walks every `cisa.program` once and returns its instructions with buffer ids
instead of SSA values, so later analyses never touch xDSL objects in their loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from dialects import cisa
from fsedp_compiler.errors import FsedpError


@dataclass(slots=True)
class Buffer:
    id: int
    chiplet: int
    index: int  # instruction index of its alloc
    weight: bool
    bytes: int
    tokens: tuple[int, ...]


@dataclass(slots=True)
class Instr:
    gid: int  # position among all instructions of the module
    chiplet: int
    index: int  # position in its program
    kind: str  # the op name without "cisa."
    op: Operation
    bufs: tuple[int, ...]  # buffer ids of the operands (alloc: its result)
    props: dict[str, int | tuple[int, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        """`instruction 7 (cisa.gemm expert 2 slice 0 of 2 tokens [1, 3])`."""
        p = self.props
        details = {
            "alloc": lambda: f"{'weight' if 'tokens' not in p else 'act'} bytes {p['bytes']}",
            "load": lambda: (
                f"expert {p['expert']} slice {p['slice']} of {p['of']} "
                f"channel {p['channel']} seq {p['seq']}"
            ),
            "send": lambda: f"to {p['to']} tag {p['tag']}",
            "recv": lambda: f"from {p['from']} tag {p['tag']}",
            "gemm": lambda: (
                f"expert {p['expert']} slice {p['slice']} of {p['of']} tokens {list(p['tokens'])}"
            ),
            "accumulate": lambda: f"tokens {list(p['tokens'])}",
        }.get(self.kind)
        text = f"cisa.{self.kind}" + (f" {details()}" if details else "")
        return f"instruction {self.index} ({text})"


@dataclass
class Programs:
    chiplets: list[int]  # chiplet of each program, in module order
    code: dict[int, list[Instr]]  # chiplet -> its instructions
    buffers: list[Buffer]

    @property
    def instructions(self) -> list[Instr]:
        return [ins for chiplet in self.chiplets for ins in self.code[chiplet]]


_INT_PROPS = ("bytes", "channel", "seq", "expert", "slice", "of", "to", "from", "tag", "ops")


def flatten(module: ModuleOp) -> Programs:
    programs = [op for op in module.body.block.ops if isinstance(op, cisa.ProgramOp)]
    chiplets: list[int] = []
    code: dict[int, list[Instr]] = {}
    buffers: list[Buffer] = []
    gid = 0
    for program in programs:
        chiplet = program.chiplet.value.data
        if chiplet in code:
            raise FsedpError(f"verify-programs: chiplet {chiplet} has two cisa.program ops")
        chiplets.append(chiplet)
        ids: dict[int, int] = {}
        instrs: list[Instr] = []
        for index, op in enumerate(program.body.block.ops):
            kind = op.name.removeprefix("cisa.")
            props: dict[str, int | tuple[int, ...]] = {}
            for name, attr in op.properties.items():
                if name in _INT_PROPS:
                    props[name] = attr.value.data
                elif name == "tokens":
                    props[name] = attr.get_values()
            if kind == "alloc":
                buffer = Buffer(
                    len(buffers),
                    chiplet,
                    index,
                    op.kind.data == cisa.BufferKind.WEIGHT,
                    props["bytes"],
                    props.get("tokens", ()),
                )
                buffers.append(buffer)
                ids[id(op.results[0])] = buffer.id
                bufs: tuple[int, ...] = (buffer.id,)
            elif all(id(operand) in ids for operand in op.operands):
                bufs = tuple(ids[id(operand)] for operand in op.operands)
            else:
                raise FsedpError(
                    f"chiplet {chiplet}, instruction {index} ({op.name}): uses a buffer that is "
                    "not allocated earlier in this program"
                )
            instrs.append(Instr(gid, chiplet, index, kind, op, bufs, props))
            gid += 1
        code[chiplet] = instrs
    return Programs(chiplets, code, buffers)


def weight_contents(programs: Programs) -> dict[int, tuple[int, int, int]]:
    """(expert, slice, of) held by each weight buffer: from its load, or from the buffer whose
    matching send filled it through a recv."""
    contents: dict[int, tuple[int, int, int]] = {}
    sends: dict[tuple[int, int, int], int] = {}
    recvs: list[tuple[tuple[int, int, int], int]] = []
    for ins in programs.instructions:
        p = ins.props
        if ins.kind == "load":
            contents[ins.bufs[0]] = (p["expert"], p["slice"], p["of"])
        elif ins.kind == "send":
            sends[(ins.chiplet, p["to"], p["tag"])] = ins.bufs[0]
        elif ins.kind == "recv":
            recvs.append(((p["from"], ins.chiplet, p["tag"]), ins.bufs[0]))
    changed = True
    while changed:
        changed = False
        for key, buf in recvs:
            source = sends.get(key)
            if buf not in contents and source in contents:
                contents[buf] = contents[source]
                changed = True
    return contents
