"""The `cisa` dialect: one instruction stream per chiplet (chiplet instruction set architecture).

This is the compiler's output and the simulator's input. Each `cisa.program` is the program of one
chiplet; its instructions carry every number the simulator needs (bytes, ops, tokens, peers), so
nothing else has to be consulted to time or check a run.

A program's instructions live in one of two forms, converted losslessly both ways:

- as data, a `Program` (dialects/cisa_model.py) held by the op's `code` property, which is how
  the compiler builds them and everything reads them: 10^6 instructions are a few hundred MB of
  integers instead of GBs of xDSL ops;
- as xDSL ops in the op's region (`materialize`), for IR passes that rewrite instructions.

`program_code(op)` gives the data of either form. Both print alike:

```mlir
cisa.program @chiplet0 chiplet 0 {
  %a0 = cisa.alloc act bytes 128 tokens array<i32: 0, 1>
  cisa.input %a0
  %a1 = cisa.alloc act bytes 128 tokens array<i32: 0, 1>
  %w2 = cisa.alloc weight bytes 6144
  cisa.load %w2 channel 0 seq 0 bytes 6144 expert 3 slice 0 of 2
  cisa.gemm %w2, %a0, %a1 expert 3 slice 0 of 2 tokens array<i32: 1> ops 12288
  cisa.send %w2 to 1 tag 0 bytes 6144
  cisa.free %w2
  cisa.output %a1
  cisa.end
}
```

Buffers are SSA values of type `!cisa.buf` among the ops, integers in the data: `cisa.alloc`
reserves SRAM bytes and every use names the buffer, so data dependencies are explicit. A `weight`
buffer holds one micro-slice (or whole expert); an `act` buffer holds token vectors (`tokens`
lists which rows).

Execution model (what the simulator implements, and the rules of dialects/cisa_rules.py):

- instructions issue in program order;
- a freshly allocated `act` buffer holds zeros in every row it lists;
- `load`, `recv`, `send`, `gemm` and `accumulate` are asynchronous: they start when their input
  buffers hold data (and, for `send`, when the receiver has posted the matching `recv`, which is
  the credit) and their unit is free; an instruction that reads or writes a buffer also waits
  for the earlier instructions of its program that write that buffer (a `gemm` accumulating
  into `y` after another `gemm` into `y`, a `send` of a buffer still being received);
- `free` waits until every earlier instruction that uses the buffer has finished; `barrier` waits
  for all chiplets; `end` closes the program;
- each DDR channel serves its loads in `seq` order; sends and receives of the same (source,
  destination, tag) pair in program order, each pair one D2D transfer.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    IntegerAttr,
    StringAttr,
    SymbolNameConstraint,
    i32,
)
from xdsl.dialects.utils.enum_attribute import EnumAttribute
from xdsl.ir import (
    Block,
    Data,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from dialects import cisa_model
from dialects.chiplet import check_chiplet, system_of
from dialects.cisa_model import (
    ACT,
    BY_NAME,
    OPCODES,
    SYNTAX,
    WEIGHT,
    BodyLines,
    CodeBuilder,
    NotCanonical,
    Program,
    ProgramReader,
    program_lines,
)
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


class BufferKind(StrEnum):
    WEIGHT = "weight"
    ACT = "act"


@irdl_attr_definition
class BufferKindAttr(EnumAttribute[BufferKind], SpacedOpaqueSyntaxAttribute):
    """What a buffer holds: `weight` (a slice or expert) or `act` (token vectors)."""

    name = "cisa.kind"


@irdl_attr_definition
class BufType(ParametrizedAttribute, TypeAttribute):
    """An SRAM buffer of one chiplet."""

    name = "cisa.buf"


def _format(code: int) -> str:
    """An instruction's xDSL assembly format, from its syntax in `cisa_model.SYNTAX`."""
    words = []
    for word in re.split(r"(\$\w+|,| )", SYNTAX[code]):
        if not word.strip():
            continue
        if word == "$tokens":
            words.append("qualified($tokens)")
        else:
            words.append(word if word.startswith("$") else f"`{word}`")
    return " ".join([*words, "attr-dict"])


