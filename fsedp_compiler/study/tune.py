"""`fsedp-study tune`: per workload and strategy, a budgeted search over the strategy's options.

Method: a staged coordinate search, the one behind the pipelines' defaults
(`benchmarks/tune_defaults.py` uses these stages). It starts from the pipeline's defaults, then
each stage tries every combination of its options (`STAGES`) with the best of the stages before
it fixed, and keeps the fastest (latency; ties to the earlier setting). At most `budget`
settings, the defaults included, are simulated per workload and strategy; a stage that would
exceed it is cut, in the stage's order. Options that define a strategy are not searched
(`fsedp` keeps `order=id mode=per-expert`, `fsedp-paired` `order=paired`; EP and Hydra keep
their placement), so each strategy stays itself at its best. A setting that fails to compile is
recorded as failed and never chosen.

Every setting tried is a result row (its options in `axis.strategy.NAME` columns), and the
tables take each strategy's fastest: a comparison of tuned strategies.
"""

from __future__ import annotations

import itertools
from typing import Any

from fsedp_compiler.study.runner import Prepared, Settings, prepare, run_prepared
from fsedp_compiler.study.spec import Run, Study, define_text

# Per strategy, the stages of the search: each a dict of option -> values tried together.
STAGES: dict[str, list[dict[str, list[Any]]]] = {
    "fsedp": [
        {"min-slices": [8, 16, 32], "slice-buffers": [0, 8, 12]},
        {"shape": ["tree", "tour"], "entry": ["nearest-need", "max-free"]},
    ],
    "fsedp-paired": [
        {"mode": ["even", "per-expert"]},
        {"min-slices": [8, 16, 32], "slice-buffers": [0, 8, 12]},
        {"shape": ["tree", "tour"], "entry": ["nearest-need", "max-free"]},
    ],
    "ep": [
        {
            "order": ["paired", "id", "hot-first", "pairs"],
            "mode": ["even", "nearest", "per-expert"],
        },
        {"min-slices": [1, 4, 16], "slice-buffers": [0, 2, 4, 8]},
        {"shape": ["tree", "tour"]},
    ],
    "hydra": [
        {
            "order": ["paired", "id", "hot-first", "pairs"],
            "mode": ["even", "nearest", "per-expert"],
        },
        {"min-slices": [1, 4, 16], "slice-buffers": [0, 2, 4, 8]},
        {"shape": ["tree", "tour"]},
    ],
}


def stage_settings(stage: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of a stage's options, in order."""
    return [dict(zip(stage, values, strict=True)) for values in itertools.product(*stage.values())]


def describe(budget: int) -> str:
    return (
        f"tune: staged coordinate search from each pipeline's defaults, at most {budget} "
        "settings per workload and strategy, scored by latency (docs/study.md)"
    )


class _Search:
    """The search of one workload and strategy: the settings tried and the best so far."""

    def __init__(self, run: Run, strategy: str, budget: int):
        self.run, self.strategy, self.budget = run, strategy, budget
        self.best: dict[str, Any] = {}
        self.best_latency: float | None = None
        self.tried: list[tuple[dict[str, Any], Prepared]] = []

    def candidates(self, stage: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
        settings = [{}] if stage is None else [{**self.best, **s} for s in stage_settings(stage)]
        done = [options for options, _ in self.tried]
        fresh = [s for s in settings if s not in done]
        return fresh[: self.budget - len(self.tried)]

    def record(self, options: dict[str, Any], item: Prepared) -> None:
        self.tried.append((options, item))
        outcome = item.outcome
        if outcome is not None and outcome.status == "ok":
            latency = outcome.report["latency_cycles"]
            if self.best_latency is None or latency < self.best_latency:
                self.best, self.best_latency = options, latency


def tune(study: Study, settings: Settings, budget: int, progress):
    """Search every run's strategy; (rows, items, method) of every setting tried."""
    from fsedp_compiler.study.results import make_row

    searches = [_Search(run, _strategy_of(study, run), budget) for run in study.runs]
    stages = max((len(STAGES.get(s.strategy, [])) for s in searches), default=0)
    index = itertools.count()
    for number in range(-1, stages):
        batch: list[tuple[_Search, dict[str, Any], Prepared]] = []
        for search in searches:
            plan = STAGES.get(search.strategy, [])
            if number >= len(plan):
                continue
            for options in search.candidates(None if number < 0 else plan[number]):
                extra = tuple(define_text(f"strategy.{k}", v) for k, v in options.items())
                item = prepare(study, search.run, extra, min_sram=False)
                item.task = _renumbered(item.task, next(index))
                batch.append((search, options, item))
        progress.expect(len(batch))
        run_prepared([item for _, _, item in batch], settings, progress)
        for search, options, item in batch:
            search.record(options, item)
    rows, items = [], []
    for search in searches:
        for options, item in search.tried:
            extra = tuple((f"strategy.{k}", v) for k, v in options.items())
            row = make_row(study.name, item.task.index, item.run.settings + extra, item.config,
                           item.outcome)  # fmt: skip
            row["tune.best"] = options == search.best and search.best_latency is not None
            rows.append(row)
            items.append(item)
    return rows, items, describe(budget)


def _renumbered(task, index: int):
    from dataclasses import replace

    return replace(task, index=index)


def _strategy_of(study: Study, run: Run) -> str:
    """The run's strategy: its front end says (the base file's or the axis's)."""
    from fsedp_compiler.study.run import Task, front_end

    task = Task(run.index, study.moe_text, study.moe_name, run.defines)
    try:
        return front_end(task).strategy or ""
    except Exception:  # noqa: BLE001 - the run fails again, and is reported, when prepared
        return ""
