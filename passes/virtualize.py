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
- `slice-buffers=N`: B = N, at most the system's `slice_buffers` (the buffers a chiplet's
  scheduler tracks) and what fits in SRAM. `0` (default) takes what the schedule needs,
  `4 + 2·depth + 4·balance` for the deepest trajectory and the layer's compute/DDR balance
  (`buffers_needed` in passes/_plan.py says why), capped by the system's `slice_buffers` and by
  what fits in SRAM next to the activations of the fullest weight-holding chiplet: the buffers
  do not fill SRAM where more would not help, so the peak SRAM a run reports is what its
  schedule uses.
- `reserve=R` (default 1): buffers a DDR load leaves free (R4); must be below B.

Rejected, with the numbers and the least SRAM the plan needs: activations larger than SRAM;
fewer than `reserve + 1` buffers fitting next to them (a slice larger than the SRAM left, say);
an explicit N that does not fit, exceeds the system's or is not above `reserve`; a slice
assigned to a DDR channel the system does not have, or a channel attached to no chiplet of the
mesh. One buffer (with `reserve=0`) is allowed: every chiplet then receives, computes and
forwards one slice at a time; `slice-buffers=1` is the study's EP, which never prefetches. The
global load order keeps any number of buffers deadlock-free (docs/compiler.md).

Before (SRAM 8 MiB, slices of 192 bytes, system slice_buffers 12, trajectories of depth 1):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 3 {..., stops = [array<i64: 0, 1>, array<i64: 1, 0>]}
```

After `virtualize`:

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 3 {...}
chiplet.buffers slots 6 reserve 1 bytes 192
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.attrs import i64_attr
from dialects.chiplet import BuffersOp, ExpertOp
from passes._plan import (
    FsedpPass,
    Layer,
    activation_bytes,
    buffers_needed,
    compute_balance,
    find_op,
    format_bytes,
    int_array,
    read_layer,
    replace_ops,
    require_experts,
    trajectories,
    trajectory_depth,
    trajectory_parents,
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
        experts = require_experts(op, layer, self.name)
        self._check_channels(layer, experts)
        holders, depth = self._trajectories(layer, experts)
        widest = max(experts, key=lambda e: e.bytes.value.data)
        size = widest.bytes.value.data
        sram = layer.system.sram_bytes.data
        acts = activation_bytes(op, layer)
        fullest = max(range(len(acts)), key=lambda c: (acts[c], -c))
        minimum = self.reserve + 1  # R4: a DDR load leaves `reserve` buffers free
        if acts[fullest] > sram:
            raise self.error(
                f"chiplet {fullest} needs {format_bytes(acts[fullest])} for "
                f"{acts[fullest] // layer.token_bytes} token vectors of {layer.token_bytes} B, "
                f"more than its {format_bytes(sram)} SRAM; it needs at least "
                f"{format_bytes(acts[fullest] + minimum * size)} of SRAM with slices of "
                f"{format_bytes(size)}"
            )
        fits = {chiplet: (sram - acts[chiplet]) // size for chiplet in sorted(holders)}
        tightest = min(fits, key=lambda c: (fits[c], c))
        least = acts[tightest] + minimum * size
        room_note = (
            f"chiplet {tightest} fits {fits[tightest]} slice buffer(s) of {format_bytes(size)} "
            f"in {format_bytes(sram)} SRAM next to {format_bytes(acts[tightest])} of activations"
        )
        if fits[tightest] < minimum:
            raise self.error(
                f"{room_note}; with reserve={self.reserve} (R4) it needs {minimum}, so at least "
                f"{format_bytes(least)} of SRAM with slices of {format_bytes(size)}; use more "
                "slices or fewer tokens per chiplet"
            )
        hardware = layer.system.slice_buffers.data
        if self.slice_buffers:
            slots = self.slice_buffers
            if slots < minimum:
                raise self.error(
                    f"slice-buffers={slots} must be above reserve={self.reserve}, or no DDR "
                    "load could ever be admitted (R4: a load leaves `reserve` buffers free)"
                )
            if slots > hardware:
                raise self.error(
                    f"slice-buffers={slots} is more than the {hardware} slice buffers per "
                    "chiplet of the system (its slice_buffers)"
                )
            if slots > fits[tightest]:
                raise self.error(f"slice-buffers={slots} does not fit: {room_note}")
        else:
            needed = buffers_needed(depth, compute_balance(op, layer))
            slots = max(minimum, min(hardware, fits[tightest], needed))
        buffers = BuffersOp.create(
            properties={
                "slots": i64_attr(slots),
                "reserve": i64_attr(self.reserve),
                "bytes": i64_attr(size),
            }
        )
        replace_ops(op, BuffersOp, [buffers])

    def resolved_options(self, module: ModuleOp) -> dict[str, object]:
        buffers = find_op(module, BuffersOp)
        chosen = buffers.slots.value.data if buffers is not None else self.slice_buffers
        return super().resolved_options(module) | {"slice-buffers": chosen}

    def _check_channels(self, layer: Layer, experts: list[ExpertOp]) -> None:
        system = layer.system
        ddr = system.spec.ddr
        if not ddr:
            raise self.error("the system has no DDR channel, so no slice can be loaded")
        for index, (_, chiplet) in enumerate(ddr):
            if not 0 <= chiplet < layer.chiplets:
                raise self.error(
                    f"DDR channel {index} is attached to chiplet {chiplet}, which is not a chiplet "
                    f"of the machine (chiplets 0..{layer.chiplets - 1}), so it reaches no chiplet"
                )
        for expert in experts:
            channels = int_array(expert, "channels")
            if channels is None:
                raise self.error(
                    f"{layer.expert_name(expert.expert.value.data)} has no DDR channels; "
                    "run distribute-slices first"
                )
            # a channel the system lacks is the chiplet.expert verifier's to report

    def _trajectories(self, layer: Layer, experts: list[ExpertOp]) -> tuple[set[int], int]:
        """The chiplets that hold weight buffers, and the deepest trajectory (forwarding steps
        from a slice's entry to its farthest stop; 0 when no slice streams between chiplets)."""
        holders: set[int] = set()
        depth = 0
        for expert in experts:
            paths, parents = trajectories(expert), trajectory_parents(expert)
            if paths is None or parents is None:
                raise self.error(
                    f"{layer.expert_name(expert.expert.value.data)} has no trajectories; run "
                    "schedule-trajectories first"
                )
            for stops, sources in zip(paths, parents, strict=True):
                holders.update(stops)
                depth = max(depth, trajectory_depth(stops, sources))
        return holders, depth