def _i64(value: int) -> IntegerAttr:
    return IntegerAttr(value, 64)


def _tokens(tokens: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i32, list(tokens))


# -- a program's instructions as data -----------------------------------------------------------


@irdl_attr_definition
class ProgramCodeAttr(Data[Program]):
    """A program's instructions as data (`cisa_model.Program`), printed as the text of its body
    in a string: `#cisa.code<"%a0 = cisa.alloc act bytes 32 ...\\ncisa.end">`."""

    name = "cisa.code"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Program:
        with parser.in_angle_brackets():
            pos = parser.pos
            text = parser.parse_str_literal(" holding the program's instructions")
        try:
            return ProgramReader().read(text.split("\n"))
        except NotCanonical as error:
            parser.raise_error(f"not a cisa instruction in the program: {error}", pos, pos + 1)

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal("\n".join(program_lines(self.data)))


# Where the instructions of a cisa.program read from text were, so that a violation can name
# its line. Not part of the IR: a copy or a rewrite of the op has none.
BODY_LINES: weakref.WeakKeyDictionary[ProgramOp, BodyLines] = weakref.WeakKeyDictionary()


class ProgramViolation(VerifyException):
    """A rule a program breaks; `location` is `file:line:col` of the instruction (or of the
    body) when the program was read from text, else None."""

    def __init__(self, message: str, location: str | None = None):
        super().__init__(message)
        self.location = location


@irdl_op_definition
class ProgramOp(IRDLOperation):
    """The instruction stream of one chiplet: its `code` (data), or ops in its region."""

    name = "cisa.program"

    sym_name = prop_def(SymbolNameConstraint())
    chiplet = prop_def(IntegerAttr[I64])
    code = opt_prop_def(ProgramCodeAttr)
    body = region_def()

    traits = traits_def(SymbolOpInterface())

    def __init__(
        self,
        chiplet: int,
        body: Region | Program,
        sym_name: str | None = None,
    ):
        properties = {
            "sym_name": StringAttr(sym_name or f"chiplet{chiplet}"),
            "chiplet": _i64(chiplet),
        }
        if isinstance(body, Program):
            properties["code"] = ProgramCodeAttr(body)
            body = Region()
        super().__init__(properties=properties, regions=[body])

    def verify_(self) -> None:
        from dialects.cisa_rules import Machine, program_violations

        chiplet = self.chiplet.value.data
        try:
            check_chiplet(self, chiplet, "program chiplet")
        except VerifyException as error:
            raise ProgramViolation(str(error), self._location(None)) from None
        if self.code is not None and self.body.blocks:
            raise VerifyException("a cisa.program holds its code or instruction ops, not both")
        try:
            program = program_code(self)
        except ValueError as error:
            raise VerifyException(str(error)) from None
        system = system_of(self)
        machine = Machine(system.num_chiplets, len(system.ddr)) if system is not None else None
        violations = program_violations(program, chiplet, machine)
        if violations:
            first = violations[0]
            raise ProgramViolation(str(first), self._location(first.index))

    def _location(self, index: int | None) -> str | None:
        where = BODY_LINES.get(self)
        if where is None:
            return None
        line, column = where.position(index)
        return f"{where.source}:{line}:{column}"

    # -- syntax: `cisa.program @name chiplet N attributes {...} { instructions }` -------------

    @classmethod
    def parse(cls, parser: Parser) -> ProgramOp:
        sym_name = parser.parse_symbol_name()
        parser.parse_keyword("chiplet")
        chiplet = parser.parse_integer(allow_boolean=False)
        attributes = parser.parse_optional_attr_dict_with_keyword()
        from dialects.xdsl_internals import read_program_body

        body = read_program_body(parser)
        if body is None:
            op = cls(chiplet, parser.parse_region(), sym_name.data)
        else:
            op = cls(chiplet, body[0], sym_name.data)
            BODY_LINES[op] = body[1]
        if attributes is not None:
            op.attributes.update(attributes.data)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string(f" chiplet {self.chiplet.value.data}")
        if self.attributes:
            printer.print_op_attributes(self.attributes, print_keyword=True)
        lines = _canonical_lines(self)
        if lines is None:
            printer.print_string(" ")
            printer.print_region(self.body)
            return
        printer.print_string(" {")
        with printer.indented():
            printer.print_string("".join(f"\n{line}" for line in lines))
        printer.print_string("\n}")


