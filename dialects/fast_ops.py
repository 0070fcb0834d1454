"""Building many flat ops fast: field-by-field equivalents of `Operation.create` and `Block(ops)`,
and the integer attributes they carry.

Lowering one layer builds 10^4 to 10^5 `cisa` instructions. xDSL's generic constructor costs
about 15 µs per op on the development VM (its operand and successor setters, the location
default and IRDL's pass filling in default properties), and appending to a block another 2 µs
(each insertion re-checks the op's ancestry); together that was most of `lower-to-cisa`.
`new_op` and `block_of` set the same fields directly, about 4x faster.

They build exactly what `Operation.create` and `Block(ops)` build, for ops without regions,
successors or default-valued properties and attributes (IRDL would fill those in), which every
`cisa` instruction is; `new_op` checks that once per op class. They set private xDSL fields, so
`tests/test_fast_ops.py` compares them with the xDSL constructors field by field: an xDSL
upgrade that changes the fields fails there (xdsl is pinned to 0.75.0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

import numpy as np
from xdsl.dialects.builtin import (
    UNKNOWN_LOC,
    BytesAttr,
    DenseArrayBase,
    IntAttr,
    IntegerAttr,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, OpResult, SSAValue, SSAValues, Use
from xdsl.irdl import IRDLOperation, OptionalDef

OpT = TypeVar("OpT", bound=Operation)

_NO_VALUES: SSAValues = SSAValues()
_CHECKED: set[type[Operation]] = set()


def _check_flat(cls: type[Operation]) -> None:
    """Raise unless `cls` has no regions, successors or default-valued properties."""
    if issubclass(cls, IRDLOperation):
        op_def = cls.get_irdl_definition()
        defaults = [
            name
            for name, d in (*op_def.properties.items(), *op_def.attributes.items())
            if not isinstance(d, OptionalDef) and d.default_value is not None
        ]
        if op_def.regions or op_def.successors or defaults:
            raise TypeError(f"new_op builds flat ops only; {cls.name} needs Operation.create")
    _CHECKED.add(cls)


def new_op(
    cls: type[OpT],
    operands: Sequence[SSAValue] = (),
    properties: Mapping[str, Attribute] | None = None,
    result_type: Attribute | None = None,
) -> OpT:
    """`cls.create(operands=operands, properties=properties, result_types=[result_type])`
    (no result when `result_type` is None), for flat ops (see the module docstring)."""
    if cls not in _CHECKED:
        _check_flat(cls)
    op = cls.__new__(cls)
    op._operands = SSAValues(operands)
    uses = []
    for index, value in enumerate(operands):
        use = Use(op, index)
        value.add_use(use)
        uses.append(use)
    op._operand_uses = tuple(uses)
    op.results = _NO_VALUES if result_type is None else SSAValues((OpResult(result_type, op, 0),))
    op.properties = dict(properties) if properties else {}
    op.attributes = {}
    op.location = UNKNOWN_LOC
    op._successors = ()
    op._successor_uses = ()
    op.regions = ()
    return op


def block_of(ops: Sequence[Operation]) -> Block:
    """`Block(ops)` for freshly built ops (attached nowhere, holding no region)."""
    block = Block()
    previous = None
    for op in ops:
        if op.parent is not None or op.regions:
            raise ValueError("block_of takes fresh flat ops only")
        op.parent = block
        op._prev_op = previous
        if previous is not None:
            previous._next_op = op
        previous = op
    if ops:
        block._first_op, block._last_op = ops[0], ops[-1]
    return block


# -- attributes -------------------------------------------------------------------------------
# Arrays from packed bytes (DenseArrayBase.from_list normalises element by element); integers
# cached, one attribute per value.


def i64_array(values: Iterable[int]) -> DenseArrayBase:
    """A `array<i64: ...>` built without xDSL's per-element normalisation (fast)."""
    data = np.asarray(list(values), dtype="<i8").tobytes()
    return DenseArrayBase.new((i64, BytesAttr(data)))


def i32_array(values: Iterable[int]) -> DenseArrayBase:
    data = np.asarray(list(values), dtype="<i4").tobytes()
    return DenseArrayBase.new((i32, BytesAttr(data)))


_INT_CACHE: dict[int, IntegerAttr] = {}


def i64_attr(value: int) -> IntegerAttr:
    """A cached `IntegerAttr` of type i64 (attributes are immutable, so they can be shared)."""
    attr = _INT_CACHE.get(value)
    if attr is None:
        attr = _INT_CACHE[value] = IntegerAttr.new((IntAttr(value), i64))
    return attr
