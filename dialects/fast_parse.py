"""Reading the bodies of `cisa.program` ops fast, when they are in the printer's own form.

xDSL parses custom op syntax token by token through its declarative assembly format, about
0.4 ms per `cisa` instruction (a gemm's token array alone is hundreds of tokens): a lowered
DeepSeek-MoE layer (18k instructions) took 8 s to read, a Qwen3 layer on a 4x4 mesh a minute.
`parse_program_body` reads a body laid out the way the printer writes it, one instruction per
line, each matched whole by one regular expression, and builds the ops with
`dialects/fast_ops.py`, with the names (`%w`) the parser would give their results.

It reads only what it fully understands. A body with anything else (comments, attribute
dictionaries, locations, generic syntax, a name it does not know, a value that does not fit
its type, ...) is left to the parser: `parse_program_body` returns None without having
consumed anything, and the caller parses the body the generic way, which also reports any
error with its position. `tests/test_fast_parse.py` checks that both ways build the same IR.
"""

from __future__ import annotations

import re

import numpy as np
from xdsl.dialects.builtin import BytesAttr, DenseArrayBase, IntAttr, IntegerAttr, i32, i64
from xdsl.ir import Attribute, Operation, Region, SSAValue
from xdsl.parser import Parser

from dialects import cisa
from dialects.fast_ops import block_of, new_op

_I64 = (-(2**63), 2**63)
_I32 = (-(2**31), 2**31)
_NAME = r"%([A-Za-z_$.\-][A-Za-z0-9_$.\-]*|\d+)"
_INT = r"(-?\d+)"
_TOKENS = r"(array<i32(?:: (?:-?\d+, )*-?\d+)?>)"

# Per op: the pattern of the line after the op name, and the property names its integer
# groups fill, in order. Operand groups come first.
_LINES: dict[str, tuple[type[Operation], re.Pattern[str], int, tuple[str, ...]]] = {
    f"cisa.{mnemonic}": (cls, re.compile(pattern), operands, props)
    for mnemonic, cls, pattern, operands, props in (
        ("free", cisa.FreeOp, _NAME, 1, ()),
        ("input", cisa.InputOp, _NAME, 1, ()),
        ("output", cisa.OutputOp, _NAME, 1, ()),
        (
            "load",
            cisa.LoadOp,
            rf"{_NAME} channel {_INT} seq {_INT} bytes {_INT} expert {_INT} slice {_INT} "
            rf"of {_INT}",
            1,
            ("channel", "seq", "bytes", "expert", "slice", "of"),
        ),
        ("send", cisa.SendOp, rf"{_NAME} to {_INT} tag {_INT} bytes {_INT}", 1,
         ("to", "tag", "bytes")),
        ("recv", cisa.RecvOp, rf"{_NAME} from {_INT} tag {_INT} bytes {_INT}", 1,
         ("from", "tag", "bytes")),
        (
            "gemm",
            cisa.GemmOp,
            rf"{_NAME}, {_NAME}, {_NAME} expert {_INT} slice {_INT} of {_INT} tokens "
            rf"{_TOKENS} ops {_INT}",
            3,
            ("expert", "slice", "of", "tokens", "ops"),
        ),
        ("accumulate", cisa.AccumulateOp, rf"{_NAME} into {_NAME} tokens {_TOKENS} ops {_INT}", 2,
         ("tokens", "ops")),
        ("barrier", cisa.BarrierOp, "", 0, ()),
        ("end", cisa.EndOp, "", 0, ()),
    )
}  # fmt: skip
_ALLOC = re.compile(rf"{_NAME} = cisa\.alloc (weight|act) bytes {_INT}(?: tokens {_TOKENS})?")
_KINDS = {kind.value: cisa.BufferKindAttr(kind) for kind in cisa.BufferKind}


class _NotCanonical(Exception):
    """The body holds something only the generic parser reads."""