# -- the instructions as ops --------------------------------------------------------------------
# Their verification is the rules' (dialects/cisa_rules.py), run by the enclosing cisa.program.


@irdl_op_definition
class EndOp(IRDLOperation):
    """The end of a chiplet's program."""

    name = "cisa.end"
    assembly_format = _format(END)
    traits = traits_def(IsTerminator(), HasParent(ProgramOp))


@irdl_op_definition
class AllocOp(IRDLOperation):
    """Reserve `bytes` of SRAM; `act` buffers name the tokens whose vectors they hold."""

    name = "cisa.alloc"

    kind = prop_def(BufferKindAttr)
    bytes = prop_def(IntegerAttr[I64])
    tokens = opt_prop_def(DenseArrayBase)
    buf = result_def(BufType)

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$kind `bytes` $bytes (`tokens` qualified($tokens)^)? attr-dict"

    def __init__(self, kind: BufferKind, bytes: int, tokens: Sequence[int] | None = None):
        props = {"kind": BufferKindAttr(kind), "bytes": _i64(bytes)}
        if tokens is not None:
            props["tokens"] = _tokens(tokens)
        super().__init__(properties=props, result_types=[BufType()])


class _OneBufferOp(IRDLOperation):
    """An instruction whose only operand is a buffer."""

    buf = operand_def(BufType)
    traits = traits_def(HasParent(ProgramOp))

    def __init__(self, buf: SSAValue):
        super().__init__(operands=[buf])


@irdl_op_definition
class FreeOp(_OneBufferOp):
    """Release a buffer once every earlier use of it has finished."""

    name = "cisa.free"
    assembly_format = _format(FREE)


@irdl_op_definition
class InputOp(_OneBufferOp):
    """The act buffer holds the layer input of its tokens (they are resident: R2)."""

    name = "cisa.input"
    assembly_format = _format(INPUT)


@irdl_op_definition
class OutputOp(_OneBufferOp):
    """The act buffer holds the finished layer output of its tokens."""

    name = "cisa.output"
    assembly_format = _format(OUTPUT)


@irdl_op_definition
class LoadOp(IRDLOperation):
    """Load a slice from DDR channel `channel`; the channel serves its loads in `seq` order."""

    name = "cisa.load"

    buf = operand_def(BufType)
    channel = prop_def(IntegerAttr[I64])
    seq = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])
    expert = prop_def(IntegerAttr[I64])
    slice = prop_def(IntegerAttr[I64])
    of = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(LOAD)

    def __init__(self, buf: SSAValue, *, channel: int, seq: int, bytes: int, expert: int,
                 slice: int, of: int):  # fmt: skip
        values = {"channel": channel, "seq": seq, "bytes": bytes, "expert": expert,
                  "slice": slice, "of": of}  # fmt: skip
        super().__init__(operands=[buf], properties={k: _i64(v) for k, v in values.items()})


@irdl_op_definition
class SendOp(IRDLOperation):
    """Send a buffer's contents to chiplet `to`; pairs with a `recv` of the same tag there."""

    name = "cisa.send"

    buf = operand_def(BufType)
    to = prop_def(IntegerAttr[I64])
    tag = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(SEND)

    def __init__(self, buf: SSAValue, *, to: int, tag: int, bytes: int):
        super().__init__(
            operands=[buf], properties={"to": _i64(to), "tag": _i64(tag), "bytes": _i64(bytes)}
        )


