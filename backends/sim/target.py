"""`fsedp-opt -t sim-report`: simulate the module and print the report instead of the IR.

Options: `format` (`text`, `json` or `csv`), `numerics` (run the numerics check), `scale`
(hidden/FFN divisor for the check; 0 picks the default) and `seed`. A module that still holds the
`moe.layer` but no `cisa.program` is first compiled with its `fsedp.strategy` (as `fsedp-sim`
does with `.moe` files), so `fsedp-opt model.moe -t sim-report` works.

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

from backends.sim.program import SimError, find_ops

FORMATS = ("text", "json", "csv")


def lower_if_needed(
    module: ModuleOp, strategy: str | None = None, *, verify_ir: bool = True
) -> ModuleOp:
    """Compile a module that has a `moe.layer` but no programs yet; return the module.

    `strategy` overrides the module's `fsedp.strategy`; it is an error on a lowered module.
    """
    programs, layers = find_ops(module)
    if programs:
        if strategy is not None:
            raise SimError(
                "the input is already lowered to cisa programs; --strategy applies to .moe input "
                "(or moe-level IR) only"
            )
        return module
    if not layers:
        raise SimError("the module holds neither cisa.program ops nor a moe.layer to compile")
    from fsedp_compiler.pipelines import compile_module

    compile_module(module, strategy=strategy, verify_ir=verify_ir)  # records what ran
    return module


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
            lower_if_needed(module),
            check_numerics=self.numerics,
            numerics_scale=self.scale or None,
            numerics_seed=self.seed,
        )
        text = {"text": sim.text, "json": sim.json, "csv": sim.csv}[self.format]()
        output.write(text)
