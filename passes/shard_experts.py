"""`shard-experts{slices=N min-slices=M buffers=B}`: cut every used expert into micro-slices (R1).

A SwiGLU expert `y = W_down · (silu(W_gate·x) * (W_up·x))` is cut along its FFN dimension F:
slice s of n holds FFN rows `[s·F/n, (s+1)·F/n)` (integer division) of all three matrices, so a
slice holds `3·D·(hi−lo)` weights and the bytes of the largest slice are `3·D·⌈F/n⌉·bytes`.
Summing the slices' partial outputs is exact.

One `chiplet.expert` op is created per expert that some token uses: routed experts with at least
one token (an expert nobody routes to is never loaded) and every shared expert (ids after the
routed ones; every token uses them; they are never dropped). Under expert parallelism with
rounds (`dispatch-tokens`), a routed expert used in more than round 0 of its home gets
`rounds`, the rounds it is loaded in.

Options:
- `slices=N`: N slices per expert (1 <= N <= F). `slices=0` (default) picks automatically: the
  smallest N >= `min-slices` such that `buffers` slices of the largest size fit in SRAM next to
  the activations of the fullest chiplet (capped at F). So auto keeps the study's 16 slices
  unless SRAM needs finer ones.
- `min-slices=M` (default 16, the study's granularity): lower bound for auto.
- `buffers=B` (default 0 = the system's `slice_buffers`): how many slices auto makes room for;
  `virtualize` then takes as many of them as the schedule needs. With `buffers=0` and an SRAM
  too small for that many one-row slices, auto makes room for 2, then 1.

Before (`tiny`: hidden 16, ffn 8; 4 routed experts, experts 0..2 used):

```mlir
moe.layer @layer0 model #moe.model<"tiny", hidden 16, ffn 8, experts 4, ...> routing ...
```

After `shard-experts{slices=2}` (bytes = 3·16·4·1):

```mlir
chiplet.expert 0 slices 2 bytes 192 tokens 3
chiplet.expert 1 slices 2 bytes 192 tokens 5
chiplet.expert 2 slices 2 bytes 192 tokens 2
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.attrs import i64_array, i64_attr
from dialects.chiplet import ExpertOp
from fsedp_compiler import limits
from passes._plan import (
    FsedpPass,
    Layer,
    activation_bytes,
    find_op,
    format_bytes,
    read_layer,
    replace_ops,
    round_tokens,
)


@dataclass(frozen=True)
class ShardExpertsPass(FsedpPass):
    name = "shard-experts"

    slices: int = 0
    min_slices: int = 16
    buffers: int = 0

    def __post_init__(self) -> None:
        self.check_at_least("slices", self.slices, 0, "0 = auto")
        self.check_at_least("min-slices", self.min_slices, 1)
        self.check_at_least("buffers", self.buffers, 0, "0 = the system's slice_buffers")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        if self.slices > layer.ffn:
            raise self.error(
                f"slices={self.slices} exceeds the FFN dimension {layer.ffn} of model "
                f"'{layer.op.model.model_name.data}' (a slice needs at least one row)"
            )
        count = self.slices or self._auto_slices(op, layer)
        self._check_size(layer, count)
        size = layer.max_slice_bytes(count)
        experts = [
            ExpertOp.create(
                properties={
                    "expert": i64_attr(expert),
                    "slices": i64_attr(count),
                    "bytes": i64_attr(size),
                    "tokens": i64_attr(int(layer.token_counts[expert])),
                }
            )
            for expert in layer.used_experts
        ]
        rounds: dict[int, list[int]] = {}
        for expert, round_ in round_tokens(op, layer):
            rounds.setdefault(expert, []).append(round_)
        for expert_op in experts:
            used_in = rounds[expert_op.expert.value.data]
            if used_in != [0]:  # expert parallelism with rounds: loaded once per round
                expert_op.attributes["rounds"] = i64_array(used_in)
        replace_ops(op, ExpertOp, experts)

    def _check_size(self, layer: Layer, count: int) -> None:
        """Refuse here, before the plan passes spend time on each slice, more slices than the
        limit, or more than the instruction limit allows (each slice is at least 4
        instructions: alloc, load, gemm, free)."""
        slices = count * len(layer.used_experts)
        if slices > limits.MAX_SLICES or 4 * slices > limits.MAX_INSTRUCTIONS:
            raise self.error(
                f"{len(layer.used_experts)} experts in {count} slices each make {slices} slices "
                f"(at least {4 * slices} instructions): more than the limit of "
                f"{limits.MAX_SLICES} slices and {limits.MAX_INSTRUCTIONS} instructions per "
                "layer (README: Limits); use fewer slices"
            )

    def resolved_options(self, module: ModuleOp) -> dict[str, object]:
        layer = read_layer(module, self.name)
        expert = find_op(module, ExpertOp)
        budget = self._budget(module, layer)[0] if self.slices == 0 else self.buffers
        return super().resolved_options(module) | {
            "slices": expert.slices.value.data if expert is not None else self.slices,
            "buffers": budget,
        }

    def _auto_slices(self, module: ModuleOp, layer: Layer) -> int:
        _, rows = self._budget(module, layer)
        needed = -(-layer.ffn // rows)
        return min(max(self.min_slices, needed), layer.ffn)

    def _budget(self, module: ModuleOp, layer: Layer) -> tuple[int, int]:
        """The buffers auto slicing makes room for, and the FFN rows per slice that let them
        fit next to the activations of the fullest chiplet. With `buffers=0` a tight SRAM falls
        back to 2 buffers, then 1 (`virtualize` says whether the plan can run with that)."""
        acts = activation_bytes(module, layer)
        fullest = max(range(len(acts)), key=lambda c: acts[c])
        sram = layer.system.sram_bytes.data
        free = sram - acts[fullest]
        row_bytes = 3 * layer.hidden * layer.weight_bytes  # one FFN row of the three matrices
        wanted = self.buffers or layer.system.slice_buffers.data
        for buffers in [wanted] if self.buffers else [wanted, 2, 1]:
            rows = free // (buffers * row_bytes) if free > 0 else 0
            if rows >= 1:
                return buffers, rows
        least = acts[fullest] + buffers * row_bytes
        raise self.error(
            f"{buffers} slice buffer(s) do not fit even with one FFN row per slice: "
            f"{buffers} x {row_bytes} B > {format_bytes(sram)} SRAM - "
            f"{format_bytes(acts[fullest])} of activations on chiplet {fullest}; it needs "
            f"at least {format_bytes(least)} of SRAM"
        )
