"""`distribute-slices{mode=even|sequential|per-expert|nearest}`: slices to DDR channel queues (R3),
and the channel queues merged into the issue order.

Each slice is loaded through one DDR channel; the pass stores the channel of every slice as the
`channels` array of its `chiplet.expert`. It walks the slices in priority order (`order-loads`'s
`order` when present, else by expert id), so with K channels:

- `even`: round-robin over the stream, slice i to channel `i mod K`: consecutive loads use
  different channels and every channel gets the same share, spread over the whole stream.
- `sequential`: the stream cut into K contiguous runs, the k-th run to channel k.
- `per-expert`: all slices of an expert on one channel, experts dealt round-robin in order of
  their first slice in the stream.
- `nearest` (needs `place-experts`): each slice of a routed expert from the channel whose
  attached chiplet is fewest hops (D2D links of the interconnect, `SystemAttr.hops`) from the
  expert's home, ties to the channel with fewer bytes so far; slices of shared experts
  (computed everywhere) to the channel with fewest bytes.

Channel-parallel loading: each channel loads its own slices in priority order, and the pass
then rewrites `order` into the issue order, the order in which every program visits its slices
and every channel numbers its loads (`lower-to-cisa`). It merges the channel queues by the cycle
each load would start if every channel streamed its queue back to back (its bytes so far over
its bandwidth), ties by priority. So a chiplet never waits for one channel's slice while the
others' next slices queue behind it, and every channel's own order is kept. With `even` dealing
over equal channels the merge is the priority order itself.

Before (2 channels):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>}
```

After `distribute-slices{mode=per-expert}` (expert 0 on channel 0, expert 1 on channel 1, both
queues start at once):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 5 {order = array<i64: 0, 2>, channels = array<i64: 0, 0>}
chiplet.expert 1 slices 2 bytes 192 tokens 1 {order = array<i64: 1, 3>, channels = array<i64: 1, 1>}
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.attrs import i64_array
from dialects.chiplet import ExpertOp
from passes._plan import (
    FsedpPass,
    Layer,
    SliceRef,
    expert_homes,
    load_order,
    read_layer,
    require_experts,
    slice_refs,
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
        experts = require_experts(op, layer, self.name)
        stream = load_order(experts)
        assigned = self._assign(op, layer, stream)
        channels: dict[ExpertOp, list[int]] = {e: [0] * len(slice_refs(e)) for e in experts}
        order: dict[ExpertOp, list[int]] = {e: [0] * len(slice_refs(e)) for e in experts}
        for ref, channel in zip(stream, assigned, strict=True):
            channels[ref.op][ref.item] = channel
        homes = expert_homes(op)
        for position, k in enumerate(issue_order(layer, stream, assigned, homes)):
            order[stream[k].op][stream[k].item] = position
        for expert in experts:
            expert.attributes["order"] = i64_array(order[expert])
            expert.attributes["channels"] = i64_array(channels[expert])

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
        homes = expert_homes(module)
        if homes is None:
            raise self.error(
                "mode=nearest needs expert homes; run place-experts first (it belongs to "
                "the ep and hydra pipelines)"
            )
        attached = [chiplet for _, chiplet in layer.system.spec.ddr]
        channel_bytes = [0] * count
        result = []
        for ref in stream:
            if layer.is_shared(ref.expert):  # computed on every chiplet: no nearest home
                distance = [0] * count
            else:
                distance = [layer.system.hops(c, homes[ref.expert]) for c in attached]
            best = min(range(count), key=lambda k: (distance[k], channel_bytes[k], k))
            channel_bytes[best] += layer.slice_bytes(ref.slices, ref.index)
            result.append(best)
        return result


def issue_order(
    layer: Layer,
    stream: list[SliceRef],
    channels: list[int],
    homes: tuple[int, ...] | None = None,
) -> list[int]:
    """Indices into `stream` in issue order: the channel queues (each in stream order) merged by
    the cycle each load would start if every channel streamed its queue back to back; ties by
    stream position. A channel's start times only grow along its queue, so its order is kept.
    Under expert parallelism with rounds a home's round starts no earlier than its previous
    round's loads, so the rounds of a home stay one after the other as the stream has them."""
    bytes_per_cycle = [gbps / layer.system.clock_ghz.data for gbps, _ in layer.system.spec.ddr]
    busy = [0.0] * len(bytes_per_cycle)
    latest: dict[tuple[int, int], float] = {}  # (home, round) -> latest start so far
    starts = []
    for ref, channel in zip(stream, channels, strict=True):
        start = busy[channel]
        if ref.round:
            home = homes[ref.expert]
            earlier = [t for (h, r), t in latest.items() if h == home and r < ref.round]
            start = max([start, *earlier])
        if homes is not None and not layer.is_shared(ref.expert):
            key = (homes[ref.expert], ref.round)
            latest[key] = max(latest.get(key, start), start)
        starts.append(start)
        busy[channel] = start + layer.slice_bytes(ref.slices, ref.index) / bytes_per_cycle[channel]
    return sorted(range(len(stream)), key=lambda k: (starts[k], k))
