"""The instruction-level simulator of lowered `cisa` programs (docs/simulator.md).

```python
from backends.sim import simulate
sim = simulate(module, check_numerics=True)    # module: cisa programs + chiplet.system
sim.report["latency_cycles"]; print(sim.text()); sim.csv(); sim.chrome_trace()
```

`simulate` flattens the programs once (`program.flatten`), runs the event-driven engine
(`engine.run`), optionally replays the data semantics on random values (`numerics`) and builds
the metrics report (`report`). Every problem is raised as `SimError`, an `FsedpError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from xdsl.dialects.builtin import ModuleOp

from backends.sim.engine import RunResult, run
from backends.sim.program import FlatProgram, SimError, flatten
from backends.sim.report import build_report, format_csv, format_text
from fsedp_compiler.perf import paused_gc

__all__ = ["SimError", "Simulation", "simulate", "dumps"]


@dataclass
class Simulation:
    flat: FlatProgram
    result: RunResult
    report: dict[str, Any]

    def text(self) -> str:
        return format_text(self.report)

    def json(self) -> str:
        return dumps(self.report)

    def csv(self) -> str:
        return format_csv(self.report)

    def chrome_trace(self) -> dict[str, Any]:
        from backends.sim.trace import chrome_trace

        if not self.result.spans and self.result.latency > 0:
            raise SimError("the run was not recorded; simulate(..., trace=True)")
        return chrome_trace(self.flat, self.result)


def dumps(report: dict[str, Any]) -> str:
    """The report as JSON text: stable key order, so equal runs give byte-identical files."""
    return json.dumps(report, indent=2) + "\n"


def simulate(
    module: ModuleOp,
    *,
    check_numerics: bool = False,
    numerics_scale: int | None = None,
    numerics_seed: int = 0,
    trace: bool = False,
) -> Simulation:
    """Simulate the `cisa` programs of `module` (which carries the `chiplet.system`)."""
    with paused_gc():
        flat = flatten(module)
        result = run(flat, trace=trace, record_order=check_numerics)
    numerics = None
    if check_numerics:
        from backends.sim.numerics import check_numerics as check

        numerics = check(flat, result.order, scale=numerics_scale, seed=numerics_seed)
    return Simulation(flat, result, build_report(flat, result, numerics))
