"""The lowered `cisa` programs as plain Python data, for the verifier and the asm backend.

`flatten(module)` reads every top-level `cisa.program` once (`dialects.cisa_flat`, the walk the
simulator shares) and numbers all instructions of the module in module order (`gid`). The
verifier loops over the per-instruction lists of `Programs` (opcode, buffer ids, integer
properties, tokens), so it never touches xDSL objects in its loops; `Instr` records, with their
properties by name and their `describe()` text, are made on demand (`instr(gid)`, `code`) for
messages and for the assembly printer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from dialects import cisa
from dialects.cisa_flat import FIELDS, MNEMONIC, WEIGHT, flatten_program
from dialects.cisa_opcodes import LOAD, RECV, SEND
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


def _list():
    return field(default_factory=list)


@dataclass
class Programs:
    """Every instruction of the module's programs, indexed by gid (programs in module order).

    Per instruction: `opcode` (`dialects.cisa_flat`; -1 outside the dialect), `chiplet`,
    `index` (position in its program), `ops`, `bufs` (buffer ids), `args` (integer properties,
    named by `FIELDS[opcode]`) and `tokens` (gemm, accumulate, act alloc; else None).
    """

    chiplets: list[int] = _list()  # chiplet of each program, in module order
    spans: dict[int, range] = field(default_factory=dict)  # chiplet -> gids of its program
    buffers: list[Buffer] = _list()
    opcode: list[int] = _list()
    chiplet: list[int] = _list()
    index: list[int] = _list()
    ops: list[Operation] = _list()
    bufs: list[tuple[int, ...]] = _list()
    args: list[tuple[int, ...]] = _list()
    tokens: list[tuple[int, ...] | None] = _list()

    def kind(self, gid: int) -> str:
        """The op name without "cisa."."""
        code = self.opcode[gid]
        return MNEMONIC[code] if code >= 0 else self.ops[gid].name.removeprefix("cisa.")

    def instr(self, gid: int) -> Instr:
        """Instruction `gid` as a record, its integer properties and tokens by name."""
        code = self.opcode[gid]
        names = FIELDS[code] if code >= 0 else ()
        props: dict[str, int | tuple[int, ...]] = dict(zip(names, self.args[gid], strict=True))
        if self.tokens[gid] is not None:
            props["tokens"] = self.tokens[gid]
        chiplet, index = self.chiplet[gid], self.index[gid]
        return Instr(gid, chiplet, index, self.kind(gid), self.ops[gid], self.bufs[gid], props)

    def describe(self, gid: int) -> str:
        return self.instr(gid).describe()

    @cached_property
    def code(self) -> dict[int, list[Instr]]:
        """Chiplet -> its instructions as `Instr` records."""
        return {c: [self.instr(g) for g in span] for c, span in self.spans.items()}

    @property
    def instructions(self) -> list[Instr]:
        return [ins for chiplet in self.chiplets for ins in self.code[chiplet]]

    def gids(self, opcode: int) -> list[int]:
        """The instructions with that opcode, in gid order."""
        return [g for g, code in enumerate(self.opcode) if code == opcode]


def flatten(module: ModuleOp) -> Programs:
    """The top-level `cisa.program`s of `module`, in module order."""
    out = Programs()
    for program in (op for op in module.body.block.ops if isinstance(op, cisa.ProgramOp)):
        flat = flatten_program(program, len(out.buffers))
        chiplet = flat.chiplet
        if chiplet in out.spans:
            raise FsedpError(f"verify-programs: chiplet {chiplet} has two cisa.program ops")
        if flat.bad >= 0:
            raise FsedpError(
                f"chiplet {chiplet}, instruction {flat.bad} ({flat.ops[flat.bad].name}): uses a "
                "buffer that is not allocated earlier in this program"
            )
        first = len(out.opcode)
        out.chiplets.append(chiplet)
        out.spans[chiplet] = range(first, first + len(flat.ops))
        for kind, nbytes, tokens, index in zip(
            flat.buffer_kind, flat.buffer_bytes, flat.buffer_tokens, flat.buffer_alloc, strict=True
        ):
            out.buffers.append(
                Buffer(len(out.buffers), chiplet, index, kind == WEIGHT, nbytes, tokens)
            )
        out.opcode += flat.code
        out.chiplet += [chiplet] * len(flat.ops)
        out.index += range(len(flat.ops))
        out.ops += flat.ops
        out.bufs += flat.bufs
        out.args += flat.args
        out.tokens += flat.tokens
    return out


def weight_contents(programs: Programs) -> dict[int, tuple[int, int, int]]:
    """(expert, slice, of) held by each weight buffer: from its load, or from the buffer whose
    matching send filled it through a recv."""
    contents: dict[int, tuple[int, int, int]] = {}
    sends: dict[tuple[int, int, int], int] = {}
    recvs: list[tuple[tuple[int, int, int], int]] = []
    for g, code in enumerate(programs.opcode):
        args, buf = programs.args[g], programs.bufs[g]
        if code == LOAD:  # channel, seq, bytes, expert, slice, of
            contents[buf[0]] = args[3:6]
        elif code == SEND:  # to, tag, bytes
            sends[(programs.chiplet[g], args[0], args[1])] = buf[0]
        elif code == RECV:  # from, tag, bytes
            recvs.append(((args[0], programs.chiplet[g], args[1]), buf[0]))
    changed = True
    while changed:
        changed = False
        for key, buf in recvs:
            source = sends.get(key)
            if buf not in contents and source in contents:
                contents[buf] = contents[source]
                changed = True
    return contents
