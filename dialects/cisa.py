"""The `cisa` dialect: one instruction stream per chiplet (chiplet instruction set architecture).

This is the compiler's output and the simulator's input. Each `cisa.program` is the program of one
chiplet; its instructions carry every number the simulator needs (bytes, ops, tokens, peers), so
nothing else has to be consulted to time or check a run.

Buffers are SSA values of type `!cisa.buf`: `cisa.alloc` reserves SRAM bytes and every use of the
buffer names it, so data dependencies are explicit in the IR. A `weight` buffer holds one
micro-slice (or whole expert); an `act` buffer holds token vectors (`tokens` lists which rows).

Execution model (what the simulator implements):

- instructions issue in program order;
- a freshly allocated `act` buffer holds zeros in every row it lists;
- `load`, `recv`, `send`, `gemm` and `accumulate` are asynchronous: they start when their input
  buffers hold data (and, for `send`, when the receiver has posted the matching `recv`, which is
  the credit) and their unit is free; an instruction that reads or writes a buffer also waits
  for the earlier instructions of its program that write that buffer (a `gemm` accumulating
  into `y` after another `gemm` into `y`, a `send` of a buffer still being received);
- `free` waits until every earlier instruction that uses the buffer has finished; `barrier` waits
  for all chiplets; `end` closes the program;
- each DDR channel serves its loads in `seq` order; a `send` and the `recv` with the same tag on
  the other chiplet form one D2D transfer.

```mlir
cisa.program @chiplet0 chiplet 0 {
  %x = cisa.alloc act bytes 128 tokens array<i32: 0, 1>
  cisa.input %x
  %y = cisa.alloc act bytes 128 tokens array<i32: 0, 1>
  %w = cisa.alloc weight bytes 6144
  cisa.load %w channel 0 seq 0 bytes 6144 expert 3 slice 0 of 2
  cisa.gemm %w, %x, %y expert 3 slice 0 of 2 tokens array<i32: 1> ops 12288
  cisa.send %w to 1 tag 0 bytes 6144
  cisa.free %w
  cisa.output %y
  cisa.end
}
```
"""

from __future__ import annotations

from xdsl.dialects.builtin import I64, DenseArrayBase, IntegerAttr, StringAttr, SymbolNameConstraint
from xdsl.dialects.utils.enum_attribute import EnumAttribute
from xdsl.ir import (
    Dialect,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from dialects.chiplet import check_chiplet, system_of
from dialects.fast_verify import fast_verified_op


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


def _i64(value: int) -> IntegerAttr:
    return IntegerAttr(value, 64)


def _tokens(tokens: list[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(IntegerAttr(0, 32).type, tokens)


def _positive(op: IRDLOperation, *names: str) -> None:
    for name in names:
        value = op.properties[name].value.data
        if value <= 0:
            raise VerifyException(f"{name} must be positive, got {value}")


def _non_negative(op: IRDLOperation, *names: str) -> None:
    for name in names:
        value = op.properties[name].value.data
        if value < 0:
            raise VerifyException(f"{name} must be >= 0, got {value}")


def _check_slice_index(op: IRDLOperation) -> None:
    index, count = op.properties["slice"].value.data, op.properties["of"].value.data
    if index >= count:
        raise VerifyException(f"slice {index} is outside 0..{count - 1}")


def _check_token_list(tokens: DenseArrayBase, what: str) -> None:
    values = tokens.get_values()
    if any(t < 0 for t in values):
        raise VerifyException(f"{what} holds a negative token id")
    if len(set(values)) != len(values):
        raise VerifyException(f"{what} lists a token twice")


class _Instruction(IRDLOperation):
    """Shared verification of instructions that name a peer chiplet."""

    def _check_peer(self, peer: int) -> None:
        program = self.parent_op()
        if isinstance(program, ProgramOp) and peer == program.chiplet.value.data:
            raise VerifyException(f"chiplet {peer} cannot exchange data with itself")
        check_chiplet(self, peer, "peer chiplet")


@fast_verified_op
class ProgramOp(IRDLOperation):
    """The instruction stream of one chiplet."""

    name = "cisa.program"

    sym_name = prop_def(SymbolNameConstraint())
    chiplet = prop_def(IntegerAttr[I64])
    body = region_def("single_block")

    traits = traits_def(SymbolOpInterface())
    assembly_format = "$sym_name `chiplet` $chiplet attr-dict-with-keyword $body"

    def __init__(self, chiplet: int, body: Region, sym_name: str | None = None):
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name or f"chiplet{chiplet}"),
                "chiplet": _i64(chiplet),
            },
            regions=[body],
        )

    def verify_(self) -> None:
        check_chiplet(self, self.chiplet.value.data, "program chiplet")


