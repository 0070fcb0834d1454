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

from dialects.chiplet import ExpertOp
from dialects.fast_ops import i64_array
from passes._plan import FsedpPass, Layer, computed_tokens, read_layer, require_experts

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


def _paced(experts: list[ExpertOp], layer: Layer, tokens: dict[int, list[int]]):
    """Paired loading kept in step with DDR (the `paired` order; module docstring).

    Costs are per FFN row: a slice of r rows costs r times its expert's row costs. The score of
    expert k, Σ_c (a_c + r_k·z_kc)² with a_c = C_c − ρ_c·D and z_kc = u_kc − ρ_c·v_k (u: compute
    cycles per row on c, v: DDR cycles per row), is, up to the constant Σ a_c², r_k²·|z_k|² +
    2·r_k·(z_k · a): one product of the (experts x chiplets) matrix z with a per step.
    """
    system = layer.system
    ddr_bytes_per_cycle = sum(gbps for gbps, _ in system.ddr) / system.clock_ghz.data
    row_bytes = 3 * layer.hidden * layer.weight_bytes
    row_ops = 2 * 3 * layer.hidden
    ids = [op.expert.value.data for op in experts]
    counts = np.array([tokens[e] for e in ids], dtype=np.float64)  # experts x chiplets
    u = counts * (row_ops / system.ops_per_cycle.data)
    v = row_bytes / ddr_bytes_per_cycle
    rows_total = np.array([layer.ffn] * len(experts), dtype=np.float64)
    total_ddr = v * rows_total.sum()
    rho = (u * rows_total[:, None]).sum(axis=0) / total_ddr
    z = u - v * rho[None, :]
    norm = (z * z).sum(axis=1)
    count = [op.slices.value.data for op in experts]
    next_slice = [0] * len(experts)
    rows = np.array([_rows(layer, n, 0) for n in count], dtype=np.float64)
    score_base = rows * rows * norm
    done = np.zeros(len(experts), dtype=bool)
    a = np.zeros(u.shape[1])
    stream: list[tuple[ExpertOp, int]] = []
    for _ in range(sum(count)):
        score = score_base + 2.0 * rows * (z * a).sum(axis=1)
        score[done] = np.inf
        k = int(np.argmin(score))
        index = next_slice[k]
        stream.append((experts[k], index))
        a += rows[k] * z[k]
        next_slice[k] = index + 1
        if index + 1 == count[k]:
            done[k] = True
        else:
            rows[k] = _rows(layer, count[k], index + 1)
            score_base[k] = rows[k] * rows[k] * norm[k]
    return stream


def _rows(layer: Layer, slices: int, index: int) -> int:
    lo, hi = layer.slice_rows(slices, index)
    return hi - lo


def slice_stream(
    experts: list[ExpertOp], order: str, layer: Layer, tokens: dict[int, list[int]]
) -> list[tuple[ExpertOp, int]]:
    """The (expert op, slice index) pairs in priority order."""
    if order == "paired":
        return _paced(experts, layer, tokens)
    if order == "pairs":
        return _pairs(experts)
    sequence = _heat_order(experts) if order == "hot-first" else experts
    return [(op, s) for op in sequence for s in range(op.slices.value.data)]


@dataclass(frozen=True)
class OrderLoadsPass(FsedpPass):
    name = "order-loads"

    order: str = "paired"

    def __post_init__(self) -> None:
        self.check_choice("order", self.order, ORDERS)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        experts = require_experts(op, self.name)
        tokens = computed_tokens(op, layer) if self.order == "paired" else {}
        positions: dict[ExpertOp, list[int]] = {e: [0] * e.slices.value.data for e in experts}
        stream = slice_stream(experts, self.order, layer, tokens)
        for position, (expert, index) in enumerate(stream):
            positions[expert][index] = position
        for expert, values in positions.items():
            expert.attributes["order"] = i64_array(values)
