"""`fsedp-opt -t sim-report`: simulate the module and print the report instead of the IR.

Options: `format` (`text`, `json` or `csv`), `numerics` (run the numerics check), `scale`
(hidden/FFN divisor for the check, at most the hidden size; 0 picks the default) and `seed`
(not negative); `scale` and `seed` need `numerics=true`. The driver checks them before any
work (`check`). The module must hold the lowered programs; the driver compiles one that does
not first (`fsedp_compiler.registry`), so `fsedp-opt model.moe -t sim-report` works.

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

FORMATS = ("text", "json", "csv")


@dataclass(frozen=True)
class SimReportTarget(Target):
    name = "sim-report"

    format: str = "text"
    numerics: bool = False
    scale: int = 0
    seed: int = 0

    def check(self, given: set[str]) -> None:
        """The options given (`given`, their names), before any work; a usage error (exit 2)
        as for fsedp-sim's flags: `scale` and `seed` only with `numerics=true`."""
        from fsedp_compiler.cli_common import UsageError

        if self.format not in FORMATS:
            raise UsageError(
                f"sim-report format '{self.format}' is unknown; use one of: {', '.join(FORMATS)}"
            )
        for option in given & {"scale", "seed"}:
            if not self.numerics:
                raise UsageError(f"sim-report option {option} needs numerics=true")
            if getattr(self, option) < 0:
                value = getattr(self, option)
                raise UsageError(f"sim-report option {option} must not be negative, got {value}")

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from backends.sim import simulate

        self.check(set())
        sim = simulate(
            module,
            check_numerics=self.numerics,
            numerics_scale=self.scale or None,
            numerics_seed=self.seed,
        )
        text = {"text": sim.text, "json": sim.json, "csv": sim.csv}[self.format]()
        output.write(text)