def parse_program_body(parser: Parser) -> Region | None:
    """The region `{ ... }` at the parser's position, if every line of it is an instruction
    in the printer's form; the parser then continues after its `}`. Otherwise None, and the
    parser has not moved."""
    text = parser.lexer.input.content
    start = parser.pos
    if not isinstance(text, str) or text[start : start + 1] != "{":
        return None
    try:
        ops, end = _Reader(parser, text).read(start + 1)
    except _NotCanonical:
        return None
    parser._resume_from(end)  # noqa: SLF001 - xDSL's own way to continue at a position
    return Region(block_of(ops)) if ops else Region()  # as the parser: no block when empty


class _Reader:
    def __init__(self, parser: Parser, text: str):
        self.text = text
        self.outer = parser.ssa_values  # names visible here; the parser rejects redefining one
        self.values: dict[str, SSAValue] = {}
        self.ints: dict[int, IntegerAttr] = {}  # attributes are immutable: one per value
        self.arrays: dict[str, DenseArrayBase] = {}

    def read(self, pos: int) -> tuple[list[Operation], int]:
        """The instructions from `pos` (just after the `{`) to the closing `}`."""
        text = self.text
        end = text.find("\n", pos)
        if end < 0 or text[pos:end].strip():
            raise _NotCanonical  # the printer ends the `{` line there
        ops: list[Operation] = []
        while True:
            pos = end + 1
            end = text.find("\n", pos)
            if end < 0:
                end = len(text)
            line = text[pos:end].strip()
            if line.startswith("}"):
                return ops, text.index("}", pos) + 1
            ops.append(self.instruction(line))
            if end == len(text):
                raise _NotCanonical

    def instruction(self, line: str) -> Operation:
        if line.startswith("%"):
            return self.alloc(line)
        name, _, rest = line.partition(" ")
        spec = _LINES.get(name)
        if spec is None:
            raise _NotCanonical
        cls, pattern, operands, props = spec
        match = pattern.fullmatch(rest)
        if match is None:
            raise _NotCanonical
        groups = match.groups()
        values = [self.use(g) for g in groups[:operands]]
        properties = {
            prop: self.array(g) if prop == "tokens" else self.i64(g)
            for prop, g in zip(props, groups[operands:], strict=True)
        }
        return new_op(cls, values, properties)

    def alloc(self, line: str) -> Operation:
        match = _ALLOC.fullmatch(line)
        if match is None:
            raise _NotCanonical
        name, kind, nbytes, tokens = match.groups()
        if name in self.values or name in self.outer:
            raise _NotCanonical  # the parser reports a redefinition
        properties: dict[str, Attribute] = {"kind": _KINDS[kind], "bytes": self.i64(nbytes)}
        if tokens is not None:
            properties["tokens"] = self.array(tokens)
        op = new_op(cisa.AllocOp, (), properties, cisa.BufType())
        value = self.values[name] = op.results[0]
        if SSAValue.is_valid_name(name):  # as the parser names results
            value.name_hint = name
        return op

    def use(self, name: str) -> SSAValue:
        value = self.values.get(name)
        if value is None:
            raise _NotCanonical  # defined outside the body, later or never
        return value

    def i64(self, digits: str) -> IntegerAttr:
        value = int(digits)
        attr = self.ints.get(value)
        if attr is None:
            if not _I64[0] <= value < _I64[1]:
                raise _NotCanonical
            attr = self.ints[value] = IntegerAttr.new((IntAttr(value), i64))
        return attr

    def array(self, text: str) -> DenseArrayBase:
        """`array<i32>` or `array<i32: 1, 2, 3>`; every slice of an expert repeats the same
        array, so each distinct one is built once per body."""
        attr = self.arrays.get(text)
        if attr is None:
            body = text[len("array<i32") : -1].removeprefix(": ")
            values = [int(v) for v in body.split(", ")] if body else []
            if any(not _I32[0] <= v < _I32[1] for v in values):
                raise _NotCanonical
            data = np.asarray(values, dtype="<i4").tobytes()
            attr = self.arrays[text] = DenseArrayBase.new((i32, BytesAttr(data)))
        return attr