@irdl_op_definition
class RecvOp(IRDLOperation):
    """Receive into a buffer from chiplet `from`; posting it grants the sender its credit."""

    name = "cisa.recv"

    buf = operand_def(BufType)
    src = prop_def(IntegerAttr[I64], prop_name="from")
    tag = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(RECV)

    def __init__(self, buf: SSAValue, *, src: int, tag: int, bytes: int):
        super().__init__(
            operands=[buf], properties={"from": _i64(src), "tag": _i64(tag), "bytes": _i64(bytes)}
        )


@irdl_op_definition
class GemmOp(IRDLOperation):
    """Apply slice `slice` of expert `expert` (weights in `w`) to the listed tokens of `x` and
    add the gate-weighted partial output into the same tokens of `y`."""

    name = "cisa.gemm"

    w = operand_def(BufType)
    x = operand_def(BufType)
    y = operand_def(BufType)
    expert = prop_def(IntegerAttr[I64])
    slice = prop_def(IntegerAttr[I64])
    of = prop_def(IntegerAttr[I64])
    tokens = prop_def(DenseArrayBase)
    ops = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(GEMM)

    def __init__(self, w: SSAValue, x: SSAValue, y: SSAValue, *, expert: int, slice: int,
                 of: int, tokens: Sequence[int], ops: int):  # fmt: skip
        properties = {"expert": _i64(expert), "slice": _i64(slice), "of": _i64(of),
                      "tokens": _tokens(tokens), "ops": _i64(ops)}  # fmt: skip
        super().__init__(operands=[w, x, y], properties=properties)


@irdl_op_definition
class AccumulateOp(IRDLOperation):
    """Add the listed tokens' vectors of `src` into the same tokens of `dst`."""

    name = "cisa.accumulate"

    src = operand_def(BufType)
    dst = operand_def(BufType)
    tokens = prop_def(DenseArrayBase)
    ops = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(ACC)

    def __init__(self, src: SSAValue, dst: SSAValue, *, tokens: Sequence[int], ops: int):
        super().__init__(
            operands=[src, dst], properties={"tokens": _tokens(tokens), "ops": _i64(ops)}
        )


@irdl_op_definition
class BarrierOp(IRDLOperation):
    """Wait until every chiplet has reached its matching barrier."""

    name = "cisa.barrier"
    traits = traits_def(HasParent(ProgramOp))
    assembly_format = _format(BARRIER)


INSTRUCTIONS: dict[int, type[IRDLOperation]] = {
    ALLOC: AllocOp,
    FREE: FreeOp,
    INPUT: InputOp,
    OUTPUT: OutputOp,
    LOAD: LoadOp,
    SEND: SendOp,
    RECV: RecvOp,
    GEMM: GemmOp,
    ACC: AccumulateOp,
    BARRIER: BarrierOp,
    END: EndOp,
}
assert {cls.name for cls in INSTRUCTIONS.values()} == set(BY_NAME)


def _canonical_lines(op: ProgramOp) -> list[str] | None:
    """The body's lines when it can be printed from its code, else None (ops with
    attributes, foreign ops: xDSL prints them)."""
    if op.code is not None:
        return program_lines(op.code.data)
    block = op.body.block if op.body.blocks else None
    if block is None:
        return []
    if any(o.attributes or type(o) not in _CLASSES for o in block.ops):
        return None
    try:
        return program_lines(program_from_ops(block))
    except ValueError:
        return None


_CLASSES = {cls: code for code, cls in INSTRUCTIONS.items()}


def program_code(op: ProgramOp) -> Program:
    """The program's instructions as data, from whichever form it holds."""
    if op.code is not None:
        return op.code.data
    if not op.body.blocks:
        return CodeBuilder().finish()
    return program_from_ops(op.body.block)


