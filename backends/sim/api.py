"""`simulate` and the `Simulation` it returns; `backends.sim` exports them (see there)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from xdsl.dialects.builtin import ModuleOp

from backends.sim.engine import RunResult, run
from backends.sim.program import FlatProgram, SimError, flatten
from backends.sim.report import build_report, format_csv, format_text
from fsedp_compiler.perf import paused_gc


@dataclass
class Simulation:
    flat: FlatProgram
    result: RunResult
    report: dict[str, Any]

    def text(self, full: bool | None = None) -> str:
        """The summary; `full`: a line per chiplet and link (default: up to 16 chiplets)."""
        return format_text(self.report, full)

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
