"""`place-experts{policy=round-robin|nearest-ddr|hydra}`: whole-expert homes for the EP baselines.

Under expert parallelism every expert lives on one chiplet, its home, which loads it (streamed
in slices when it does not fit whole, see `shard-experts`) and computes it for every token that
uses it; the tokens travel (`dispatch-tokens`). The pass records `homes[e]` for every expert id
(routed, then shared) in one `chiplet.placement` op. Shared experts are placed like routed ones:
their home receives every token.

- `round-robin` (default): expert e on chiplet `e mod C`.
- `nearest-ddr`: experts dealt round-robin over the chiplets that have a DDR channel attached,
  so weights never cross the mesh (tokens do); the other chiplets only hold tokens.
- `hydra` (popularity-aware, after Hydra, DAC 2025): experts in decreasing expected work
  (ties by id) go to the chiplet holding most of their tokens, unless that chiplet's expected
  work would exceed the mean by more than 10%; then to the chiplet with the most of its tokens
  that stays under that bound, else to the least loaded. Expected work of an expert, in cycles:
  its load at the chiplet's fair share of DDR bandwidth plus `2·3·D·F·tokens / ops_per_cycle`.
  No token is dropped.

Before (2x2 mesh, 4 routed experts):

```mlir
moe.layer @layer0 model #moe.model<"tiny", ..., experts 4, shared 0, ...> routing ...
```

After `place-experts{policy=round-robin}`:

```mlir
chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3>
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr

from dialects.chiplet import PartitionOp, PlacementOp
from dialects.fast_ops import i64_array
from passes._plan import (
    FsedpPass,
    Layer,
    expert_chiplet_tokens,
    read_layer,
    replace_ops,
    require_op,
)

POLICIES = ("round-robin", "nearest-ddr", "hydra")
HYDRA_SLACK = 1.1


def expected_work(layer: Layer, expert: int) -> float:
    """Cycles to load (at a fair 1/C share of the DDR bandwidth) and compute one expert."""
    system = layer.system
    share_bytes_per_cycle = sum(g for g, _ in system.ddr) / layer.chiplets / system.clock_ghz.data
    expert_bytes = 3 * layer.hidden * layer.ffn * layer.weight_bytes
    ops = 2 * 3 * layer.hidden * layer.ffn * int(layer.token_counts[expert])
    return expert_bytes / share_bytes_per_cycle + ops / system.ops_per_cycle.data


@dataclass(frozen=True)
class PlaceExpertsPass(FsedpPass):
    name = "place-experts"

    policy: str = "round-robin"

    def __post_init__(self) -> None:
        self.check_choice("policy", self.policy, POLICIES)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        count = layer.experts + layer.shared
        if self.policy == "round-robin":
            homes = [e % layer.chiplets for e in range(count)]
        elif self.policy == "nearest-ddr":
            holders = sorted({chiplet for _, chiplet in layer.system.ddr})
            homes = [holders[e % len(holders)] for e in range(count)]
        else:
            homes = self._hydra(op, layer)
        placement = PlacementOp.create(
            properties={"policy": StringAttr(self.policy), "homes": i64_array(homes)}
        )
        replace_ops(op, PlacementOp, [placement])

    def _hydra(self, module: ModuleOp, layer: Layer) -> list[int]:
        owners = require_op(module, PartitionOp, self.name, "partition-tokens").owners
        local = expert_chiplet_tokens(layer, owners.get_values())
        count = layer.experts + layer.shared
        homes = [e % layer.chiplets for e in range(count)]  # unused experts: never loaded
        work = {e: expected_work(layer, e) for e in layer.used_experts}
        bound = HYDRA_SLACK * sum(work.values()) / layer.chiplets
        load = [0.0] * layer.chiplets
        for expert in sorted(work, key=lambda e: (-work[e], e)):
            held = [len(tokens) for tokens in local[expert]]
            by_tokens = sorted(range(layer.chiplets), key=lambda c: (-held[c], load[c], c))
            fitting = [c for c in by_tokens if load[c] + work[expert] <= bound]
            home = fitting[0] if fitting else min(by_tokens, key=lambda c: (load[c], c))
            homes[expert] = home
            load[home] += work[expert]
        return homes
