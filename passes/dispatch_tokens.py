"""`dispatch-tokens{schedule=ring|id round-bytes=0}`: token dispatch and return for EP and Hydra.

Under expert parallelism a token travels to the home of each of its experts (`place-experts`)
and its partial output comes back. The pass plans one exchange per (source chiplet, home)
pair: a `chiplet.dispatch from c to h tokens [...]` op listing the tokens of chiplet c that use
at least one routed expert homed on h (shared experts have no home: every chiplet applies them
to its own tokens). Each token is sent to a home once,
however many of its experts live there; the home sums those experts' outputs and returns one
vector per token, which the source adds to its own output rows.

`schedule` orders each source's dispatches (the all-to-all schedule):
- `ring` (default): chiplet c sends to c+1, c+2, ... (mod C), so the homes are not all hit by
  every source at once;
- `id`: by home id.

Rounds: a home holds the inputs and partial outputs of the tokens it serves (2 rows each). When
they do not fit its budget, it serves them in rounds: it takes its incoming dispatches in plan
order into round 0 while they fit, then round 1, ... (`round` on the dispatch; its own tokens
are served in round 0), and loads its experts again in every round they are used in (see
`shard-experts`). `round-bytes=N` is the budget in bytes of received token vectors per round;
`0` (default) leaves half of SRAM to the weights: half of SRAM minus the home's own activations
(its tokens' input and output, and for every token it sends, the gathered copy and the returned
output). A dispatch larger than the budget gets a round of its own.

Before (2x2 mesh, experts homed round-robin; on chiplet 0, token 0 uses expert 1 and token 1
experts 1 and 2):

```mlir
chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2, 3, 3>
chiplet.placement policy "round-robin" homes array<i64: 0, 1, 2, 3>
```

After `dispatch-tokens{schedule=ring}`:

```mlir
chiplet.dispatch from 0 to 1 tokens array<i64: 0, 1>
chiplet.dispatch from 0 to 2 tokens array<i64: 1>
...
```
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.attrs import i64_array, i64_attr
from dialects.chiplet import DispatchOp, PartitionOp, PlacementOp
from passes._plan import FsedpPass, Layer, read_layer, replace_ops, require_op

SCHEDULES = ("ring", "id")


@dataclass(frozen=True)
class DispatchTokensPass(FsedpPass):
    name = "dispatch-tokens"

    schedule: str = "ring"
    round_bytes: int = 0

    def __post_init__(self) -> None:
        self.check_choice("schedule", self.schedule, SCHEDULES)
        self.check_at_least("round-bytes", self.round_bytes, 0, "0 = auto")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        owners = require_op(op, PartitionOp, self.name, "partition-tokens").owners.get_values()
        homes = require_op(op, PlacementOp, self.name, "place-experts").homes.get_values()
        chiplets = layer.chiplets
        needed: list[list[set[int]]] = [[set() for _ in range(chiplets)] for _ in range(chiplets)]
        for token, source in enumerate(owners):
            for expert in layer.routing[token].tolist():
                home = homes[expert]
                if home != source:
                    needed[source][home].add(token)
        plan: list[tuple[int, int, list[int]]] = []
        for source in range(chiplets):
            if self.schedule == "ring":
                order = [(source + k) % chiplets for k in range(1, chiplets)]
            else:
                order = [h for h in range(chiplets) if h != source]
            plan.extend((source, h, sorted(needed[source][h])) for h in order if needed[source][h])
        rounds = self._rounds(layer, owners, plan)
        dispatches = []
        for (source, home, tokens), round_ in zip(plan, rounds, strict=True):
            properties = {"from": i64_attr(source), "to": i64_attr(home)}
            properties["tokens"] = i64_array(tokens)
            if round_:
                properties["round"] = i64_attr(round_)
            dispatches.append(DispatchOp.create(properties=properties))
        replace_ops(op, DispatchOp, dispatches)

    def _rounds(self, layer: Layer, owners, plan: list[tuple[int, int, list[int]]]) -> list[int]:
        """The round of each dispatch: a home takes its incoming dispatches in plan order into
        one round while their inputs and outputs (2 rows per token) fit its budget, then starts
        the next; a dispatch larger than the budget gets a round of its own."""
        fixed = [2 * n for n in np.bincount(owners, minlength=layer.chiplets).tolist()]
        for source, _, tokens in plan:  # gathered inputs and their returned outputs
            fixed[source] += 2 * len(tokens)
        used: dict[int, int] = {}  # home -> rows of its current round
        current: dict[int, int] = {}  # home -> its current round
        rounds = []
        for _, home, tokens in plan:
            budget = self._budget(layer, fixed[home])
            rows = 2 * len(tokens)
            if home in used and used[home] + rows > budget:
                current[home] += 1
                used[home] = 0
            current.setdefault(home, 0)
            used[home] = used.get(home, 0) + rows
            rounds.append(current[home])
        return rounds

    def _budget(self, layer: Layer, fixed_rows: int) -> int:
        """Rows of received tokens a home may hold in one round."""
        if self.round_bytes:
            return self.round_bytes // layer.token_bytes
        half = layer.system.sram_bytes.data // 2 // layer.token_bytes
        return half - fixed_rows
