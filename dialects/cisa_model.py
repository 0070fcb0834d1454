"""The lowered programs as data: one meaning of every `cisa` instruction, for the compiler, the
verifier, the printer, the simulator and the numerics replay.

A chiplet's program is a `Program`: per instruction its opcode, the buffers it names (integers,
numbered in allocation order within the program; an `alloc` names the buffer it creates), its
integer fields and, for `gemm` and `accumulate`, its tokens; per buffer its kind (weight or act),
bytes, tokens and allocating instruction. The lowering builds Programs directly
(`CodeBuilder`); a `cisa.program` op carries one as its `code` (dialects/cisa.py), and xDSL ops
for its instructions are made from it only on request. Everything that reads programs reads
this form.

`OPCODES` is the one table of what each instruction is: its operands (which buffer kind each
must be, and whether the instruction reads it, writes it, or both), its integer fields in
order, whether it lists tokens, where it runs (issue only, a DDR channel, a D2D transfer, the
matrix engine) and which field is its cost (bytes moved or ops computed). The syntax of each
instruction (`SYNTAX`) is written once here too: the printer, the reader and the xDSL ops'
assembly formats derive from it. Adding an instruction: one op class in dialects/cisa.py, one
row here (and in `SYNTAX`), and the rules or semantics that are new with it.

The text of a program body (dialects/cisa.py shows one) is one instruction per line; buffers
print as `%a<k>` (act) or `%w<k>` (weight), k counting the program's allocations, and the
reader (`ProgramReader`) takes any names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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

# buffer kinds (ANY: an operand that takes either)
WEIGHT, ACT, ANY = 0, 1, -1
KIND_NAMES = ("weight", "act")

# how an instruction uses an operand
DEFINE, RELEASE, READ, WRITE, UPDATE = "define", "release", "read", "write", "update"

# where an instruction runs: issue takes no time; the others are asynchronous
ISSUE, HOLD, DDR, D2D_SEND, D2D_RECV, ENGINE, WAIT = (
    "issue",  # done when issued: alloc, input, end
    "hold",  # holds issue until it can complete: free, barrier
    "ddr",  # a DDR channel: load
    "d2d-send",  # a D2D transfer, sending side: send
    "d2d-recv",  # a D2D transfer, receiving side: recv
    "engine",  # the matrix engine: gemm, accumulate
    "wait",  # completes when its inputs are ready: output
)


@dataclass(frozen=True)
class Operand:
    name: str  # as the op names it (buf, w, x, y, src, dst)
    kind: int  # WEIGHT, ACT or ANY
    access: str  # DEFINE, RELEASE, READ, WRITE or UPDATE


@dataclass(frozen=True)
class Opcode:
    code: int
    mnemonic: str
    operands: tuple[Operand, ...]
    fields: tuple[str, ...]  # integer fields, in the order Program.args holds them
    tokens: bool  # lists tokens (an act alloc lists them too, as its buffer's)
    unit: str
    cost: str | None  # the field that is its cost: "bytes" moved, "ops" computed
    doc: str

    @property
    def name(self) -> str:
        return f"cisa.{self.mnemonic}"

    def field(self, args: Sequence[int], name: str) -> int:
        return args[self.fields.index(name)]


def _operand(name: str, kind: int, access: str) -> Operand:
    return Operand(name, kind, access)


_BUF_ANY = _operand("buf", ANY, READ)
OPCODES: tuple[Opcode, ...] = (
    Opcode(ALLOC, "alloc", (_operand("buf", ANY, DEFINE),), ("bytes",), False, ISSUE, None,
           "reserve `bytes` of SRAM; an act buffer lists the tokens whose rows it holds, zeros"),
    Opcode(FREE, "free", (_operand("buf", ANY, RELEASE),), (), False, HOLD, None,
           "release a buffer once every earlier instruction using it has finished"),
    Opcode(INPUT, "input", (_operand("buf", ACT, WRITE),), (), False, ISSUE, None,
           "the act buffer holds the layer input of its tokens (resident, R2)"),
    Opcode(OUTPUT, "output", (_operand("buf", ACT, READ),), (), False, WAIT, None,
           "the act buffer holds the finished layer output of its tokens"),
    Opcode(LOAD, "load", (_operand("buf", WEIGHT, WRITE),),
           ("channel", "seq", "bytes", "expert", "slice", "of"), False, DDR, "bytes",
           "load a slice from DDR channel `channel`, the channel's `seq`-th load"),
    Opcode(SEND, "send", (_BUF_ANY,), ("to", "tag", "bytes"), False, D2D_SEND, "bytes",
           "send a buffer's contents to chiplet `to`; pairs with a recv of the same tag there"),
    Opcode(RECV, "recv", (_operand("buf", ANY, WRITE),), ("from", "tag", "bytes"), False,
           D2D_RECV, None, "receive into a buffer from chiplet `from`; posting it is the credit"),
    Opcode(GEMM, "gemm",
           (_operand("w", WEIGHT, READ), _operand("x", ACT, READ), _operand("y", ACT, UPDATE)),
           ("expert", "slice", "of", "ops"), True, ENGINE, "ops",
           "apply slice `slice` of `of` of expert `expert` to the tokens' rows of x, add into y"),
    Opcode(ACC, "accumulate", (_operand("src", ACT, READ), _operand("dst", ACT, UPDATE)),
           ("ops",), True, ENGINE, "ops", "add the tokens' rows of src into dst"),
    Opcode(BARRIER, "barrier", (), (), False, HOLD, None,
           "hold issue until every program has reached its matching barrier"),
    Opcode(END, "end", (), (), False, ISSUE, None, "the end of the program"),
)  # fmt: skip
assert [op.code for op in OPCODES] == list(range(len(OPCODES)))
BY_NAME = {op.name: op for op in OPCODES}
MNEMONIC = tuple(op.mnemonic for op in OPCODES)

# The text after the op name, `$x` for an operand or a field (the ops' assembly formats, less
# `attr-dict` and quoting). cisa.alloc (a result, an optional group) is written out apart.
SYNTAX: dict[int, str] = {
    FREE: "$buf",
    INPUT: "$buf",
    OUTPUT: "$buf",
    LOAD: "$buf channel $channel seq $seq bytes $bytes expert $expert slice $slice of $of",
    SEND: "$buf to $to tag $tag bytes $bytes",
    RECV: "$buf from $from tag $tag bytes $bytes",
    GEMM: "$w, $x, $y expert $expert slice $slice of $of tokens $tokens ops $ops",
    ACC: "$src into $dst tokens $tokens ops $ops",
    BARRIER: "",
    END: "",
}


@dataclass(frozen=True)
class Program:
    """One chiplet's instructions (index = position in the program) and buffers."""

    code: tuple[int, ...]  # opcode of each instruction
    bufs: tuple[tuple[int, ...], ...]  # the buffers it names (alloc: the one it creates)
    args: tuple[tuple[int, ...], ...]  # its integer fields, named by OPCODES[code].fields
    tokens: tuple[tuple[int, ...] | None, ...]  # gemm, accumulate: its tokens; else None
    buffer_kind: tuple[int, ...]  # WEIGHT or ACT
    buffer_bytes: tuple[int, ...]
    buffer_tokens: tuple[tuple[int, ...], ...]  # an act buffer's tokens; () for weights
    buffer_alloc: tuple[int, ...]  # index of each buffer's alloc

    def __len__(self) -> int:
        return len(self.code)

    def name(self, buf: int) -> str:
        """`%a<k>` (act) or `%w<k>` (weight): the buffer's name in the printed program."""
        return f"%{KIND_NAMES[self.buffer_kind[buf]][0]}{buf}"


