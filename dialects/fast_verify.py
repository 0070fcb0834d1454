"""A fast path for xDSL's structural verification of simple IRDL ops.

`fast_verified_op` is `irdl_op_definition` plus a check of the op's structure (operand and result
types, properties, parent and terminator traits) written out for the op's own definition. When
that check passes, xDSL's generic `OpDef.verify` would pass too, and it is skipped; when it does
not, `OpDef.verify` runs and says what is wrong, with xDSL's own message. The op's custom
`verify_` runs after either, as with `irdl_op_definition`. So results and messages are xDSL's;
only the time differs: the generic verifier walks constraint objects for every operand and
property, and verifying a lowered module (about 55-70 µs per `cisa` instruction, most of it
there) took longer than compiling it; with this check it takes about half as long.

The check models only definitions made of single operands and results of a base type, no
regions, successors or attribute definitions, properties that are `IntegerAttr[T]` or of a base
attribute class (optional or not), and the traits `HasParent` and `IsTerminator`. A definition
with anything else gets no fast path: the class is left exactly as `irdl_op_definition` made it.
`tests/test_fast_verify.py` checks the fast path against `OpDef.verify` on valid and broken ops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from xdsl.dialects.builtin import IntAttr, IntegerAttr
from xdsl.ir import Attribute, Operation
from xdsl.irdl import IRDLOperation, OpDef, OptPropertyDef, irdl_op_definition
from xdsl.irdl.constraints import (
    BaseAttr,
    EqAttrConstraint,
    EqIntConstraint,
    ParamAttrConstraint,
    RangeLengthConstraint,
    RangeOf,
)
from xdsl.traits import HasParent, IsTerminator

OpT = TypeVar("OpT", bound=type[IRDLOperation])
Check = Callable[[Operation], bool]


def fast_verified_op(cls: OpT) -> OpT:
    """`irdl_op_definition(cls)`, verifying through `structure_check` where it applies."""
    custom = getattr(cls, "verify_", None)  # what irdl_op_definition calls after OpDef.verify
    cls = irdl_op_definition(cls)
    op_def = cls.get_irdl_definition()
    check = structure_check(op_def)
    if check is None:
        return cls

    def verify_(self: IRDLOperation) -> None:
        if not check(self):
            op_def.verify(self)
        if custom is not None:
            custom(self)

    cls.verify_ = verify_
    cls.structure_check = staticmethod(check)
    return cls


def structure_check(op_def: OpDef) -> Check | None:
    """A function that is True only for ops `op_def.verify` accepts, or None when the
    definition has a part this module does not model."""
    operands = _single_types([d.constr for _, d in op_def.operands])
    results = _single_types([d.constr for _, d in op_def.results])
    properties = [(name, _attribute_check(d.constr)) for name, d in op_def.properties.items()]
    optional = {name for name, d in op_def.properties.items() if isinstance(d, OptPropertyDef)}
    parents = [t.op_types for t in op_def.traits if isinstance(t, HasParent)]
    terminator = any(isinstance(t, IsTerminator) for t in op_def.traits)
    modelled = all(isinstance(t, HasParent | IsTerminator) for t in op_def.traits)
    if (
        operands is None
        or results is None
        or any(check is None for _, check in properties)
        or op_def.regions
        or op_def.successors
        or op_def.attributes
        or op_def.options
        or not modelled
    ):
        return None
    names = {name for name, _ in properties}

    value_types = operands + results

    def check(op: Operation) -> bool:
        if len(op.operands) != len(operands):
            return False
        values = (*op.operands, *op.results)
        if len(values) != len(value_types):
            return False
        for value, base in zip(values, value_types, strict=True):
            if not isinstance(value.type, base):
                return False
        if op.regions or op.successors:
            return False
        held = op.properties
        if not names.issuperset(held):
            return False
        for name, accepts in properties:
            attr = held.get(name)
            if attr is None:
                if name not in optional:
                    return False
            elif not accepts(attr):
                return False
        parent = op.parent_op()
        if parent is not None:
            for types in parents:
                if not isinstance(parent, types):
                    return False
        return not (terminator and op.parent is not None and op.parent.last_op != op)

    return check


def _single_types(constraints) -> tuple[type[Attribute], ...] | None:
    """The base type of each single (non-variadic) operand or result, or None."""
    types = []
    for constr in constraints:
        if not (
            isinstance(constr, RangeLengthConstraint)
            and isinstance(constr.length, EqIntConstraint)
            and constr.length.value == 1
            and isinstance(constr.constraint, RangeOf)
            and isinstance(constr.constraint.constr, BaseAttr)
        ):
            return None
        types.append(constr.constraint.constr.attr)
    return tuple(types)


def _attribute_check(constr) -> Callable[[Attribute], bool] | None:
    """For `BaseAttr(T)` and `IntegerAttr[T]` (`ParamAttrConstraint(IntegerAttr, (BaseAttr(IntAttr),
    EqAttrConstraint(T)))`), a test equivalent to `constr.verify`; None for anything else."""
    if isinstance(constr, BaseAttr):
        base = constr.attr
        return lambda attr: isinstance(attr, base)
    if (
        isinstance(constr, ParamAttrConstraint)
        and constr.base_attr is IntegerAttr
        and len(constr.param_constrs) == 2
        and isinstance(constr.param_constrs[0], BaseAttr)
        and constr.param_constrs[0].attr is IntAttr
        and isinstance(constr.param_constrs[1], EqAttrConstraint)
    ):
        if [name for name, _ in IntegerAttr.get_irdl_definition().parameters] != ["value", "type"]:
            return None  # the fields below would not be the parameters the constraint reads
        width = constr.param_constrs[1].attr
        # Type objects found equal to `width`, by id; holding them keeps their ids unique.
        equal = {id(width): width}

        def accepts(attr: Attribute) -> bool:
            # An IntegerAttr subclass could define more parameters: the generic path judges it.
            if type(attr) is not IntegerAttr or type(attr.value) is not IntAttr:
                return False
            kind = attr.type
            if equal.get(id(kind)) is kind:
                return True
            if kind == width:
                equal[id(kind)] = kind
                return True
            return False

        return accepts
    return None
