"""`order-loads{order=id|paired|hot-first}`: the global slice load order (R7).

Every slice gets its position in one global stream, stored as the `order` array of its
`chiplet.expert` (position of slice s = `order[s]`). The DDR channels serve their loads, and
every chiplet visits its slices, in this order (docs/compiler.md, "program shape"). The order is
independent of which channel serves a slice (`distribute-slices`), so the two can be ablated
separately. An expert's heat is its token count (a shared expert: every token).

- `id`: by expert id, the slices of one expert consecutively.
- `hot-first`: hottest expert first (ties by id), slices consecutively.
- `paired` (the paper's paired loading): the experts sorted by heat are paired hottest with
  coldest, second hottest with second coldest, ...; within a pair the slices alternate
  (hot 0, cold 0, hot 1, cold 1, ...), so a long-compute slice is always followed by a short one
  whose load overlaps it. An odd expert out (the median) streams alone at its place.

Before:

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5
chiplet.expert 1 slices 2 bytes 192 tokens 1
chiplet.expert 2 slices 2 bytes 192 tokens 3
```

After `order-loads{order=paired}` (pairs (0, 1) then 2):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>}
chiplet.expert 2 slices 2 bytes 192 tokens 3 {order = array<i64: 4, 5>}
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.chiplet import ExpertOp
from dialects.fast_ops import i64_array
from passes._plan import FsedpPass, require_experts

ORDERS = ("id", "paired", "hot-first")


def _heat_order(experts: list[ExpertOp]) -> list[ExpertOp]:
    return sorted(experts, key=lambda op: (-op.tokens.value.data, op.expert.value.data))


def _interleave(first: ExpertOp, second: ExpertOp) -> list[tuple[ExpertOp, int]]:
    a, b = first.slices.value.data, second.slices.value.data
    stream: list[tuple[ExpertOp, int]] = []
    for index in range(max(a, b)):
        if index < a:
            stream.append((first, index))
        if index < b:
            stream.append((second, index))
    return stream


def slice_stream(experts: list[ExpertOp], order: str) -> list[tuple[ExpertOp, int]]:
    """The (expert op, slice index) pairs in load order."""
    if order == "paired":
        ranked = _heat_order(experts)
        stream: list[tuple[ExpertOp, int]] = []
        for i in range(len(ranked) // 2):
            stream.extend(_interleave(ranked[i], ranked[-1 - i]))
        if len(ranked) % 2:
            middle = ranked[len(ranked) // 2]
            stream.extend((middle, s) for s in range(middle.slices.value.data))
        return stream
    sequence = _heat_order(experts) if order == "hot-first" else experts
    return [(op, s) for op in sequence for s in range(op.slices.value.data)]


@dataclass(frozen=True)
class OrderLoadsPass(FsedpPass):
    name = "order-loads"

    order: str = "paired"

    def __post_init__(self) -> None:
        self.check_choice("order", self.order, ORDERS)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        experts = require_experts(op, self.name)
        positions: dict[ExpertOp, list[int]] = {e: [0] * e.slices.value.data for e in experts}
        for position, (expert, index) in enumerate(slice_stream(experts, self.order)):
            positions[expert][index] = position
        for expert, values in positions.items():
            expert.attributes["order"] = i64_array(values)
