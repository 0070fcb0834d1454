"""Where a study's runs execute: Dask workers, or this process.

- a `distributed.LocalCluster` of `workers` processes, one thread each (the default, as many
  workers as cores): each worker imports the compiler once and then takes run after run;
- a running Dask cluster, `scheduler="tcp://HOST:PORT"` (its workers need fsedp installed);
- `workers=0`: in this process, one run after the other (for debugging and profiling).

Results do not depend on the choice: a run is a pure function of its task, and the results
are ordered by run, not by completion.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.study.run import FAILED, Outcome, Task, run_task

Report = Callable[[Task, Outcome], None]


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def execute(tasks: Iterable[Task], report: Report, *, workers: int, scheduler: str | None) -> None:
    """Run every task and call `report(task, outcome)` as each finishes, longest first."""
    ordered = sorted(tasks, key=lambda task: (-task.cost, task.index))
    if not ordered:
        return
    if scheduler is None and workers == 0:
        for task in ordered:
            report(task, run_task(task))
        return
    _on_dask(ordered, report, workers, scheduler)


def _on_dask(tasks: list[Task], report: Report, workers: int, scheduler: str | None) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=10)
    except (OSError, TimeoutError, ValueError) as error:
        where = scheduler or "a local cluster"
        raise FsedpError(f"cannot start or reach the Dask scheduler ({where}): {error}") from None
    try:
        futures = client.map(run_task, tasks, pure=False)
        task_of = {future.key: task for future, task in zip(futures, tasks, strict=True)}
        for future in as_completed(futures):
            report(task_of[future.key], _outcome(future))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _outcome(future) -> Outcome:
    """The run's outcome; a lost worker or a task Dask could not run is a failure of its own
    (not the input's, so it is not cached)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - whatever Dask raises, the study goes on
        return Outcome(FAILED, f"worker error: {type(error).__name__}: {error}", cacheable=False)
