"""Regression guard: every shipped example under every strategy keeps its distance to the bound
and the strategies keep their ranking; refactors change no result.

`tests/golden/metrics.json` pins, per example and strategy, latency / workload lower bound as
measured when the goldens were last written. A strategy more than 1 % slower than its golden
fails (a change made it worse); more than 3 % faster fails too, asking for the goldens to be
rewritten, so they stay a tight guard:

    python tests/test_golden.py        # rewrite tests/golden/metrics.json from the current tree

The ranking of the strategies by latency must stay the same, except between strategies within
1 % of each other (at the bound, which one is a hair ahead is noise, not a result).

`tests/golden/reports/` holds the whole simulator report of each run, for refactors that must
not change any result: every value in them must come out identical (a report may add fields).
The same command rewrites them.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "metrics.json"
REPORTS = ROOT / "tests" / "golden" / "reports"
EXAMPLES = sorted((ROOT / "examples").glob("*.moe"))
STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")
SLOWER, FASTER, TIE = 0.01, 0.03, 0.01


@cache
def report(example: str, strategy: str) -> str:
    """The simulator's JSON report of the example compiled with the strategy."""
    sys.path.insert(0, str(ROOT))
    from backends.sim import simulate
    from fsedp_compiler.frontend import build_module, parse_moe
    from fsedp_compiler.pipelines import compile_module

    path = ROOT / "examples" / example
    module = build_module(parse_moe(path.read_text(), str(path)))
    compile_module(module, strategy, verify_ir=False)
    return simulate(module).json()


def measure(example: str, strategy: str) -> dict[str, float]:
    full = json.loads(report(example, strategy))
    return {
        "latency_cycles": full["latency_cycles"],
        "latency_over_workload_lower_bound": full["latency_over_workload_lower_bound"],
    }


def _report_file(example: str, strategy: str) -> Path:
    return REPORTS / f"{Path(example).stem}.{strategy}.json"


def _differences(pinned: object, now: object, where: str = "") -> list[str]:
    """Where `now` differs from `pinned`; keys `pinned` lacks are new fields, not differences."""
    if isinstance(pinned, dict) and isinstance(now, dict):
        return [
            difference
            for key, value in pinned.items()
            for difference in (
                _differences(value, now[key], f"{where}.{key}")
                if key in now
                else [f"{where}.{key} is missing"]
            )
        ]
    if isinstance(pinned, list) and isinstance(now, list) and len(pinned) == len(now):
        return [
            d
            for i, (a, b) in enumerate(zip(pinned, now, strict=True))
            for d in _differences(a, b, f"{where}[{i}]")
        ]
    return [] if pinned == now else [f"{where}: {pinned!r} -> {now!r}"]


def golden() -> dict[str, dict[str, dict[str, float]]]:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("example", [p.name for p in EXAMPLES])
def test_no_strategy_gets_slower(example: str, strategy: str) -> None:
    pinned = golden()[example][strategy]["latency_over_workload_lower_bound"]
    now = measure(example, strategy)["latency_over_workload_lower_bound"]
    assert now <= pinned * (1 + SLOWER), (
        f"{strategy} on {example}: {now:.4f} x the bound, golden {pinned:.4f}"
    )
    assert now >= pinned * (1 - FASTER), (
        f"{strategy} on {example} got faster ({now:.4f} vs golden {pinned:.4f}): "
        "rewrite the goldens with `python tests/test_golden.py`"
    )


@pytest.mark.parametrize("example", [p.name for p in EXAMPLES])
def test_the_ranking_holds(example: str) -> None:
    pinned = golden()[example]
    latency = {s: measure(example, s)["latency_cycles"] for s in STRATEGIES}
    for a in STRATEGIES:
        for b in STRATEGIES:
            before = pinned[a]["latency_cycles"] < pinned[b]["latency_cycles"] * (1 - TIE)
            if before:  # a was clearly faster than b: it must still not be slower
                assert latency[a] <= latency[b], f"{example}: {a} is now slower than {b}"


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("example", [p.name for p in EXAMPLES])
def test_reports_are_unchanged(example: str, strategy: str) -> None:
    pinned = json.loads(_report_file(example, strategy).read_text())
    now = json.loads(report(example, strategy))
    differences = _differences(pinned, now)
    assert not differences, "\n".join(differences[:10])


def test_every_example_and_strategy_is_pinned() -> None:
    assert sorted(golden()) == [p.name for p in EXAMPLES]
    assert all(sorted(entry) == sorted(STRATEGIES) for entry in golden().values())


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    data = {p.name: {s: measure(p.name, s) for s in STRATEGIES} for p in EXAMPLES}
    GOLDEN.write_text(json.dumps(data, indent=2) + "\n")
    REPORTS.mkdir(exist_ok=True)
    for p in EXAMPLES:
        for s in STRATEGIES:
            _report_file(p.name, s).write_text(report(p.name, s))
    print(f"wrote {GOLDEN} and {REPORTS}")
