"""The `cisa` programs in compact array form, read by `verify-programs`, the assembly backend
and the simulator.

`flatten_program(program)` walks the instructions of one `cisa.program` once and returns a
`ProgramCode` of parallel lists: per instruction its opcode, its buffer operands as integer ids
(an `alloc` names the buffer it creates), its integer properties in a fixed order per opcode
(`FIELDS`) and its token list; per buffer its kind, bytes, tokens and allocating instruction.
The analyses then loop over plain integers and tuples and never touch an xDSL object again:
reading xDSL properties and operands is what makes a walk over 10^5 instructions slow, so it
is done once per instruction, here.

Buffer ids are numbered from `first_buffer` in allocation order, so a caller that flattens
several programs one after the other can give every buffer of the module its own id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects.builtin import DenseArrayBase
from xdsl.ir import Operation

from dialects.cisa import BufferKind, ProgramOp
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

OPCODE = {  # name -> opcode, in opcode order (dialects/cisa_opcodes.py)
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
assert list(OPCODE.values()) == list(range(len(OPCODE)))
MNEMONIC = tuple(name.removeprefix("cisa.") for name in OPCODE)  # opcode -> `alloc`, ...

# The integer properties of each opcode, in the order `ProgramCode.args` holds them.
FIELDS: tuple[tuple[str, ...], ...] = tuple(
    {
        ALLOC: ("bytes",),
        LOAD: ("channel", "seq", "bytes", "expert", "slice", "of"),
        SEND: ("to", "tag", "bytes"),
        RECV: ("from", "tag", "bytes"),
        GEMM: ("expert", "slice", "of", "ops"),
        ACC: ("ops",),
    }.get(code, ())
    for code in range(len(OPCODE))
)
WEIGHT, ACT = 0, 1  # buffer kinds


def _list():
    return field(default_factory=list)


@dataclass(slots=True)
class ProgramCode:
    """One program's instructions (index = position in the program) and buffers."""

    chiplet: int
    ops: list[Operation] = _list()
    code: list[int] = _list()  # opcode, -1 for an op outside the cisa dialect
    bufs: list[tuple[int, ...]] = _list()  # buffer ids of the operands (alloc: its result)
    args: list[tuple[int, ...]] = _list()  # integer properties, named by FIELDS[code]
    tokens: list[tuple[int, ...] | None] = _list()  # alloc (act), gemm, accumulate; else None
    # Per buffer (id - first_buffer): WEIGHT or ACT, bytes, tokens (() for weights), the index
    # of its alloc.
    buffer_kind: list[int] = _list()
    buffer_bytes: list[int] = _list()
    buffer_tokens: list[tuple[int, ...]] = _list()
    buffer_alloc: list[int] = _list()
    # The first instruction with an operand that is not a buffer allocated earlier in this
    # program, or -1. The walk stops there: `ops` ends with it, the other lists before it.
    bad: int = -1


def flatten_program(program: ProgramOp, first_buffer: int = 0) -> ProgramCode:  # noqa: C901
    """The instructions of `program` as a `ProgramCode` (see the module docstring).

    One loop with a branch per opcode that reads each property by name: generic code (a
    comprehension over `FIELDS`) takes twice as long, and this walk runs over every instruction
    of the module twice per compile and simulate. `FIELDS` documents the order of `args`
    (`tests/test_fast_ops.py` checks that the two agree).
    """
    out = ProgramCode(program.chiplet.value.data)
    ids: dict[int, int] = {}  # id() of a buffer's SSA value -> buffer id
    decoded: dict[int, tuple[int, ...]] = {}  # id() of a token array attribute -> its values
    opcode, weight = OPCODE.get, BufferKind.WEIGHT
    add_op, add_code, add_bufs = out.ops.append, out.code.append, out.bufs.append
    add_args, add_tokens = out.args.append, out.tokens.append
    op = program.body.block.first_op
    while op is not None:
        add_op(op)
        code = opcode(op.name, -1)
        p = op.properties
        held = None
        if code == ALLOC:
            (result,) = op.results
            b = ids[id(result)] = first_buffer + len(out.buffer_kind)
            bufs: tuple[int, ...] = (b,)
            args: tuple[int, ...] = (p["bytes"].value.data,)
            attr = p.get("tokens")
            if attr is not None:
                held = decoded.get(id(attr)) or _decode(attr, decoded)
            out.buffer_kind.append(WEIGHT if p["kind"].data == weight else ACT)
            out.buffer_bytes.append(args[0])
            out.buffer_tokens.append(held or ())
            out.buffer_alloc.append(len(out.code))
        else:
            operands = op._operands
            try:  # unpacking, not a comprehension, for the usual operand counts
                if len(operands) == 1:
                    (value,) = operands
                    bufs = (ids[id(value)],)
                elif len(operands) == 3:
                    a, b, c = operands
                    bufs = (ids[id(a)], ids[id(b)], ids[id(c)])
                else:
                    bufs = tuple([ids[id(value)] for value in operands])
            except KeyError:
                out.bad = len(out.code)
                break
            if code == GEMM:
                args = (
                    p["expert"].value.data,
                    p["slice"].value.data,
                    p["of"].value.data,
                    p["ops"].value.data,
                )
                attr = p["tokens"]
                held = decoded.get(id(attr)) or _decode(attr, decoded)
            elif code == LOAD:
                args = (
                    p["channel"].value.data,
                    p["seq"].value.data,
                    p["bytes"].value.data,
                    p["expert"].value.data,
                    p["slice"].value.data,
                    p["of"].value.data,
                )
            elif code == SEND:
                args = (p["to"].value.data, p["tag"].value.data, p["bytes"].value.data)
            elif code == RECV:
                args = (p["from"].value.data, p["tag"].value.data, p["bytes"].value.data)
            elif code == ACC:
                args = (p["ops"].value.data,)
                attr = p["tokens"]
                held = decoded.get(id(attr)) or _decode(attr, decoded)
            else:
                args = ()
        add_code(code)
        add_bufs(bufs)
        add_args(args)
        add_tokens(held)
        op = op._next_op
    return out


def _decode(attr: DenseArrayBase, decoded: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    """The values of a token array, remembered by attribute: the lowering gives every slice of
    an expert the same token array attribute, so most are decoded once (decoding costs µs)."""
    values = decoded[id(attr)] = attr.get_values()
    return values
