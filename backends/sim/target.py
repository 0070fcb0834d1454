"""`fsedp-opt -t sim-report`: simulate the module and print the report instead of the IR.

Options: `format` (`text`, `json` or `csv`), `numerics` (run the numerics check), `scale`
(hidden/FFN divisor for the check; 0 picks the default) and `seed`. The module must hold the
lowered programs; the driver compiles one that does not first (`fsedp_compiler.registry`), so
`fsedp-opt model.moe -t sim-report` works.

```
// RUN: fsedp-opt %s -t 'sim-report{format=json}' | filecheck %s
// CHECK: "latency_cycles": 314.88
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target

from backends.sim.program import SimError

FORMATS = ("text", "json", "csv")


@dataclass(frozen=True)
class SimReportTarget(Target):
    name = "sim-report"

    format: str = "text"
    numerics: bool = False
    scale: int = 0
    seed: int = 0

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from backends.sim import simulate

        if self.format not in FORMATS:
            raise SimError(
                f"sim-report format '{self.format}' is unknown; use one of: {', '.join(FORMATS)}"
            )
        sim = simulate(
            module,
            check_numerics=self.numerics,
            numerics_scale=self.scale or None,
            numerics_seed=self.seed,
        )
        text = {"text": sim.text, "json": sim.json, "csv": sim.csv}[self.format]()
        output.write(text)
