"""`fsedp-study run`: a study's runs through the cache and the executor, to result rows.

    study = load_study("studies/paper.toml")
    rows = rows_of(study, run_study(study, Settings(workers=2)))

The client runs each run's front end (its canonical input and configuration; a run the front
end refuses fails here, with its error), takes what the cache has (unless `force`), runs the
rest on the executor, caches every outcome that is the input's own, and returns one row per run
in run order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.study import cache as cache_lib
from fsedp_compiler.study.executor import default_workers, execute
from fsedp_compiler.study.results import Row, make_row
from fsedp_compiler.study.run import FAILED, Outcome, Task, cache_key, config_of, front_end, ir_text
from fsedp_compiler.study.spec import Run, Study

DONE, CACHED = "done", "cached"  # how a run's outcome came; plus run.FAILED


@dataclass
class Settings:
    workers: int = field(default_factory=default_workers)
    scheduler: str | None = None
    cache_folder: str = field(default_factory=cache_lib.default_folder)
    force: bool = False
    min_sram: bool | None = None  # None: as the study says


@dataclass
class Prepared:
    run: Run
    task: Task
    config: dict[str, Any]
    outcome: Outcome | None = None  # known before executing: a front-end error or a cache hit
    seconds: float | None = None  # the run's wall time in its worker, when it ran now
    cpu_seconds: float | None = None


# Called once per finished run: how its outcome came (DONE, CACHED or FAILED) and the outcome.
Progress = Callable[[str, Outcome], None]


def prepare(
    study: Study, run: Run, extra: tuple[str, ...] = (), min_sram: bool = False
) -> Prepared:
    """The run's task, key and configuration; a front-end error makes it a failed run."""
    task = Task(run.index, study.moe_text, study.moe_name, run.defines + extra, min_sram)
    try:
        program = front_end(task)
        from fsedp_compiler.frontend import build_module

        ir = ir_text(build_module(program))
    except FsedpError as error:
        outcome = Outcome(FAILED, error.format().splitlines()[0].removeprefix("error: "))
        return Prepared(run, task, {}, outcome)
    key = cache_key(ir, min_sram, cache_lib.tool_version())
    cost = program.routing.size * program.model.hidden * program.model.ffn * (4 if min_sram else 1)
    task = Task(task.index, task.moe_text, task.moe_name, task.defines, min_sram, key, cost)
    return Prepared(run, task, config_of(program))


def run_prepared(items: list[Prepared], settings: Settings, progress: Progress) -> None:
    """Fill in every item's outcome: from the cache, or by running it."""
    store = cache_lib.Cache(settings.cache_folder)
    pending: dict[int, Prepared] = {}
    for item in items:
        if item.outcome is None and not settings.force:
            item.outcome = store.get(item.task.key)
            if item.outcome is not None:
                progress(CACHED, item.outcome)
                continue
        if item.outcome is None:
            pending[item.task.index] = item
        else:
            progress(FAILED, item.outcome)

    def finished(task: Task, outcome: Outcome) -> None:
        item = pending[task.index]
        item.outcome, item.seconds, item.cpu_seconds = outcome, outcome.seconds, outcome.cpu_seconds
        if outcome.cacheable:
            store.put(task.key, outcome)
        progress(DONE if outcome.status != FAILED else FAILED, outcome)

    execute(
        [item.task for item in pending.values()],
        finished,
        workers=settings.workers,
        scheduler=settings.scheduler,
    )


def run_study(study: Study, settings: Settings, progress: Progress | None = None) -> list[Prepared]:
    """Every run of `study` with its outcome, in run order."""
    min_sram = study.min_sram if settings.min_sram is None else settings.min_sram
    items = [prepare(study, run, min_sram=min_sram) for run in study.runs]
    run_prepared(items, settings, progress or (lambda kind, outcome: None))
    return items


def rows_of(study: Study, items: list[Prepared]) -> list[Row]:
    """One result row per run."""
    return [
        make_row(study.name, item.run.index, item.run.settings, item.config, item.outcome)
        for item in items
    ]
