"""`distribute-slices{mode=even|sequential|per-expert|nearest}`: slices to DDR channel queues (R3).

Each slice is loaded through one DDR channel; the pass stores the channel of every slice as the
`channels` array of its `chiplet.expert`. It walks the slices in load order (`order-loads`'s
`order` when present, else by expert id), so with K channels:

- `even`: round-robin over the stream, slice i to channel `i mod K`: consecutive loads use
  different channels and every channel gets the same share, spread over the whole stream.
- `sequential`: the stream cut into K contiguous runs, the k-th run to channel k.
- `per-expert`: all slices of an expert on one channel, experts dealt round-robin in order of
  their first slice in the stream.
- `nearest` (for EP and Hydra; needs `place-experts`): each slice from the channel whose attached
  chiplet is fewest hops from the expert's home, ties to the channel with fewer bytes so far.

Before (2 channels):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>}
```

After `distribute-slices{mode=even}`:

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.chiplet import ExpertOp, PlacementOp
from dialects.fast_ops import i64_array
from passes._plan import (
    FsedpPass,
    Layer,
    SliceRef,
    find_op,
    load_order,
    read_layer,
    require_experts,
)

MODES = ("even", "sequential", "per-expert", "nearest")


@dataclass(frozen=True)
class DistributeSlicesPass(FsedpPass):
    name = "distribute-slices"

    mode: str = "even"

    def __post_init__(self) -> None:
        self.check_choice("mode", self.mode, MODES)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        experts = require_experts(op, self.name)
        stream = load_order(experts)
        channels: dict[ExpertOp, list[int]] = {e: [0] * e.slices.value.data for e in experts}
        for ref, channel in zip(stream, self._assign(op, layer, stream), strict=True):
            channels[ref.op][ref.index] = channel
        for expert, values in channels.items():
            expert.attributes["channels"] = i64_array(values)

    def _assign(self, module: ModuleOp, layer: Layer, stream: list[SliceRef]) -> list[int]:
        """The channel of every slice of the stream, in stream order."""
        count = len(layer.system.ddr)
        if self.mode == "even":
            return [i % count for i in range(len(stream))]
        if self.mode == "sequential":
            return [i * count // len(stream) for i in range(len(stream))]
        if self.mode == "per-expert":
            rank: dict[int, int] = {}
            for ref in stream:
                rank.setdefault(ref.expert, len(rank))
            return [rank[ref.expert] % count for ref in stream]
        placement = find_op(module, PlacementOp)
        if placement is None:
            raise self.error(
                "mode=nearest needs expert homes; run place-experts first (it belongs to "
                "the ep and hydra pipelines)"
            )
        homes = placement.homes.get_values()
        attached = [chiplet for _, chiplet in layer.system.ddr]
        channel_bytes = [0] * count
        result = []
        for ref in stream:
            home = homes[ref.expert]
            best = min(
                range(count),
                key=lambda k: (layer.system.hops(attached[k], home), channel_bytes[k], k),
            )
            channel_bytes[best] += layer.slice_bytes(ref.slices, ref.index)
            result.append(best)
        return result
