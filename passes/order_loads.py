"""`order-loads{order=paired|id|hot-first|pairs}`: the priority order of the slice stream (R7).

Every slice gets its position in one stream, stored as the `order` array of its `chiplet.expert`
(position of slice s = `order[s]`). Each DDR channel loads its slices in this order;
`distribute-slices` then deals the slices to channels and merges the channel queues into the
issue order of the programs (channel-parallel loading), which keeps every channel's own order.
Load order and channel dealing are independent, so the two can be ablated separately. An
expert's heat is its token count (a shared expert: every token).

- `id`: by expert id, the slices of one expert consecutively.
- `hot-first`: hottest expert first (ties by id), slices consecutively.
- `pairs`: the published pairing: the experts sorted by heat are paired hottest with coldest,
  second hottest with second coldest, ...; within a pair the slices alternate (hot 0, cold 0,
  hot 1, cold 1, ...), pairs from the hottest down; an odd expert out (the median) streams alone
  at its place.
- `paired` (default, paired loading kept in step): hot slices (long compute) are mixed with cold
  ones (short compute, the same load time) so that, at every point of the stream, each
  chiplet's compute released so far stays in proportion to the DDR time spent so far. Greedy:
  with D the DDR cycles of the slices placed so far (their bytes over all channels' bandwidth)
  and C_c the compute cycles they bring to chiplet c, and ρ_c = (all of c's compute) / (all DDR
  time), the next slice is the one (among the next slice of every expert) that minimises
  Σ_c (C_c + x_c − ρ_c · (D + d))², x_c and d being its compute on c and its DDR time. Ties go
  to the lower expert id. Where a slice computes comes from the plan: every chiplet on its own
  tokens (FSE-DP, and shared experts under EP), or all of a routed expert's tokens at its home
  (EP, after `place-experts`). Cost: one pass over the slices, each step a vectorised score of
  every expert (O(slices · experts · chiplets) arithmetic; DeepSeek-MoE 256 tokens on 2x2:
  1,056 slices, about 15 ms).

  Where DDR dominates (ρ small) the greedy starts with the slices that compute least; building
  the stream from its end instead (the heaviest first) measured no different (within 0.3 % on
  the study's models at 16-1024 tokens).

  Under expert parallelism with rounds (`dispatch-tokens`) every round of an expert is a
  candidate of its own, computing that round's tokens at the home, and a home's round r+1
  becomes eligible once all its round r slices are placed; the other orders take the rounds one
  after the other, each in their own sequence.

  `pairs` front-loads heavy compute (the hottest pairs, the shared experts) and ends with light
  pairs: at 256 tokens the engines are the limit early and DDR late, and 12 slice buffers cannot
  smooth a drift that spans the layer. `paired` keeps both busy throughout.

Before:

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5
chiplet.expert 1 slices 2 bytes 192 tokens 1
chiplet.expert 2 slices 2 bytes 192 tokens 3
```

After `order-loads{order=pairs}` (pairs (0, 1) then 2):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>}
chiplet.expert 2 slices 2 bytes 192 tokens 3 {order = array<i64: 4, 5>}
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.attrs import i64_array
from dialects.chiplet import ExpertOp
from passes._plan import (
    FsedpPass,
    Layer,
    expert_homes,
    expert_rounds_of,
    read_layer,
    require_experts,
    round_tokens,
    slice_refs,
)

ORDERS = ("paired", "id", "hot-first", "pairs")


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


def _pairs(experts: list[ExpertOp]) -> list[tuple[ExpertOp, int]]:
    ranked = _heat_order(experts)
    stream: list[tuple[ExpertOp, int]] = []
    for i in range(len(ranked) // 2):
        stream.extend(_interleave(ranked[i], ranked[-1 - i]))
    if len(ranked) % 2:
        middle = ranked[len(ranked) // 2]
        stream.extend((middle, s) for s in range(middle.slices.value.data))
    return stream


@dataclass
class _Unit:
    """One expert's slices in one round (the expert, once, outside expert parallelism with
    rounds), with the tokens each chiplet computes with them and the home whose rounds it
    follows (None: no rounds to follow)."""

    op: ExpertOp
    round: int
    counts: list[int]
    home: int | None


def _units(experts: list[ExpertOp], layer: Layer, module: ModuleOp) -> list[_Unit]:
    homes = expert_homes(module)
    per_round = round_tokens(module, layer)
    units = []
    for op in experts:
        expert = op.expert.value.data
        home = None if homes is None or layer.is_shared(expert) else homes[expert]
        for round_ in expert_rounds_of(op):
            units.append(_Unit(op, round_, per_round[(expert, round_)], home))
    return units


def _paced(units: list[_Unit], layer: Layer) -> list[tuple[ExpertOp, int, int]]:
    """Paired loading kept in step with DDR (the `paired` order; module docstring), over the
    units' slices; a home's round r+1 units become candidates once its round r ones are done.

    Costs are per FFN row: a slice of r rows costs r times its unit's row costs. The score of
    unit k, Σ_c (a_c + r_k·z_kc)² with a_c = C_c − ρ_c·D and z_kc = u_kc − ρ_c·v (u: compute
    cycles per row on c, v: DDR cycles per row), is, up to the constant Σ a_c², r_k²·|z_k|² +
    2·r_k·(z_k · a): one product of the (units x chiplets) matrix z with a per step.
    """
    system = layer.system
    ddr_bytes_per_cycle = sum(gbps for gbps, _ in system.spec.ddr) / system.clock_ghz.data
    row_bytes = 3 * layer.hidden * layer.weight_bytes
    row_ops = 2 * 3 * layer.hidden
    counts = np.array([unit.counts for unit in units], dtype=np.float64)  # units x chiplets
    u = counts * (row_ops / system.ops_per_cycle.data)
    v = row_bytes / ddr_bytes_per_cycle
    total_ddr = v * layer.ffn * len(units)
    rho = u.sum(axis=0) * layer.ffn / total_ddr
    z = u - v * rho[None, :]
    norm = (z * z).sum(axis=1)
    count = [unit.op.slices.value.data for unit in units]
    next_slice = [0] * len(units)
    rows = np.array([_rows(layer, n, 0) for n in count], dtype=np.float64)
    score_base = rows * rows * norm
    left = _RoundGate(units)
    a = np.zeros(u.shape[1])
    stream: list[tuple[ExpertOp, int, int]] = []
    for _ in range(sum(count)):
        score = score_base + 2.0 * rows * (z * a).sum(axis=1)
        score[left.closed] = np.inf
        k = int(np.argmin(score))
        index = next_slice[k]
        stream.append((units[k].op, units[k].round, index))
        a += rows[k] * z[k]
        next_slice[k] = index + 1
        if index + 1 == count[k]:
            left.finish(k)
        else:
            rows[k] = _rows(layer, count[k], index + 1)
            score_base[k] = rows[k] * rows[k] * norm[k]
    return stream


class _RoundGate:
    """Which units may be loaded next: not finished, and (under expert parallelism with rounds)
    in their home's current round."""

    def __init__(self, units: list[_Unit]):
        self.units = units
        self.closed = np.zeros(len(units), dtype=bool)
        self.pending: dict[tuple[int, int], int] = {}  # (home, round) -> units not finished
        for unit in units:
            if unit.home is not None:
                key = (unit.home, unit.round)
                self.pending[key] = self.pending.get(key, 0) + 1
        self.current = {
            home: min(r for h, r in self.pending if h == home) for home, _ in self.pending
        }
        self._gate()

    def _gate(self) -> None:
        for k, unit in enumerate(self.units):
            if unit.home is not None and unit.round != self.current[unit.home]:
                self.closed[k] = True

    def finish(self, k: int) -> None:
        self.closed[k] = True
        unit = self.units[k]
        if unit.home is None:
            return
        key = (unit.home, unit.round)
        self.pending[key] -= 1
        if self.pending[key] == 0:
            later = [r for h, r in self.pending if h == unit.home and r > unit.round]
            if later:
                self.current[unit.home] = min(later)
                for j, other in enumerate(self.units):
                    if other.home == unit.home and other.round == self.current[unit.home]:
                        self.closed[j] = False