class CodeBuilder:
    """Appends instructions to one program and makes the `Program`."""

    def __init__(self) -> None:
        self.code: list[int] = []
        self.bufs: list[tuple[int, ...]] = []
        self.args: list[tuple[int, ...]] = []
        self.tokens: list[tuple[int, ...] | None] = []
        self.buffer_kind: list[int] = []
        self.buffer_bytes: list[int] = []
        self.buffer_tokens: list[tuple[int, ...]] = []
        self.buffer_alloc: list[int] = []

    def add(self, code: int, bufs: tuple[int, ...] = (), args: tuple[int, ...] = (),
            tokens: tuple[int, ...] | None = None) -> None:  # fmt: skip
        self.code.append(code)
        self.bufs.append(bufs)
        self.args.append(args)
        self.tokens.append(tokens)

    def alloc(self, kind: int, nbytes: int, tokens: tuple[int, ...] = ()) -> int:
        """A new buffer; returns its id."""
        buf = len(self.buffer_kind)
        self.buffer_kind.append(kind)
        self.buffer_bytes.append(nbytes)
        self.buffer_tokens.append(tokens)
        self.buffer_alloc.append(len(self.code))
        self.add(ALLOC, (buf,), (nbytes,))
        return buf

    def finish(self) -> Program:
        return Program(
            tuple(self.code), tuple(self.bufs), tuple(self.args), tuple(self.tokens),
            tuple(self.buffer_kind), tuple(self.buffer_bytes), tuple(self.buffer_tokens),
            tuple(self.buffer_alloc),
        )  # fmt: skip


