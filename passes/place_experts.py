"""`place-experts{policy=round-robin|nearest-ddr|hydra}`: whole-expert homes for the EP baselines.

Under expert parallelism every routed expert lives on one chiplet, its home, which loads it
(streamed in slices, see `shard-experts`) and computes it for every token that uses it; the
tokens travel (`dispatch-tokens`). The pass records `homes[e]` for every routed expert id in one
`chiplet.placement` op. Shared experts get no home: every token uses them, so they are applied
data-parallel, each chiplet to its own tokens, their slices loaded once and streamed through
the chiplets (`schedule-trajectories`), as any dense layer would be.

- `round-robin` (default): expert e on chiplet `e mod C`.
- `nearest-ddr`: experts dealt round-robin over the chiplets that have a DDR channel attached,
  so weights never cross the mesh (tokens do); the other chiplets only hold tokens.
- `hydra` (popularity-aware placement after Hydra, DAC 2025): longest processing time first.
  Each used expert has a DDR time (its bytes at a chiplet's fair share, 1/C, of the total DDR
  bandwidth) and a compute time (`2·3·D·F·tokens / ops_per_cycle`); a chiplet's finish time is
  the larger of the sums over its experts, since its loads and its engine overlap. Experts in
  decreasing max(DDR time, compute time) (ties by id) go to the chiplet whose finish time after
  taking them is smallest; among equal ones, the chiplet holding most of the expert's tokens
  (fewer tokens travel, Hydra's popularity-aware locality), then the lower id. Unused experts
  (never loaded) keep their round-robin home. No token is dropped.

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

from dialects.attrs import i64_array
from dialects.chiplet import PartitionOp, PlacementOp
from passes._plan import (
    FsedpPass,
    Layer,
    expert_chiplet_tokens,
    read_layer,
    replace_ops,
    require_op,
)

POLICIES = ("round-robin", "nearest-ddr", "hydra")


def expert_times(layer: Layer, expert: int) -> tuple[float, float]:
    """Cycles to load one expert at a chiplet's fair share (1/C) of the DDR bandwidth, and to
    compute it for all its tokens."""
    system = layer.system
    share_bytes_per_cycle = (
        sum(g for g, _ in system.spec.ddr) / layer.chiplets / system.clock_ghz.data
    )
    expert_bytes = 3 * layer.hidden * layer.ffn * layer.weight_bytes
    ops = 2 * 3 * layer.hidden * layer.ffn * int(layer.token_counts[expert])
    return expert_bytes / share_bytes_per_cycle, ops / system.ops_per_cycle.data


@dataclass(frozen=True)
class PlaceExpertsPass(FsedpPass):
    name = "place-experts"

    policy: str = "round-robin"

    def __post_init__(self) -> None:
        self.check_choice("policy", self.policy, POLICIES)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        if self.policy == "round-robin":
            homes = [e % layer.chiplets for e in range(layer.experts)]
        elif self.policy == "nearest-ddr":
            holders = sorted({chiplet for _, chiplet in layer.system.spec.ddr})
            homes = [holders[e % len(holders)] for e in range(layer.experts)]
        else:
            homes = self._hydra(op, layer)
        placement = PlacementOp.create(
            properties={"policy": StringAttr(self.policy), "homes": i64_array(homes)}
        )
        replace_ops(op, PlacementOp, [placement])

    def _hydra(self, module: ModuleOp, layer: Layer) -> list[int]:
        owners = require_op(module, PartitionOp, self.name, "partition-tokens").owners
        local = expert_chiplet_tokens(layer, owners.get_values())
        homes = [e % layer.chiplets for e in range(layer.experts)]  # unused: never loaded
        routed = [e for e in layer.used_experts if not layer.is_shared(e)]
        times = {e: expert_times(layer, e) for e in routed}
        ddr = [0.0] * layer.chiplets
        compute = [0.0] * layer.chiplets
        for expert in sorted(routed, key=lambda e: (-max(times[e]), e)):
            load, work = times[expert]
            held = [len(tokens) for tokens in local[expert]]
            home = min(
                range(layer.chiplets),
                key=lambda c: (max(ddr[c] + load, compute[c] + work), -held[c], c),
            )
            homes[expert] = home
            ddr[home] += load
            compute[home] += work
        return homes
