"""Integer attributes built fast: the plan's arrays and integers.

`DenseArrayBase.from_list` normalises element by element; an array of 10^4 integers is built
from packed bytes instead, through the attribute's public `new`. Integer attributes are
immutable, so one per value is kept and shared.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from xdsl.dialects.builtin import BytesAttr, DenseArrayBase, IntAttr, IntegerAttr, i32, i64


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