# -- text -------------------------------------------------------------------------------------


def tokens_text(tokens: Sequence[int]) -> str:
    return f"array<i32: {', '.join(map(str, tokens))}>" if tokens else "array<i32>"


class _Syntax:
    """One instruction's syntax: its pieces, for writing; its pattern, for reading."""

    def __init__(self, opcode: Opcode, text: str):
        self.opcode = opcode
        self.operand_names = [o.name for o in opcode.operands]
        self.pieces: list[tuple[str, str]] = []  # (literal text before, field) per field
        pattern, literal = [], ""
        for word in re.split(r"(\$\w+)", text):
            if not word.startswith("$"):
                literal += word
                continue
            field = word[1:]
            self.pieces.append((literal, field))
            pattern.append(re.escape(literal))
            is_operand = field in self.operand_names
            pattern.append(_NAME if is_operand else _TOKENS if field == "tokens" else _INT)
            literal = ""
        self.tail = literal
        self.pattern = re.compile("".join(pattern) + re.escape(literal))
        self.fields = [field for _, field in self.pieces]
        written = [f for f in self.fields if f not in self.operand_names and f != "tokens"]
        assert written == list(opcode.fields), f"{opcode.name}: fields out of order"

    def write(self, names: list[str], args: tuple[int, ...], tokens) -> str:
        operands = dict(zip(self.operand_names, names, strict=True))
        values = dict(zip(self.opcode.fields, map(str, args), strict=True))
        if tokens is not None:
            values["tokens"] = tokens_text(tokens)
        parts = [f"{self.opcode.name} " if self.pieces else self.opcode.name]
        for literal, field in self.pieces:
            parts.append(literal)
            parts.append(operands[field] if field in operands else values[field])
        parts.append(self.tail)
        return "".join(parts)


_NAME = r"(%(?:[A-Za-z_$.\-][A-Za-z0-9_$.\-]*|\d+))"
_INT = r"(-?\d+)"
_TOKENS = r"(array<i32(?:: (?:-?\d+, )*-?\d+)?>)"
_ALLOC = re.compile(rf"{_NAME} = cisa\.alloc (weight|act) bytes {_INT}(?: tokens {_TOKENS})?")
_SYNTAXES = {code: _Syntax(OPCODES[code], text) for code, text in SYNTAX.items()}
_BY_NAME_SYNTAX = {OPCODES[code].name: syntax for code, syntax in _SYNTAXES.items()}


def instruction_text(program: Program, index: int) -> str:
    """The instruction as the program body prints it."""
    code, bufs = program.code[index], program.bufs[index]
    if code == ALLOC:
        buf = bufs[0]
        kind = program.buffer_kind[buf]
        text = f"{program.name(buf)} = cisa.alloc {KIND_NAMES[kind]} bytes {program.args[index][0]}"
        return text + (f" tokens {tokens_text(program.buffer_tokens[buf])}" if kind == ACT else "")
    operands = [program.name(b) for b in bufs]
    return _SYNTAXES[code].write(operands, program.args[index], program.tokens[index])


def program_lines(program: Program) -> list[str]:
    return [instruction_text(program, i) for i in range(len(program))]


def describe(program: Program, index: int, limit: int = 8) -> str:
    """`instruction 7 (cisa.gemm %w4, %a0, %a1 expert 2 ...)` for messages; long token lists
    are cut after `limit` tokens."""
    text = instruction_text(program, index)
    tokens = program.tokens[index]
    if tokens is not None and len(tokens) > limit:
        short = ", ".join(map(str, tokens[:limit]))
        text = text.replace(tokens_text(tokens), f"array<i32: {short}, ...>")
    return f"instruction {index} ({text})"


class NotCanonical(Exception):
    """A program body that only the generic parser reads (comments, attributes, other ops)."""


_I64 = (-(2**63), 2**63)
_I32 = (-(2**31), 2**31)


