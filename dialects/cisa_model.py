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

import bisect
import dataclasses
import functools
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain

import numpy as np

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


def run_starts(keys: np.ndarray) -> np.ndarray:
    """For sorted keys (an array, or rows of arrays compared together, as a 2-D array): the
    position where the run of equal keys that each position belongs to starts."""
    keys = np.atleast_2d(keys)
    m = keys.shape[1]
    new = np.ones(m, dtype=bool)
    new[1:] = (keys[:, 1:] != keys[:, :-1]).any(axis=0)
    return np.maximum.accumulate(np.where(new, np.arange(m), 0))


class Rows(Sequence[tuple[int, ...]]):
    """Rows of integers of varying length, stored one after the other: `flat` holds the values,
    `at` where each row starts (and, last, where the last one ends), so row i is
    `flat[at[i]:at[i + 1]]`, as a tuple, each value plus `shift`. Compact (a few bytes per
    value, not a Python object per row) and readable as numpy columns (`arrays`), which is how
    the rules and the simulator read a million instructions.

    Rows can be a window on a larger store (`window`): `at` then need not start at 0, and
    `shift` says what to add to the stored values. A module's programs are windows on the
    module's store (`ModuleCode.of`), so their instructions are held once."""

    __slots__ = ("flat", "at", "shift", "_hash")

    def __init__(self, flat, at, shift: int = 0) -> None:
        self.flat, self.at, self.shift = flat, at, shift  # flat, at: packed int64 buffers
        self._hash: int | None = None

    @classmethod
    def of(cls, rows: Sequence[Sequence[int]]) -> Rows:
        at = array("q", [0])
        at.fromlist(list(accumulate(map(len, rows))))
        return cls(array("q", list(chain.from_iterable(rows))), at)

    def window(self, first: int, stop: int, shift: int = 0) -> Rows:
        """Rows first..stop-1 of these, sharing their store, values plus `shift`."""
        return Rows(self.flat, memoryview(self.at)[first : stop + 1], self.shift + shift)

    def __len__(self) -> int:
        return len(self.at) - 1

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        at = self.at
        if i < 0:
            i += len(at) - 1
        row = self.flat[at[i] : at[i + 1]]
        return tuple(v + self.shift for v in row) if self.shift else tuple(row)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rows):
            return False
        (flat, at), (other_flat, other_at) = self.arrays(), other.arrays()
        return np.array_equal(at, other_at) and np.array_equal(flat, other_flat)

    def __hash__(self) -> int:
        if self._hash is None:
            flat, at = self.arrays()
            self._hash = hash((flat.tobytes(), at.tobytes()))
        return self._hash

    def __repr__(self) -> str:
        return f"Rows({list(self)!r})"

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The values and where each row starts in them (from 0), as int64 arrays: views, no
        copy, for Rows that are not a window (a window's are computed)."""
        flat, at = self._stored()
        first, stop = (int(at[0]), int(at[-1])) if len(at) else (0, 0)
        values = flat[first:stop] + self.shift if self.shift else flat[first:stop]
        return values, at - first if first else at

    def _stored(self) -> tuple[np.ndarray, np.ndarray]:
        return np.frombuffer(self.flat, dtype=np.int64), np.frombuffer(self.at, dtype=np.int64)

    def lengths(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The length of every row, or of `rows` only."""
        at = self._stored()[1]
        return np.diff(at) if rows is None else at[rows + 1] - at[rows]

    def keep_in(self, window: Rows) -> None:
        """Hold these rows in `window` (the same rows, on a larger store) from now on, and let
        go of their own store."""
        assert len(window) == len(self)
        self.flat, self.at, self.shift = window.flat, window.at, window.shift

    def column(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Item k of each of `rows` (each of which has more than k items)."""
        flat, at = self._stored()
        return flat[at[rows] + k] + self.shift

    @classmethod
    def concat(cls, parts: Sequence[Rows], shifts: Sequence[int] | None = None) -> Rows:
        """The rows of `parts` one after the other, the values of part k plus `shifts[k]`."""
        flats, ats, total = [], [np.zeros(1, dtype=np.int64)], 0
        for k, part in enumerate(parts):
            flat, at = part.arrays()
            flats.append(flat + shifts[k] if shifts and shifts[k] else flat)
            ats.append(at[1:] + total)
            total += len(flat)
        flat = np.concatenate(flats) if flats else np.zeros(0, dtype=np.int64)
        return cls(_packed(flat), _packed(np.concatenate(ats)))


def _packed(values: np.ndarray) -> array:
    """An int64 array as a compact `array('q')` (copied once, no bytes object between)."""
    out = array("q")
    out.frombytes(memoryview(np.ascontiguousarray(values, dtype=np.int64)).cast("B"))
    return out


@dataclass(frozen=True)
class Program:
    """One chiplet's instructions (index = position in the program) and buffers.

    `memo` keeps what has been derived from the program once (the rules' verdict, see
    cisa_rules.py): a Program never changes, so neither does what follows from it."""

    code: bytes  # opcode of each instruction
    bufs: Rows  # the buffers it names (alloc: the one it creates)
    args: Rows  # its integer fields, named by OPCODES[code].fields
    tokens: tuple[tuple[int, ...] | None, ...]  # gemm, accumulate: its tokens; else None
    buffer_kind: tuple[int, ...]  # WEIGHT or ACT
    buffer_bytes: tuple[int, ...]
    buffer_tokens: tuple[tuple[int, ...], ...]  # an act buffer's tokens; () for weights
    buffer_alloc: tuple[int, ...]  # index of each buffer's alloc
    memo: dict = dataclasses.field(default_factory=dict, compare=False, repr=False, hash=False)

    def __len__(self) -> int:
        return len(self.code)

    def name(self, buf: int) -> str:
        """`%a<k>` (act) or `%w<k>` (weight): the buffer's name in the printed program."""
        return f"%{KIND_NAMES[self.buffer_kind[buf]][0]}{buf}"

    def opcodes(self) -> np.ndarray:
        return np.frombuffer(self.code, dtype=np.uint8)


class CodeBuilder:
    """Appends instructions to one program and makes the `Program`. Instructions are kept as
    tuples in a short list and packed into `Rows` arrays every `CHUNK` of them: appending a
    tuple is fast, and memory stays that of the packed form."""

    CHUNK = 1 << 14

    def __init__(self) -> None:
        self.code = bytearray()
        self.bufs, self.buf_at = array("q"), array("q", [0])
        self.args, self.arg_at = array("q"), array("q", [0])
        self.pending_bufs: list[tuple[int, ...]] = []
        self.pending_args: list[tuple[int, ...]] = []
        self.tokens: list[tuple[int, ...] | None] = []
        self.buffer_kind: list[int] = []
        self.buffer_bytes: list[int] = []
        self.buffer_tokens: list[tuple[int, ...]] = []
        self.buffer_alloc: list[int] = []

    def add(self, code: int, bufs: tuple[int, ...] = (), args: tuple[int, ...] = (),
            tokens: tuple[int, ...] | None = None) -> None:  # fmt: skip
        self.code.append(code)
        self.pending_bufs.append(bufs)
        self.pending_args.append(args)
        self.tokens.append(tokens)
        if len(self.pending_bufs) >= self.CHUNK:
            self._pack()

    def _pack(self) -> None:
        for rows, flat, at in (
            (self.pending_bufs, self.bufs, self.buf_at),
            (self.pending_args, self.args, self.arg_at),
        ):
            # fromlist: an array extended from an iterator grows one item at a time
            at.fromlist(list(accumulate(map(len, rows), initial=len(flat)))[1:])
            flat.fromlist(list(chain.from_iterable(rows)))
            rows.clear()

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
        self._pack()
        return Program(
            bytes(self.code), Rows(self.bufs, self.buf_at), Rows(self.args, self.arg_at),
            tuple(self.tokens), tuple(self.buffer_kind), tuple(self.buffer_bytes),
            tuple(self.buffer_tokens), tuple(self.buffer_alloc),
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


@dataclass(frozen=True)
class BodyLines:
    """Where a program's instructions stood in the text it was read from, for diagnostics:
    `lines[k]` of the body (k = 0 is the rest of the `{` line) is on line `first + k`; `blank`
    lists the k that held no instruction, `indents` the indentation of each instruction line
    that is not indented by `indent`."""

    source: str
    first: int
    brace_column: int
    blank: tuple[int, ...]
    indent: int
    indents: dict[int, int]

    def position(self, index: int | None) -> tuple[int, int]:
        """(line, column) of instruction `index`, or of the body's `{` for None."""
        if index is None:
            return self.first, self.brace_column
        line = index
        for skipped in self.blank:  # the index-th line that is not blank
            if skipped > line:
                break
            line += 1
        return self.first + line, self.indents.get(index, self.indent) + 1


class ProgramReader:
    """Reads program bodies in the printed form, line by line, into Programs.

    Each line must be one instruction matched whole by its pattern; buffer names are local to
    the body; anything else raises NotCanonical, for the caller to read the body another way.
    Equal token arrays are decoded once (every slice of an expert repeats its array).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, tuple[int, ...]] = {}

    def read(self, lines: Sequence[str]) -> Program:
        """The program in `lines`; `self.blank`, `self.indent` and `self.indents` say where
        its instructions were (see BodyLines)."""
        builder = CodeBuilder()
        ids: dict[str, int] = {}
        self.blank: list[int] = []
        self.indent: int | None = None
        self.indents: dict[int, int] = {}
        for number, raw in enumerate(lines):
            line = raw.strip()
            if not line:
                self.blank.append(number)
                continue
            self._note_indent(len(raw) - len(raw.lstrip()), number - len(self.blank))
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

    def _note_indent(self, indent: int, index: int) -> None:
        if self.indent is None:
            self.indent = indent
        elif indent != self.indent:
            self.indents[index] = indent

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


@dataclass(eq=False)
class ModuleCode:
    """Every program of a module, one after the other in chiplet order, indexed by `gid` (the
    instruction's position among all of them), buffers numbered across the module (a program's
    buffer b is `first_buffer[chiplet] + b`). Built once per set of programs (`of`).

    The instructions' buffers and fields are stored once: `bufs` and `args` hold them, and
    each program's own `bufs` and `args` become windows on them (`Rows.window`)."""

    programs: dict[int, Program]
    spans: dict[int, range]  # chiplet -> the gids of its program
    first_buffer: dict[int, int]
    code: bytes
    bufs: Rows  # module-wide buffer ids
    args: Rows
    buffer_kind: list[int]
    buffer_bytes: list[int]
    buffer_tokens: list[tuple[int, ...]]
    buffer_chiplet: list[int]
    memo: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, programs: dict[int, Program]) -> ModuleCode:
        """The programs together; the same object for the same programs (kept by the first
        program's `memo`), so that the verifier and the simulator share what they derive."""
        ordered = dict(sorted(programs.items()))
        key = tuple((chiplet, id(p)) for chiplet, p in ordered.items())
        holder = next(iter(ordered.values()), None)
        cached = holder.memo.get("module") if holder is not None else None
        if cached is not None and cached[0] == key:
            return cached[1]
        out = cls._build(ordered)
        if holder is not None:
            holder.memo["module"] = (key, out)
        return out

    @classmethod
    def _build(cls, programs: dict[int, Program]) -> ModuleCode:
        spans, first_buffer = {}, {}
        start = nbuf = 0
        buffer_kind, buffer_bytes, buffer_tokens, buffer_chiplet = [], [], [], []
        for chiplet, program in programs.items():
            spans[chiplet] = range(start, start + len(program))
            first_buffer[chiplet] = nbuf
            start += len(program)
            nbuf += len(program.buffer_kind)
            buffer_kind += program.buffer_kind
            buffer_bytes += program.buffer_bytes
            buffer_tokens += program.buffer_tokens
            buffer_chiplet += [chiplet] * len(program.buffer_kind)
        parts = list(programs.values())
        bufs = Rows.concat([p.bufs for p in parts], list(first_buffer.values()))
        args = Rows.concat([p.args for p in parts])
        for (chiplet, span), part in zip(spans.items(), parts, strict=True):
            part.bufs.keep_in(bufs.window(span.start, span.stop, -first_buffer[chiplet]))
            part.args.keep_in(args.window(span.start, span.stop))
        return cls(
            programs=programs,
            spans=spans,
            first_buffer=first_buffer,
            code=b"".join(p.code for p in parts),
            bufs=bufs,
            args=args,
            buffer_kind=buffer_kind,
            buffer_bytes=buffer_bytes,
            buffer_tokens=buffer_tokens,
            buffer_chiplet=buffer_chiplet,
        )

    @functools.cached_property
    def _starts(self) -> list[int]:
        return [span.start for span in self.spans.values()]

    def locate(self, gid: int) -> tuple[int, int]:
        """The chiplet of instruction `gid` and its index in that chiplet's program."""
        k = bisect.bisect_right(self._starts, gid) - 1
        return self.chiplets[k], gid - self._starts[k]

    def locate_all(self, gids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`locate` for an array of gids: their chiplets and indices, as arrays."""
        starts = np.asarray(self._starts, dtype=np.int64)
        k = np.searchsorted(starts, gids, side="right") - 1
        return np.asarray(self.chiplets, dtype=np.int64)[k], gids - starts[k]

    @functools.cached_property
    def tokens(self) -> Sequence[tuple[int, ...] | None]:
        """Per gid: the tokens of a gemm or accumulate, None for other instructions."""
        return _PerInstruction(self, "tokens")

    def tokens_at(self, gids: Sequence[int] | np.ndarray) -> list[tuple[int, ...] | None]:
        """`tokens` of each of `gids`, found in one pass."""
        chiplets, indices = self.locate_all(np.asarray(gids, dtype=np.int64))
        programs = self.programs
        pairs = zip(chiplets.tolist(), indices.tolist(), strict=True)
        return [programs[c].tokens[i] for c, i in pairs]

    @functools.cached_property
    def chiplets(self) -> list[int]:
        return list(self.programs)

    def opcodes(self) -> np.ndarray:
        return np.frombuffer(self.code, dtype=np.uint8)

    def gid(self, chiplet: int, index: int) -> int:
        return self.spans[chiplet].start + index

    def describe(self, gid: int) -> str:
        chiplet, index = self.locate(gid)
        return describe(self.programs[chiplet], index)

    def gids(self, code: int) -> list[int]:
        """The instructions with that opcode, in gid order."""
        return np.flatnonzero(self.opcodes() == code).tolist()

    def field(self, gid: int, name: str) -> int:
        return OPCODES[self.code[gid]].field(self.args[gid], name)

    def fields(self, code: int, *names: str) -> tuple[np.ndarray, ...]:
        """The gids of the instructions with that opcode, then each named field of theirs, as
        arrays."""
        gids = np.flatnonzero(self.opcodes() == code)
        fields = OPCODES[code].fields
        return (gids, *(self.args.column(gids, fields.index(n)) for n in names))


class _PerInstruction(Sequence):
    """A per-program tuple of the programs of a `ModuleCode` (e.g. their `tokens`), read by
    gid without a module-wide copy."""

    def __init__(self, code: ModuleCode, name: str) -> None:
        self.code, self.name = code, name

    def __len__(self) -> int:
        return len(self.code.code)

    def __getitem__(self, gid):  # type: ignore[override]
        if isinstance(gid, slice):
            return [self[g] for g in range(*gid.indices(len(self)))]
        if gid < 0:
            gid += len(self)
        if not 0 <= gid < len(self):
            raise IndexError(gid)
        chiplet, index = self.code.locate(gid)
        return getattr(self.code.programs[chiplet], self.name)[index]