def _rows(layer: Layer, slices: int, index: int) -> int:
    lo, hi = layer.slice_rows(slices, index)
    return hi - lo


def slice_stream(
    experts: list[ExpertOp], order: str, layer: Layer, module: ModuleOp
) -> list[tuple[ExpertOp, int, int]]:
    """The (expert op, round, slice index) triples in priority order."""
    if order == "paired":
        return _paced(_units(experts, layer, module), layer)
    if order == "pairs":
        base = _pairs(experts)
    else:
        sequence = _heat_order(experts) if order == "hot-first" else experts
        base = [(op, s) for op in sequence for s in range(op.slices.value.data)]
    # rounds one after the other, each in the order's sequence
    rounds = sorted({r for op in experts for r in expert_rounds_of(op)})
    return [(op, r, index) for r in rounds for op, index in base if r in expert_rounds_of(op)]


@dataclass(frozen=True)
class OrderLoadsPass(FsedpPass):
    name = "order-loads"

    order: str = "paired"

    def __post_init__(self) -> None:
        self.check_choice("order", self.order, ORDERS)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        experts = require_experts(op, layer, self.name)
        positions: dict[ExpertOp, list[int]] = {e: [0] * len(slice_refs(e)) for e in experts}
        stream = slice_stream(experts, self.order, layer, op)
        for position, (expert, round_, index) in enumerate(stream):
            item = expert_rounds_of(expert).index(round_) * expert.slices.value.data + index
            positions[expert][item] = position
        for expert, values in positions.items():
            expert.attributes["order"] = i64_array(values)
