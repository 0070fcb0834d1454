"""`dispatch-tokens{schedule=ring|id}`: token dispatch and return for the EP baselines.

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

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.chiplet import DispatchOp, PartitionOp, PlacementOp
from dialects.fast_ops import i64_array, i64_attr
from passes._plan import FsedpPass, read_layer, replace_ops, require_op

SCHEDULES = ("ring", "id")


@dataclass(frozen=True)
class DispatchTokensPass(FsedpPass):
    name = "dispatch-tokens"

    schedule: str = "ring"

    def __post_init__(self) -> None:
        self.check_choice("schedule", self.schedule, SCHEDULES)

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
        dispatches = []
        for source in range(chiplets):
            if self.schedule == "ring":
                order = [(source + k) % chiplets for k in range(1, chiplets)]
            else:
                order = [h for h in range(chiplets) if h != source]
            for home in order:
                if needed[source][home]:
                    dispatches.append(
                        DispatchOp.create(
                            properties={
                                "from": i64_attr(source),
                                "to": i64_attr(home),
                                "tokens": i64_array(sorted(needed[source][home])),
                            }
                        )
                    )
        replace_ops(op, DispatchOp, dispatches)
