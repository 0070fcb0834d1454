"""`virtualize{slice-buffers=N reserve=R}`: map virtual slices onto physical buffers.

FSE-DP reasons about virtual slices; this pass fixes the physical weight buffers every chiplet
sets aside for them and records them as one `chiplet.buffers slots B reserve R bytes W` op
(W = the largest slice). `lower-to-cisa` then lays every chiplet's slices out on a ring of B
buffers, in load order, and enforces the rules:

- R4 admission reserve: a DDR load is issued only while the chiplet keeps `reserve` buffers free
  beyond it (it first frees its oldest buffers), so D2D arrivals can always land;
- R5 forwarding credits: a `send` starts only once the next stop has posted its `recv`, i.e.
  has a free buffer for the slice.

Options:
- `slice-buffers=N`: B = N. `0` (default) takes the system's `slice_buffers`, capped at what fits
  in SRAM next to the activations of the fullest weight-holding chiplet.
- `reserve=R` (default 1): buffers a DDR load leaves free (R4); must be below B.

Rejected, with the numbers: a slice larger than the SRAM left next to the activations; fewer
than 2 buffers when slices stream between chiplets (one to compute on, one to receive into);
an explicit N that does not fit; a slice assigned to a DDR channel the system does not have, or
a channel attached to no chiplet of the mesh. Expert parallelism (no trajectories) may run with
one buffer: `slice-buffers=1` disables prefetching the next expert.

Before (SRAM 8 MiB, slices of 192 bytes, system slice_buffers 12):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 3 {..., stops = [array<i64: 0, 1>, array<i64: 1, 0>]}
```

After `virtualize`:

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 3 {...}
chiplet.buffers slots 12 reserve 1 bytes 192
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.chiplet import BuffersOp, ExpertOp, PlacementOp
from dialects.fast_ops import i64_attr
from passes._plan import (
    FsedpPass,
    Layer,
    activation_bytes,
    find_op,
    format_bytes,
    int_array,
    read_layer,
    replace_ops,
    require_experts,
    trajectories,
)


@dataclass(frozen=True)
class VirtualizePass(FsedpPass):
    name = "virtualize"

    slice_buffers: int = 0
    reserve: int = 1

    def __post_init__(self) -> None:
        self.check_at_least("slice-buffers", self.slice_buffers, 0, "0 = from the system")
        self.check_at_least("reserve", self.reserve, 0)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        experts = require_experts(op, self.name)
        self._check_channels(layer, experts)
        holders, streaming = self._weight_holders(op, layer, experts)
        widest = max(experts, key=lambda e: e.bytes.value.data)
        size = widest.bytes.value.data
        sram = layer.system.sram_bytes.data
        acts = activation_bytes(op, layer)
        fullest = max(range(len(acts)), key=lambda c: (acts[c], -c))
        if acts[fullest] > sram:
            raise self.error(
                f"chiplet {fullest} needs {format_bytes(acts[fullest])} for "
                f"{acts[fullest] // layer.token_bytes} token vectors of {layer.token_bytes} B, "
                f"more than its {format_bytes(sram)} SRAM"
            )
        fits: dict[int, int] = {}
        for chiplet in sorted(holders):
            room = sram - acts[chiplet]
            if size > room:
                raise self.error(
                    f"a slice of {layer.expert_name(widest.expert.value.data)} is "
                    f"{format_bytes(size)}, larger than the SRAM left on chiplet {chiplet}: "
                    f"{format_bytes(sram)} - {format_bytes(max(acts[chiplet], 0))} of "
                    f"activations = {format_bytes(max(room, 0))}; use more slices"
                )
            fits[chiplet] = room // size
        tightest = min(fits, key=lambda c: (fits[c], c))
        minimum = 2 if streaming else 1
        room_note = (
            f"chiplet {tightest} fits {fits[tightest]} slice buffer(s) of {format_bytes(size)} "
            f"in {format_bytes(sram)} SRAM next to {format_bytes(acts[tightest])} of activations"
        )
        if self.slice_buffers:
            slots = self.slice_buffers
            if slots < minimum:
                raise self.error(
                    f"slice-buffers={slots}: slices streaming between chiplets need at least "
                    "2 buffers per chiplet (one to compute on, one to receive into)"
                )
            if slots > fits[tightest]:
                raise self.error(f"slice-buffers={slots} does not fit: {room_note}")
        else:
            slots = min(layer.system.slice_buffers.data, fits[tightest])
            if slots < minimum:
                raise self.error(
                    f"fewer than 2 slice buffers: {room_note}; FSE-DP needs 2 (one to compute "
                    "on, one to receive into); use more slices or fewer tokens per chiplet"
                )
        if self.reserve >= slots:
            raise self.error(
                f"reserve={self.reserve} must be below the {slots} slice buffers, or no DDR "
                "load could ever be admitted"
            )
        buffers = BuffersOp.create(
            properties={
                "slots": i64_attr(slots),
                "reserve": i64_attr(self.reserve),
                "bytes": i64_attr(size),
            }
        )
        replace_ops(op, BuffersOp, [buffers])

    def _check_channels(self, layer: Layer, experts: list[ExpertOp]) -> None:
        system = layer.system
        ddr = system.ddr
        if not ddr:
            raise self.error("the system has no DDR channel, so no slice can be loaded")
        for index, (_, chiplet) in enumerate(ddr):
            if not 0 <= chiplet < layer.chiplets:
                raise self.error(
                    f"DDR channel {index} is attached to chiplet {chiplet}, which is not on the "
                    f"{system.rows.data}x{system.cols.data} mesh, so it reaches no chiplet"
                )
        for expert in experts:
            channels = int_array(expert, "channels")
            if channels is None:
                raise self.error(
                    f"{layer.expert_name(expert.expert.value.data)} has no DDR channels; "
                    "run distribute-slices first"
                )
            for channel in channels:
                if not 0 <= channel < len(ddr):
                    raise self.error(
                        f"{layer.expert_name(expert.expert.value.data)} is assigned to DDR "
                        f"channel {channel}, but the system has {len(ddr)} channels "
                        f"(0..{len(ddr) - 1})"
                    )

    def _weight_holders(
        self, module: ModuleOp, layer: Layer, experts: list[ExpertOp]
    ) -> tuple[set[int], bool]:
        """The chiplets that hold weight buffers, and whether slices stream between them."""
        paths = [trajectories(e) for e in experts]
        if all(p is not None for p in paths):
            return {c for per_slice in paths for stops in per_slice for c in stops}, True
        placement = find_op(module, PlacementOp)
        if placement is None:
            raise self.error(
                "the plan has neither trajectories nor expert homes; run schedule-trajectories "
                "(FSE-DP) or place-experts (EP, Hydra) first"
            )
        homes = placement.homes.get_values()
        return {homes[e.expert.value.data] for e in experts}, False
