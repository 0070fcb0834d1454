"""The text of `cisa` instructions, written and read fast.

xDSL prints and parses custom op syntax piece by piece through its declarative assembly format:
reading took about 0.4 ms per instruction (a gemm's token array alone is hundreds of tokens), so
a lowered DeepSeek-MoE layer (18k instructions) took 8 s to read and a Qwen3 layer on a 4x4 mesh
a minute; writing took a few hundred thousand small string writes per layer. This module knows
the assembly format of every instruction (`FORMATS`, the same text as the ops' own
`assembly_format`s, which `tests/test_cisa_text.py` checks) and handles the plain cases itself:

- `print_instruction` writes an instruction in one piece (between its operands); an op with
  extra attributes or properties of unexpected types is printed by xDSL's format instead.
- `parse_program_body` reads a `cisa.program` body laid out the way the printer writes it, one
  instruction per line, each line matched whole by one regular expression, and builds the ops
  with `dialects/fast_ops.py`, with the names (`%w`) the parser gives their results. A body with
  anything else (comments, attribute dictionaries, locations, generic syntax, a name it does
  not know, a value that does not fit its type, ...) is left to the parser: it returns None
  without having consumed anything, and the caller parses the body the generic way, which also
  reports any error with its position.

Both produce exactly what xDSL's format does; `tests/test_cisa_text.py` compares them.
"""

from __future__ import annotations

import re

from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, i32, i64
from xdsl.ir import Attribute, Operation, Region, SSAValue
from xdsl.parser import Parser
from xdsl.printer import Printer

from dialects import cisa
from dialects.fast_ops import block_of, i32_array, i64_attr, new_op

# Per instruction: its text after the op name, `$name` for an operand or a property (as in
# the op's assembly_format, without its `attr-dict` and quoting). cisa.alloc (a result, an
# optional group) is handled apart.
FORMATS: dict[type[Operation], str] = {
    cisa.FreeOp: "$buf",
    cisa.InputOp: "$buf",
    cisa.OutputOp: "$buf",
    cisa.LoadOp: "$buf channel $channel seq $seq bytes $bytes expert $expert slice $slice of $of",
    cisa.SendOp: "$buf to $to tag $tag bytes $bytes",
    cisa.RecvOp: "$buf from $from tag $tag bytes $bytes",
    cisa.GemmOp: "$w, $x, $y expert $expert slice $slice of $of tokens $tokens ops $ops",
    cisa.AccumulateOp: "$src into $dst tokens $tokens ops $ops",
    cisa.BarrierOp: "",
    cisa.EndOp: "",
}

_I64 = (-(2**63), 2**63)
_I32 = (-(2**31), 2**31)
_NAME = r"%([A-Za-z_$.\-][A-Za-z0-9_$.\-]*|\d+)"
_INT = r"(-?\d+)"
_TOKENS = r"(array<i32(?:: (?:-?\d+, )*-?\d+)?>)"
_ALLOC = re.compile(rf"{_NAME} = cisa\.alloc (weight|act) bytes {_INT}(?: tokens {_TOKENS})?")
_KINDS = {kind.value: cisa.BufferKindAttr(kind) for kind in cisa.BufferKind}


class _Format:
    """One instruction's format: its pieces, for printing; its pattern, for parsing."""

    def __init__(self, cls: type[Operation], text: str):
        op_def = cls.get_irdl_definition()
        self.cls = cls
        self.operands = [name for name, _ in op_def.operands]
        # (literal text before, field) per field; then the text after the last field
        self.pieces: list[tuple[str, str]] = []
        pattern, literal = [], ""
        for word in re.split(r"(\$\w+)", text):
            if not word.startswith("$"):
                literal += word
                continue
            field = word[1:]
            self.pieces.append((literal, field))
            pattern.append(re.escape(literal))
            is_operand = field in self.operands
            pattern.append(_NAME if is_operand else _TOKENS if field == "tokens" else _INT)
            literal = ""
        self.tail = literal
        self.pattern = re.compile("".join(pattern) + re.escape(literal))
        self.fields = [field for _, field in self.pieces]
        self.properties = {field for field in self.fields if field not in self.operands}


_FORMATS = {cls.name: _Format(cls, text) for cls, text in FORMATS.items()}


# -- writing ----------------------------------------------------------------------------------


def print_instruction(op: Operation, printer: Printer) -> bool:
    """Print `op` after its name as its assembly format would; False (nothing printed) for
    an op the format prints differently or that does not fit it: extra attributes, missing or
    extra properties or operands, a property that is not an i64 integer or an i32 array."""
    if op.attributes:
        return False
    if type(op) is cisa.AllocOp:
        return _print_alloc(op, printer)
    form = _FORMATS[op.name]
    props, values = op.properties, op.operands
    if len(values) != len(form.operands) or props.keys() != form.properties:
        return False
    texts = {field: _property_text(props[field]) for field in form.properties}
    if None in texts.values():
        return False
    operands = dict(zip(form.operands, values, strict=True))
    pending = " " if form.pieces else ""
    for literal, field in form.pieces:
        pending += literal
        if field in operands:
            printer.print_string(pending)
            printer.print_operand(operands[field])
            pending = ""
        else:
            pending += texts[field]
    printer.print_string(pending + form.tail)
    return True


def _print_alloc(op: Operation, printer: Printer) -> bool:
    """`$kind bytes $bytes (tokens $tokens)?`."""
    props = op.properties
    kind, nbytes, tokens = props.get("kind"), props.get("bytes"), props.get("tokens")
    if type(kind) is not cisa.BufferKindAttr or len(props) != 2 + (tokens is not None):
        return False
    texts = [_property_text(nbytes), "" if tokens is None else _property_text(tokens)]
    if None in texts or nbytes is None:
        return False
    tail = f" tokens {texts[1]}" if tokens is not None else ""
    printer.print_string(f" {kind.data.value} bytes {texts[0]}{tail}")
    return True


def _property_text(attr: Attribute | None) -> str | None:
    if type(attr) is IntegerAttr and attr.type == i64:
        return str(attr.value.data)
    if type(attr) is DenseArrayBase and attr.elt_type == i32:
        values = attr.get_values()
        return f"array<i32: {', '.join(map(str, values))}>" if values else "array<i32>"
    return None


# -- reading ----------------------------------------------------------------------------------


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
        form = _FORMATS.get(name)
        if form is None:
            raise _NotCanonical
        match = form.pattern.fullmatch(rest)
        if match is None:
            raise _NotCanonical
        operands, properties = [], {}
        for field, group in zip(form.fields, match.groups(), strict=True):
            if field in form.operands:
                operands.append(self.use(group))
            elif field == "tokens":
                properties[field] = self.array(group)
            else:
                properties[field] = self.i64(group)
        return new_op(form.cls, operands, properties)

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
        if not _I64[0] <= value < _I64[1]:
            raise _NotCanonical
        return i64_attr(value)

    def array(self, text: str) -> DenseArrayBase:
        """`array<i32>` or `array<i32: 1, 2, 3>`; every slice of an expert repeats the same
        array, so each distinct one is built once per body."""
        attr = self.arrays.get(text)
        if attr is None:
            body = text[len("array<i32") : -1].removeprefix(": ")
            values = [int(v) for v in body.split(", ")] if body else []
            if any(not _I32[0] <= v < _I32[1] for v in values):
                raise _NotCanonical
            attr = self.arrays[text] = i32_array(values)
        return attr
