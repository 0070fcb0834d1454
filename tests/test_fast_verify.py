"""`dialects/fast_verify.py`: the fast structural check is never more lenient than xDSL's
`OpDef.verify`, and verification failures keep xDSL's messages."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, i32, i64
from xdsl.ir import Block, Region
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from backends.sim.testing import workload_module
from dialects import cisa
from fsedp_compiler.pipelines import compile_module

INSTRUCTIONS = cisa.INSTRUCTIONS


def generic_accepts(op) -> bool:
    try:
        type(op).get_irdl_definition().verify(op)
    except VerifyException:
        return False
    return True


@pytest.fixture(scope="module")
def lowered() -> list:
    """Every instruction of the four strategies' programs for a small layer, and a barrier
    (the compiler emits none)."""
    ops = []
    for strategy in ("fsedp", "fsedp-paired", "ep", "hydra"):
        module = workload_module("deepseek-moe-16b", 16, strategy=strategy)
        compile_module(module, strategy=strategy)
        ops += [op for op in module.walk() if type(op) in INSTRUCTIONS]
    barrier = cisa.BarrierOp()
    cisa.ProgramOp(0, Region(Block([barrier, cisa.EndOp()])))
    return [*ops, barrier]


def test_every_instruction_has_the_fast_path():
    assert all(hasattr(cls, "structure_check") for cls in INSTRUCTIONS)
    assert not hasattr(cisa.ProgramOp, "structure_check")  # a region: left to xDSL


def test_the_lowered_programs_take_the_fast_path(lowered):
    assert {type(op) for op in lowered} == set(INSTRUCTIONS)
    assert all(type(op).structure_check(op) for op in lowered)


def _samples(lowered) -> dict:
    return {type(op): op for op in lowered}


def _mutants(op):
    """Copies of `op` (detached) with one thing changed, named."""
    props = dict(op.properties)
    cls = type(op)
    operands, types = list(op.operands), [r.type for r in op.results]

    def make(operands=operands, properties=props, result_types=types, regions=()):
        return cls.create(
            operands=operands,
            properties=properties,
            result_types=result_types,
            regions=list(regions),
        )

    yield "unchanged", make()
    yield "unknown property", make(properties={**props, "color": StringAttr("red")})
    yield "extra operand", make(operands=[*operands, create_ssa_value(cisa.BufType())])
    yield "extra result", make(result_types=[*types, cisa.BufType()])
    yield "a region", make(regions=[Region(Block())])
    if operands:
        yield "operand of type i64", make(operands=[create_ssa_value(i64), *operands[1:]])
        yield "missing operand", make(operands=operands[1:])
    if types:
        yield "result of type i64", make(result_types=[i64])
    for name, attr in props.items():
        yield f"no {name}", make(properties={k: v for k, v in props.items() if k != name})
        yield f"{name} a string", make(properties={**props, name: StringAttr("x")})
        if isinstance(attr, IntegerAttr):
            yield f"{name} an i32", make(properties={**props, name: IntegerAttr(3, i32)})


@pytest.mark.parametrize("cls", INSTRUCTIONS, ids=lambda cls: cls.name)
def test_the_fast_check_never_accepts_what_xdsl_rejects(lowered, cls):
    rejected = 0
    for what, mutant in _mutants(_samples(lowered)[cls]):
        fast = cls.structure_check(mutant)
        assert not fast or generic_accepts(mutant), what
        rejected += not generic_accepts(mutant)
    assert rejected >= 4  # the mutations do break things


@pytest.mark.parametrize("cls", INSTRUCTIONS, ids=lambda cls: cls.name)
def test_a_rejected_op_gets_xdsl_s_message(lowered, cls):
    op = _samples(lowered)[cls]
    mutant = cls.create(
        operands=list(op.operands),
        properties={**op.properties, "color": StringAttr("red")},
        result_types=[r.type for r in op.results],
    )
    with pytest.raises(VerifyException) as fast:
        mutant.verify_()
    with pytest.raises(VerifyException) as generic:
        cls.get_irdl_definition().verify(mutant)
    assert str(fast.value) == str(generic.value)
    assert "property 'color' is not defined" in str(fast.value)


def test_parent_and_terminator_traits(lowered):
    samples = _samples(lowered)
    load = samples[cisa.LoadOp].clone()
    module = ModuleOp([load])  # a load outside any cisa.program
    assert not cisa.LoadOp.structure_check(load) and not generic_accepts(load)
    end = cisa.EndOp()
    program = cisa.ProgramOp(0, Region(Block([end, cisa.BarrierOp()])))  # end not last
    assert not cisa.EndOp.structure_check(end) and not generic_accepts(end)
    assert module is not None and program is not None
