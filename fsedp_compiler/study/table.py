"""`fsedp-study table`: the results as pivot tables, one row per case, one column per strategy.

A *case* is everything a run's configuration says but the strategy and its options; the row
label shows the configuration columns that vary in the results (model, tokens, mesh, ...).
Where a case has several runs of one strategy (a `tune` search, or an options axis), the
fastest is shown: each strategy at its best, so a comparison is fair by construction.

Tables: latency (µs); latency / workload lower bound (the strategy-independent bound,
docs/simulator.md); speedup of each strategy over the best other one (that one's latency / this
one's: above 1 it beats every other strategy); SRAM: peak use and, where searched, the needed
SRAM (MiB). A failed run shows `failed`; a missing one `-`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.study.results import Row

_NOT_CASE = ("config.strategy", "config.options")
MIB = 2**20


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    labels: int  # the first `labels` columns name the case; the others are strategies


@dataclass
class Case:
    """One case: its label values and each strategy's best run (None: only failures)."""

    label: tuple[Any, ...]
    best: dict[str, Row | None]


def _is_strategy_axis(column: str) -> bool:
    return column == "axis.strategy" or column.startswith("axis.strategy.")


def case_columns(rows: Sequence[Row]) -> list[str]:
    """The configuration columns that vary across the results, strategy aside."""
    configs = [c for c in rows[0] if c.startswith("config.") and c not in _NOT_CASE]
    axes = [c for c in rows[0] if c.startswith("axis.") and not _is_strategy_axis(c)]
    columns = configs + axes  # the configuration's name first, where an axis sets it
    varying = [c for c in columns if len({_hashable(r.get(c)) for r in rows}) > 1]
    # A column that another shown one determines (the mesh by the system preset, a model's
    # sizes by its name, an axis by the configuration it sets) adds nothing: shown once.
    shown: list[str] = []
    for column in varying:
        if not any(_determines(rows, other, column) for other in shown):
            shown.append(column)
    return shown


def _determines(rows: Sequence[Row], column: str, other: str) -> bool:
    """Whether each value of `column` goes with one value of `other` in `rows`."""
    seen: dict[Any, Any] = {}
    for row in rows:
        key, value = _hashable(row.get(column)), _hashable(row.get(other))
        if seen.setdefault(key, value) != value:
            return False
    return True


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, list | dict) else repr(value)


def strategies_of(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r["config.strategy"] for r in rows if r.get("config.strategy")))


def cases(rows: Sequence[Row]) -> tuple[list[str], list[str], list[Case]]:
    """(label columns, strategies, cases in order of first appearance)."""
    if not rows:
        raise FsedpError("the results hold no runs")
    if "config.strategy" not in rows[0]:
        raise FsedpError("these are not fsedp-study results: no config.strategy column")
    label_columns, strategies = case_columns(rows), strategies_of(rows)
    found: dict[tuple, Case] = {}
    for row in rows:
        label = tuple(_hashable(row.get(c)) for c in label_columns)
        case = found.setdefault(label, Case(label, {}))
        strategy = row.get("config.strategy")
        if strategy is None:
            continue
        current = case.best.get(strategy)
        if row["status"] == "ok" and (current is None or _faster(row, current)):
            case.best[strategy] = row
        else:
            case.best.setdefault(strategy, None)
    return label_columns, strategies, list(found.values())


def _faster(row: Row, other: Row) -> bool:
    return (row["latency_cycles"], row["run"]) < (other["latency_cycles"], other["run"])


def speedup_over_best_other(case: Case, strategy: str) -> float | None:
    """Latency of the fastest other strategy / this one's; None without both."""
    mine = case.best.get(strategy)
    others = [r["latency_cycles"] for s, r in case.best.items() if s != strategy and r]
    if mine is None or not others:
        return None
    return min(others) / mine["latency_cycles"]


def study_tables(rows: Sequence[Row]) -> list[Table]:
    label_columns, strategies, found = cases(rows)
    headers = [_short(c) for c in label_columns] + strategies

    def table(title: str, cell: Callable[[Case, str], str]) -> Table:
        body = [[_show(v) for v in case.label] + [cell(case, s) for s in strategies]
                for case in found]  # fmt: skip
        return Table(title, headers, body, len(label_columns))

    def metric(key: str, fmt: Callable[[Any], str]) -> Callable[[Case, str], str]:
        def cell(case: Case, strategy: str) -> str:
            if strategy not in case.best:
                return "-"
            row = case.best[strategy]
            if row is None:
                return "failed"
            return fmt(row[key]) if row.get(key) is not None else "-"

        return cell

    def speedup(case: Case, strategy: str) -> str:
        if case.best.get(strategy, 0) is None:
            return "failed"
        value = speedup_over_best_other(case, strategy)
        return "-" if value is None else f"{value:.2f}x"

    tables = [
        table("latency (µs)", metric("latency_us", _time)),
        table("latency / workload lower bound", metric(
            "latency_over_workload_lower_bound", lambda v: f"{v:.3f}")),
        table("speedup over the best other strategy", speedup),
        table("peak SRAM per chiplet (MiB)", metric("peak_sram_bytes", _mib)),
    ]  # fmt: skip
    if any("min_sram.sram_bytes" in r and r["min_sram.sram_bytes"] is not None for r in rows):
        tables.append(
            table(
                "needed SRAM per chiplet (MiB), within 5 % of the latency",
                metric("min_sram.sram_bytes", _mib),
            )  # fmt: skip
        )
    return tables


def _time(value: float) -> str:
    return f"{value:,.1f}" if value >= 100 else f"{value:.3g}"


def _mib(value: Any) -> str:
    return f"{value / MIB:.2f}"


def _short(column: str) -> str:
    return column.removeprefix("config.").removeprefix("axis.")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "-" if value is None else str(value)


def markdown_tables(tables: Sequence[Table]) -> str:
    parts = []
    for t in tables:
        lines = [f"### {t.title}", "", "| " + " | ".join(t.headers) + " |",
                 "|" + "---|" * len(t.headers)]  # fmt: skip
        lines += ["| " + " | ".join(row) + " |" for row in t.rows]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def print_tables(tables: Sequence[Table]) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    console = Console()
    for t in tables:
        shown = RichTable(title=t.title, title_justify="left")
        for i, header in enumerate(t.headers):
            shown.add_column(header, justify="left" if i < t.labels else "right")
        for row in t.rows:
            shown.add_row(*row)
        console.print(shown)