class ProgramReader:
    """Reads program bodies in the printed form, line by line, into Programs.

    Each line must be one instruction matched whole by its pattern; buffer names are local to
    the body; anything else raises NotCanonical, for the caller to read the body another way.
    Equal token arrays are decoded once (every slice of an expert repeats its array).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, tuple[int, ...]] = {}

    def read(self, lines: Sequence[str]) -> Program:
        builder = CodeBuilder()
        ids: dict[str, int] = {}
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line.startswith("%"):
                self._alloc(builder, ids, line)
                continue
            name, _, rest = line.partition(" ")
            syntax = _BY_NAME_SYNTAX.get(name)
            match = syntax.pattern.fullmatch(rest) if syntax is not None else None
            if match is None:
                raise NotCanonical(line)
            bufs, args, tokens = [], [], None
            for field, group in zip(syntax.fields, match.groups(), strict=True):
                if field in syntax.operand_names:
                    if group not in ids:
                        raise NotCanonical(line)
                    bufs.append(ids[group])
                elif field == "tokens":
                    tokens = self.array(group)
                else:
                    args.append(self.integer(group, _I64))
            builder.add(syntax.opcode.code, tuple(bufs), tuple(args), tokens)
        return builder.finish()

    def _alloc(self, builder: CodeBuilder, ids: dict[str, int], line: str) -> None:
        match = _ALLOC.fullmatch(line)
        if match is None:
            raise NotCanonical(line)
        name, kind, nbytes, tokens = match.groups()
        if name in ids:
            raise NotCanonical(line)  # a redefinition: the generic parser reports it
        is_act = kind == "act"
        if is_act != (tokens is not None):
            raise NotCanonical(line)  # the verifier's to report, on the generic path
        held = self.array(tokens) if tokens is not None else ()
        ids[name] = builder.alloc(ACT if is_act else WEIGHT, self.integer(nbytes, _I64), held)

    def array(self, text: str) -> tuple[int, ...]:
        values = self.arrays.get(text)
        if values is None:
            body = text[len("array<i32") : -1].removeprefix(": ")
            values = tuple(self.integer(v, _I32) for v in body.split(", ")) if body else ()
            self.arrays[text] = values
        return values

    @staticmethod
    def integer(digits: str, bounds: tuple[int, int]) -> int:
        value = int(digits)
        if not bounds[0] <= value < bounds[1]:
            raise NotCanonical(digits)
        return value


@dataclass
class ModuleCode:
    """Every program of a module, one after the other in chiplet order, as parallel lists
    indexed by `gid` (the instruction's position among all of them), buffers numbered across
    the module (a program's buffer b is `first_buffer[chiplet] + b`)."""

    programs: dict[int, Program]
    spans: dict[int, range]  # chiplet -> the gids of its program
    first_buffer: dict[int, int]
    code: list[int]
    chiplet: list[int]
    index: list[int]  # position in its program
    bufs: list[tuple[int, ...]]  # module-wide buffer ids
    args: list[tuple[int, ...]]
    tokens: list[tuple[int, ...] | None]
    buffer_kind: list[int]
    buffer_bytes: list[int]
    buffer_tokens: list[tuple[int, ...]]
    buffer_chiplet: list[int]

    @classmethod
    def of(cls, programs: dict[int, Program]) -> ModuleCode:
        out = cls(dict(sorted(programs.items())), {}, {}, [], [], [], [], [], [], [], [], [], [])
        for chiplet, program in out.programs.items():
            first, offset = len(out.code), len(out.buffer_kind)
            out.spans[chiplet] = range(first, first + len(program))
            out.first_buffer[chiplet] = offset
            out.code += program.code
            out.chiplet += [chiplet] * len(program)
            out.index += range(len(program))
            out.bufs += (
                program.bufs
                if not offset
                else [tuple(b + offset for b in ids) for ids in program.bufs]
            )
            out.args += program.args
            out.tokens += program.tokens
            out.buffer_kind += program.buffer_kind
            out.buffer_bytes += program.buffer_bytes
            out.buffer_tokens += program.buffer_tokens
            out.buffer_chiplet += [chiplet] * len(program.buffer_kind)
        return out

    @property
    def chiplets(self) -> list[int]:
        return list(self.programs)

    def gid(self, chiplet: int, index: int) -> int:
        return self.spans[chiplet].start + index

    def describe(self, gid: int) -> str:
        chiplet = self.chiplet[gid]
        return describe(self.programs[chiplet], self.index[gid])

    def gids(self, code: int) -> list[int]:
        """The instructions with that opcode, in gid order."""
        return [g for g, c in enumerate(self.code) if c == code]

    def field(self, gid: int, name: str) -> int:
        return OPCODES[self.code[gid]].field(self.args[gid], name)