@fast_verified_op
class EndOp(IRDLOperation):
    """The end of a chiplet's program."""

    name = "cisa.end"
    assembly_format = "attr-dict"
    traits = traits_def(IsTerminator(), HasParent(ProgramOp))


@fast_verified_op
class AllocOp(IRDLOperation):
    """Reserve `bytes` of SRAM; `act` buffers name the tokens whose vectors they hold."""

    name = "cisa.alloc"

    kind = prop_def(BufferKindAttr)
    bytes = prop_def(IntegerAttr[I64])
    tokens = opt_prop_def(DenseArrayBase)
    buf = result_def(BufType)

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$kind `bytes` $bytes (`tokens` qualified($tokens)^)? attr-dict"

    def __init__(self, kind: BufferKind, bytes: int, tokens: list[int] | None = None):
        props = {"kind": BufferKindAttr(kind), "bytes": _i64(bytes)}
        if tokens is not None:
            props["tokens"] = _tokens(tokens)
        super().__init__(properties=props, result_types=[BufType()])

    def verify_(self) -> None:
        _positive(self, "bytes")
        is_act = self.kind.data == BufferKind.ACT
        if is_act and self.tokens is None:
            raise VerifyException("an act buffer must list the tokens it holds")
        if not is_act and self.tokens is not None:
            raise VerifyException("a weight buffer holds no tokens")
        if self.tokens is not None:
            _check_token_list(self.tokens, "act buffer")


class _OneBufferOp(IRDLOperation):
    """An instruction whose only operand is a buffer."""

    buf = operand_def(BufType)
    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$buf attr-dict"

    def __init__(self, buf: SSAValue):
        super().__init__(operands=[buf])


@fast_verified_op
class FreeOp(_OneBufferOp):
    """Release a buffer once every earlier use of it has finished."""

    name = "cisa.free"


@fast_verified_op
class InputOp(_OneBufferOp):
    """The act buffer holds the layer input of its tokens (they are resident: R2)."""

    name = "cisa.input"


@fast_verified_op
class OutputOp(_OneBufferOp):
    """The act buffer holds the finished layer output of its tokens."""

    name = "cisa.output"


@fast_verified_op
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
    assembly_format = (
        "$buf `channel` $channel `seq` $seq `bytes` $bytes `expert` $expert `slice` $slice "
        "`of` $of attr-dict"
    )

    def __init__(
        self,
        buf: SSAValue,
        *,
        channel: int,
        seq: int,
        bytes: int,
        expert: int,
        slice: int,
        of: int,
    ):
        super().__init__(
            operands=[buf],
            properties={
                "channel": _i64(channel),
                "seq": _i64(seq),
                "bytes": _i64(bytes),
                "expert": _i64(expert),
                "slice": _i64(slice),
                "of": _i64(of),
            },
        )

    def verify_(self) -> None:
        _positive(self, "bytes", "of")
        _non_negative(self, "seq", "expert", "slice", "channel")
        _check_slice_index(self)
        system = system_of(self)
        channel = self.channel.value.data
        if system is not None and channel >= len(system.ddr):
            raise VerifyException(
                f"DDR channel {channel} does not exist (the system has {len(system.ddr)})"
            )


@fast_verified_op
class SendOp(_Instruction):
    """Send a buffer's contents to chiplet `to`; pairs with the `recv` of the same tag there."""

    name = "cisa.send"

    buf = operand_def(BufType)
    to = prop_def(IntegerAttr[I64])
    tag = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$buf `to` $to `tag` $tag `bytes` $bytes attr-dict"

    def __init__(self, buf: SSAValue, *, to: int, tag: int, bytes: int):
        super().__init__(
            operands=[buf], properties={"to": _i64(to), "tag": _i64(tag), "bytes": _i64(bytes)}
        )

    def verify_(self) -> None:
        _positive(self, "bytes")
        _non_negative(self, "tag")
        self._check_peer(self.to.value.data)