def program_from_ops(block: Block) -> Program:
    """The instructions of a block of cisa ops as data; ValueError naming the first op that
    is not a cisa instruction or names a buffer not allocated earlier in the block."""
    builder = CodeBuilder()
    ids: dict[SSAValue, int] = {}
    for index, op in enumerate(block.ops):
        code = _CLASSES.get(type(op))
        if code is None:
            raise ValueError(f"instruction {index} ({op.name}) is not a cisa instruction")
        p = op.properties
        if code == ALLOC:
            kind = WEIGHT if op.kind.data == BufferKind.WEIGHT else ACT
            if (kind == ACT) != (op.tokens is not None):
                need = "an act buffer must list the tokens it holds"
                raise ValueError(need if kind == ACT else "a weight buffer holds no tokens")
            tokens = op.tokens.get_values() if op.tokens is not None else ()
            ids[op.results[0]] = builder.alloc(kind, op.bytes.value.data, tuple(tokens))
            continue
        try:
            bufs = tuple(ids[value] for value in op.operands)
        except KeyError:
            raise ValueError(
                f"instruction {index} ({op.name}) uses a buffer not allocated earlier in this "
                "program"
            ) from None
        fields = OPCODES[code].fields
        args = tuple(p[name].value.data for name in fields)
        tokens = tuple(p["tokens"].get_values()) if OPCODES[code].tokens else None
        builder.add(code, bufs, args, tokens)
    return builder.finish()


def ops_from_program(program: Program) -> list[Operation]:
    """The instructions of `program` as xDSL ops (buffers are the allocs' results)."""
    values: list[SSAValue] = []
    ops: list[Operation] = []
    for i, code in enumerate(program.code):
        args = program.args[i]
        if code == ALLOC:
            b = program.bufs[i][0]
            is_act = program.buffer_kind[b] == ACT
            kind = BufferKind.ACT if is_act else BufferKind.WEIGHT
            op = AllocOp(kind, args[0], program.buffer_tokens[b] if is_act else None)
            values.append(op.buf)
            ops.append(op)
            continue
        cls = INSTRUCTIONS[code]
        properties = {name: _i64(v) for name, v in zip(OPCODES[code].fields, args, strict=True)}
        if OPCODES[code].tokens:
            properties["tokens"] = _tokens(program.tokens[i])
        operands = [values[b] for b in program.bufs[i]]
        ops.append(cls.create(operands=operands, properties=properties))
    return ops


def programs_of(module: Operation) -> dict[int, Program]:
    """Chiplet -> the program of every top-level `cisa.program` of `module` (a ModuleOp);
    ValueError when two are for one chiplet, or an op body cannot be read as a program."""
    programs: dict[int, Program] = {}
    for op in module.regions[0].block.ops:
        if isinstance(op, ProgramOp):
            chiplet = op.chiplet.value.data
            if chiplet in programs:
                raise ValueError(f"chiplet {chiplet} has two cisa.program ops")
            try:
                programs[chiplet] = program_code(op)
            except ValueError as error:
                raise ValueError(f"chiplet {chiplet}, {error}") from None
    return programs


def materialize(op: ProgramOp) -> None:
    """Make the program's instructions xDSL ops in its region (for IR passes on them)."""
    if op.code is None:
        return
    ops = ops_from_program(op.code.data)
    del op.properties["code"]
    op.body.add_block(Block(ops))


def dematerialize(op: ProgramOp) -> None:
    """The reverse of `materialize`: the region's instructions back to data."""
    if op.code is not None or not op.body.blocks:
        return
    program = program_from_ops(op.body.block)
    for block in list(op.body.blocks):
        op.body.detach_block(block).erase()
    op.properties["code"] = ProgramCodeAttr(program)


CISA = Dialect(
    "cisa",
    [ProgramOp, *INSTRUCTIONS.values()],
    [BufType, BufferKindAttr, ProgramCodeAttr],
)

__all__ = [
    "CISA",
    "INSTRUCTIONS",
    "BufferKind",
    "ProgramOp",
    "cisa_model",
    "dematerialize",
    "materialize",
    "ops_from_program",
    "program_code",
    "program_from_ops",
    "programs_of",
]
