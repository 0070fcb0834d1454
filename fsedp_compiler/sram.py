"""The least SRAM a strategy needs: `fsedp-sim FILE --min-sram`.

A run's peak SRAM is what its programs use, but the compiler sizes slices and buffers to the
SRAM it is given; "how much SRAM does this layer need?" is a question of its own. The answer
here: the least SRAM per chiplet at which the strategy, compiled the same way, runs within
`tolerance` (5 %) of its latency at the given SRAM.

"The same way": the options that ran at the given SRAM are kept, and the slice count it chose
is pinned (`slices=N`), so only the buffers the compiler can fit shrink with the SRAM; without
the pin, smaller SRAM would just cut the experts into ever finer slices, which the machine
model charges nothing for. The search is a bisection over bytes between 0 (nothing fits) and
the given SRAM, to within 1/256 of the given SRAM or 4 KiB, whichever is larger; each trial
compiles and simulates the layer. It assumes that more SRAM never makes the run slower by more
than the tolerance (more buffers only add slack); every trial is recorded in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp

from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.record import module_options

TOLERANCE = 0.05
MIN_STEP_BYTES = 4096


@dataclass
class Trial:
    sram_bytes: int
    latency_cycles: float | None  # None: it does not compile at this SRAM
    peak_sram_bytes: int | None = None
    options: dict[str, object] = field(default_factory=dict)
    error: str = ""


@dataclass
class SramNeed:
    given: Trial
    least: Trial
    tolerance: float
    trials: list[Trial]

    def report(self) -> dict[str, object]:
        """The JSON form (the report's `min_sram` entry)."""
        return {
            "tolerance": self.tolerance,
            "given_sram_bytes": self.given.sram_bytes,
            "given_latency_cycles": self.given.latency_cycles,
            "sram_bytes": self.least.sram_bytes,
            "latency_cycles": self.least.latency_cycles,
            "latency_ratio": round(self.least.latency_cycles / self.given.latency_cycles, 4),
            "peak_sram_bytes": self.least.peak_sram_bytes,
            "strategy_options": self.least.options,
            "trials": [
                {
                    "sram_bytes": t.sram_bytes,
                    "latency_cycles": t.latency_cycles,
                    **({"error": t.error} if t.error else {}),
                }
                for t in self.trials
            ],
        }

    def text(self) -> str:
        given, least = self.given, self.least
        ratio = least.latency_cycles / given.latency_cycles
        buffers = least.options.get("slice-buffers")
        slices = least.options.get("slices")
        return (
            f"least SRAM within {100 * self.tolerance:g}% of the latency at "
            f"{_size(given.sram_bytes)}: {_size(least.sram_bytes)} per chiplet "
            f"(latency {least.latency_cycles:.1f} cycles, {ratio:.3f}x; {buffers} slice "
            f"buffers of {slices} slices per expert; peak use {_size(least.peak_sram_bytes)})\n"
        )


def _size(nbytes: int | None) -> str:
    if nbytes is None:
        return "-"
    return f"{nbytes} B ({nbytes / 2**20:.2f} MiB)"


def least_sram(module: ModuleOp, strategy: str | None, *, tolerance: float = TOLERANCE) -> SramNeed:
    """Search the least SRAM for the moe-level `module` (not compiled; left unchanged)."""
    from fsedp_compiler.pipelines import compile_module

    def trial(sram: int, options: dict[str, object] | None) -> Trial:
        from backends.sim import simulate

        candidate = module.clone()
        system = candidate.attributes[SYSTEM_ATTR_NAME]
        assert isinstance(system, SystemAttr)
        candidate.attributes[SYSTEM_ATTR_NAME] = system.with_sram(sram)
        try:
            compile_module(candidate, strategy, options, verify_ir=False)
        except FsedpError as error:
            if options is None:
                raise  # the given SRAM itself: the error names the least SRAM it needs
            return Trial(sram, None, error=error.message.splitlines()[0])
        report = simulate(candidate).report
        return Trial(sram, report["latency_cycles"], report["peak_sram_bytes"],
                     module_options(candidate))  # fmt: skip

    system = module.attributes.get(SYSTEM_ATTR_NAME)
    if not isinstance(system, SystemAttr):
        raise FsedpError("--min-sram needs a module with a chiplet.system to vary its SRAM")
    given = trial(system.sram_bytes.data, None)
    pinned = {"slices": given.options["slices"]}
    trials = [given]
    low, high, best = 0, given.sram_bytes, given
    step = max(MIN_STEP_BYTES, given.sram_bytes // 256)
    while high - low > step:
        middle = (low + high) // 2
        result = trial(middle, pinned)
        trials.append(result)
        fast = result.latency_cycles is not None and (
            result.latency_cycles <= (1 + tolerance) * given.latency_cycles
        )
        if fast:
            high, best = middle, result
        else:
            low = middle
    return SramNeed(given, best, tolerance, trials)