@fast_verified_op
class RecvOp(_Instruction):
    """Receive into a buffer from chiplet `from`; posting it grants the sender its credit."""

    name = "cisa.recv"

    buf = operand_def(BufType)
    src = prop_def(IntegerAttr[I64], prop_name="from")
    tag = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$buf `from` $from `tag` $tag `bytes` $bytes attr-dict"

    def __init__(self, buf: SSAValue, *, src: int, tag: int, bytes: int):
        super().__init__(
            operands=[buf], properties={"from": _i64(src), "tag": _i64(tag), "bytes": _i64(bytes)}
        )

    def verify_(self) -> None:
        _positive(self, "bytes")
        _non_negative(self, "tag")
        self._check_peer(self.src.value.data)


@fast_verified_op
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
    assembly_format = (
        "$w `,` $x `,` $y `expert` $expert `slice` $slice `of` $of `tokens` qualified($tokens) "
        "`ops` $ops attr-dict"
    )

    def __init__(
        self,
        w: SSAValue,
        x: SSAValue,
        y: SSAValue,
        *,
        expert: int,
        slice: int,
        of: int,
        tokens: list[int],
        ops: int,
    ):
        super().__init__(
            operands=[w, x, y],
            properties={
                "expert": _i64(expert),
                "slice": _i64(slice),
                "of": _i64(of),
                "tokens": _tokens(tokens),
                "ops": _i64(ops),
            },
        )

    def verify_(self) -> None:
        _positive(self, "ops", "of")
        _non_negative(self, "expert", "slice")
        _check_slice_index(self)
        if not self.tokens.get_values():
            raise VerifyException("a gemm needs at least one token")
        _check_token_list(self.tokens, "gemm")


@fast_verified_op
class AccumulateOp(IRDLOperation):
    """Add the listed tokens' vectors of `src` into the same tokens of `dst`."""

    name = "cisa.accumulate"

    src = operand_def(BufType)
    dst = operand_def(BufType)
    tokens = prop_def(DenseArrayBase)
    ops = prop_def(IntegerAttr[I64])

    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "$src `into` $dst `tokens` qualified($tokens) `ops` $ops attr-dict"

    def __init__(self, src: SSAValue, dst: SSAValue, *, tokens: list[int], ops: int):
        super().__init__(
            operands=[src, dst], properties={"tokens": _tokens(tokens), "ops": _i64(ops)}
        )

    def verify_(self) -> None:
        _positive(self, "ops")
        if not self.tokens.get_values():
            raise VerifyException("an accumulate needs at least one token")
        _check_token_list(self.tokens, "accumulate")


@fast_verified_op
class BarrierOp(IRDLOperation):
    """Wait until every chiplet has reached its matching barrier."""

    name = "cisa.barrier"
    traits = traits_def(HasParent(ProgramOp))
    assembly_format = "attr-dict"


INSTRUCTIONS = (
    EndOp,
    AllocOp,
    FreeOp,
    InputOp,
    OutputOp,
    LoadOp,
    SendOp,
    RecvOp,
    GemmOp,
    AccumulateOp,
    BarrierOp,
)
CISA = Dialect("cisa", [ProgramOp, *INSTRUCTIONS], [BufType, BufferKindAttr])


# -- text ---------------------------------------------------------------------------------------
# The ops read and write their assembly formats through dialects/cisa_text.py, which handles the
# plain cases fast and leaves the rest to xDSL. They are set after the class definitions since
# irdl_op_definition refuses a class that defines both an assembly format and print or parse.


def _parse_program(cls: type[ProgramOp], parser: Parser) -> ProgramOp:
    """`cisa.program`'s assembly format, read by hand so that the body can go through
    `dialects/cisa_text.py` (the generic parser takes 0.4 ms per instruction)."""
    from dialects.cisa_text import parse_program_body

    sym_name = parser.parse_symbol_name()
    parser.parse_keyword("chiplet")
    chiplet = parser.parse_integer(allow_boolean=False)
    attributes = parser.parse_optional_attr_dict_with_keyword()
    body = parse_program_body(parser) or parser.parse_region()
    op = cls(chiplet, body, sym_name.data)
    if attributes is not None:
        op.attributes.update(attributes.data)
    return op


def _print_instruction(op: IRDLOperation, printer: Printer) -> None:
    """Print through `dialects/cisa_text.py`, or the assembly format when it declines."""
    from dialects.cisa_text import print_instruction

    if not print_instruction(op, printer):
        _FORMAT_PRINT[type(op)](op, printer)


_FORMAT_PRINT = {cls: cls.print for cls in INSTRUCTIONS}
for _cls in INSTRUCTIONS:
    _cls.print = _print_instruction
ProgramOp.parse = classmethod(_parse_program)  # ProgramOp still prints through its format
