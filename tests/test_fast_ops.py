"""`dialects.fast_ops` builds exactly what xDSL's constructors build, and `dialects.cisa_flat`
reads back exactly what the ops hold.

`new_op` and `block_of` set private xDSL fields; these tests compare them with
`Operation.create` and `Block(ops)` field by field, so an xDSL upgrade that changes the fields
fails here rather than in a lowered program.
"""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, StringAttr, i32
from xdsl.ir import Block, Region

from backends.sim.testing import parse, workload_module
from dialects import cisa
from dialects.cisa_flat import FIELDS, OPCODE, flatten_program
from dialects.fast_ops import block_of, new_op
from fsedp_compiler.pipelines import compile_module

_BUF = cisa.BufType()


def _i64(value: int) -> IntegerAttr:
    return IntegerAttr(value, 64)


def _tokens(*values: int) -> DenseArrayBase:
    return DenseArrayBase.from_list(i32, list(values))


def _program(build) -> list:
    """A weight and two act buffers, then one of each instruction on them, with `build` one of
    `_create` (`Operation.create`) or `new_op` (same arguments)."""

    def alloc(kind: cisa.BufferKind, nbytes: int, *tokens: int):
        props = {"kind": cisa.BufferKindAttr(kind), "bytes": _i64(nbytes)}
        if tokens:
            props["tokens"] = _tokens(*tokens)
        return build(cisa.AllocOp, (), props, _BUF)

    allocs = [alloc(cisa.BufferKind.WEIGHT, 8)]
    allocs += [alloc(cisa.BufferKind.ACT, 4, 0, 1), alloc(cisa.BufferKind.ACT, 4, 0, 1)]
    w, x, y = (op.results[0] for op in allocs)
    slice_ = {"expert": _i64(1), "slice": _i64(0), "of": _i64(2)}
    load = {"channel": _i64(0), "seq": _i64(0), "bytes": _i64(8), **slice_}
    return [
        *allocs,
        build(cisa.InputOp, (x,), {}, None),
        build(cisa.LoadOp, (w,), load, None),
        build(cisa.GemmOp, (w, x, y), {**slice_, "tokens": _tokens(1), "ops": _i64(6)}, None),
        build(cisa.SendOp, (w,), {"to": _i64(1), "tag": _i64(0), "bytes": _i64(8)}, None),
        build(cisa.RecvOp, (w,), {"from": _i64(1), "tag": _i64(1), "bytes": _i64(8)}, None),
        build(cisa.AccumulateOp, (y, x), {"tokens": _tokens(0), "ops": _i64(2)}, None),
        build(cisa.FreeOp, (w,), {}, None),
        build(cisa.OutputOp, (y,), {}, None),
        build(cisa.BarrierOp, (), {}, None),
        build(cisa.EndOp, (), {}, None),
    ]


def _create(cls, operands, properties, result_type):
    result_types = [] if result_type is None else [result_type]
    return cls.create(operands=operands, properties=properties, result_types=result_types)


def _fields(op) -> dict[str, object]:
    """Every instance field, with SSA values and uses by position (they are distinct objects)."""
    fields = dict(vars(op))
    fields["_operands"] = [(type(v), v.type) for v in op._operands]
    fields["_operand_uses"] = [(type(u), u.operation is op, u.index) for u in op._operand_uses]
    fields["results"] = [(type(r), r.type, r.op is op, r.index, r.name_hint) for r in op.results]
    for name in ("parent", "_next_op", "_prev_op"):
        fields.pop(name, None)
    return fields


def test_new_op_sets_the_fields_create_sets() -> None:
    for made, fast in zip(_program(_create), _program(new_op), strict=True):
        assert type(made) is type(fast)
        assert _fields(made) == _fields(fast)


def test_new_op_registers_the_uses_of_its_operands() -> None:
    for program in (_program(_create), _program(new_op)):
        w = program[0].results[0]
        users = [(use.operation.name, use.index) for use in w.uses]
        assert users == [
            ("cisa.free", 0),
            ("cisa.recv", 0),
            ("cisa.send", 0),
            ("cisa.gemm", 0),
            ("cisa.load", 0),
        ]


def test_block_of_links_like_block() -> None:
    made, fast = Block(_program(_create)), block_of(_program(new_op))
    assert [op.name for op in made.ops] == [op.name for op in fast.ops]
    assert [op.name for op in reversed(list(made.ops))] == [
        op.name for op in reversed(list(fast.ops))
    ]
    assert all(op.parent is fast for op in fast.ops)
    assert fast.first_op.prev_op is None and fast.last_op.next_op is None


def test_fast_ops_print_and_verify_like_created_ones() -> None:
    def module_text(build, block) -> str:
        program = cisa.ProgramOp.create(
            properties={"sym_name": StringAttr("chiplet0"), "chiplet": _i64(0)},
            regions=[Region(block(_program(build)))],
        )
        program.verify()
        return str(program)

    assert module_text(new_op, block_of) == module_text(_create, Block)


def test_new_op_refuses_ops_with_regions() -> None:
    with pytest.raises(TypeError, match="needs Operation.create"):
        new_op(cisa.ProgramOp)


def test_block_of_refuses_attached_ops() -> None:
    ops = _program(new_op)
    block_of(ops)
    with pytest.raises(ValueError, match="fresh flat ops"):
        block_of(ops)


# -- cisa_flat ---------------------------------------------------------------------------------


def test_flatten_program_reads_every_property_named_in_fields() -> None:
    module = compile_module(workload_module("deepseek-moe-16b", 16, strategy="fsedp"))
    programs = [op for op in module.body.block.ops if isinstance(op, cisa.ProgramOp)]
    first = 0
    for program in programs:
        flat = flatten_program(program, first)
        ops = list(program.body.block.ops)
        assert flat.ops == ops and flat.bad == -1
        for op, code, args, tokens in zip(ops, flat.code, flat.args, flat.tokens, strict=True):
            assert code == OPCODE[op.name]
            assert args == tuple(op.properties[name].value.data for name in FIELDS[code])
            held = op.properties.get("tokens")
            assert tokens == (None if held is None else held.get_values())
        allocs = [i for i, op in enumerate(ops) if isinstance(op, cisa.AllocOp)]
        assert flat.buffer_alloc == allocs
        assert [flat.bufs[i] for i in allocs] == [(first + b,) for b in range(len(allocs))]
        first += len(allocs)


def test_flatten_program_stops_at_a_buffer_from_elsewhere() -> None:
    module = parse(
        """
        builtin.module {
          cisa.program @chiplet0 chiplet 0 {
            %w = cisa.alloc weight bytes 8
            cisa.free %w
            cisa.end
          }
          cisa.program @chiplet1 chiplet 1 {
            %a = cisa.alloc weight bytes 8
            cisa.free %a
            cisa.end
          }
        }
        """
    )
    zero, one = (op for op in module.body.block.ops if isinstance(op, cisa.ProgramOp))
    free = list(one.body.block.ops)[1]
    free.operands = [list(zero.body.block.ops)[0].results[0]]
    flat = flatten_program(one)
    assert flat.bad == 1
    assert len(flat.ops) == 2 and len(flat.code) == 1
