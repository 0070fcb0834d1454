"""The progress bar of `fsedp-study run` and `tune` (rich, on stderr): runs finished of the
total, how many came from the cache and how many failed, elapsed time and an ETA."""

from __future__ import annotations

from fsedp_compiler.study.run import Outcome
from fsedp_compiler.study.runner import CACHED, DONE


class StudyProgress:
    """A context manager and the runner's progress callback: `progress(kind, outcome)`.
    `total=None` (tune: stages decide as they go) grows the total as runs are announced."""

    def __init__(self, total: int | None, title: str, enabled: bool = True):
        self.total, self.title, self.enabled = total, title, enabled
        self.counts = {DONE: 0, CACHED: 0, "failed": 0}
        self._bar = None

    def __enter__(self) -> StudyProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cached {task.fields[cached]}  failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._bar.__enter__()
        self._task = self._bar.add_task(self.title, total=self.total, cached=0, failed=0)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def expect(self, runs: int) -> None:
        """Announce `runs` more runs (tune's stages)."""
        self.total = (self.total or 0) + runs
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    def __call__(self, kind: str, outcome: Outcome) -> None:
        self.counts[kind] += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, cached=self.counts[CACHED],
                             failed=self.counts["failed"])  # fmt: skip
