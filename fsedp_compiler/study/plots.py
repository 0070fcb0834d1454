"""Figures: the timeline of one run (`fsedp-sim --plot`) and the study's figures
(`fsedp-study plot`), with matplotlib, as PNG and SVG.

The timeline reads the Chrome trace the simulator writes (`backends/sim/trace.py`): the same
events Perfetto shows, drawn as one row per chiplet engine, DDR channel and directed D2D link.
The study figures read result rows (`fsedp_compiler/study/results.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display; set before pyplot is imported
matplotlib.rcParams["svg.hashsalt"] = "fsedp"  # SVG ids from a fixed salt: same data, same bytes

import matplotlib.pyplot as plt  # noqa: E402

from fsedp_compiler.errors import FsedpError  # noqa: E402

# One colour per kind of track, the same in every figure.
KIND_COLOURS = {0: "tab:blue", 1: "tab:orange", 2: "tab:green"}  # engines, DDR, links
KIND_NAMES = {0: "matrix engine", 1: "DDR channel", 2: "D2D link"}
STRATEGY_COLOURS = {
    "fsedp": "tab:blue",
    "fsedp-paired": "tab:green",
    "ep": "tab:orange",
    "hydra": "tab:red",
}
_LANE = re.compile(r" #\d+$")


def save(figure, path: str) -> None:
    """Write `figure` to `path` (its extension picks the format) and close it."""
    try:
        write_figure(figure, path)
    finally:
        plt.close(figure)


def write_figure(figure, path: str) -> None:
    """Write `figure` to `path`; a clear error if it cannot."""
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        figure.savefig(path, dpi=120, bbox_inches="tight", metadata=_metadata(path))
    except (OSError, ValueError) as error:
        raise FsedpError(f"cannot write {path}: {error}") from None


def _metadata(path: str) -> dict[str, Any]:
    # No creation date or software version in the file: the same data gives the same bytes.
    if path.endswith(".svg"):
        return {"Date": None, "Creator": None}
    if path.endswith(".png"):
        return {"Software": None}
    if path.endswith(".pdf"):
        return {"CreationDate": None, "Producer": None, "Creator": None}
    return {}


# -- the timeline of one run ---------------------------------------------------------------------


def timeline_rows(trace: dict[str, Any]) -> list[tuple[int, str, list[tuple[float, float]]]]:
    """(kind, track name, [(start µs, duration µs)]) per track, engines then DDR then links.
    The lanes the trace splits a link into (`link 0->1 #2`) are one row again."""
    names: dict[tuple[int, int], str] = {}
    for event in trace["traceEvents"]:
        if event["ph"] == "M" and event["name"] == "thread_name":
            names[(event["pid"], event["tid"])] = _LANE.sub("", event["args"]["name"])
    rows: dict[tuple[int, str], list[tuple[float, float]]] = {}
    order: dict[tuple[int, str], tuple[int, int]] = {}
    for event in trace["traceEvents"]:
        if event["ph"] != "X":
            continue
        key = (event["pid"], names[(event["pid"], event["tid"])])
        rows.setdefault(key, []).append((event["ts"], event["dur"]))
        order.setdefault(key, (event["pid"], event["tid"]))
    return [(pid, name, rows[(pid, name)]) for pid, name in sorted(rows, key=order.__getitem__)]


def timeline(trace: dict[str, Any], report: dict[str, Any], path: str) -> None:
    """Per-chiplet engine, DDR channel and link activity of one run, as a Gantt chart."""
    rows = timeline_rows(trace)
    if not rows:
        raise FsedpError("the run has no timed activity to plot")
    height = max(2.5, 0.22 * len(rows) + 1.2)
    figure, axes = plt.subplots(figsize=(11, height))
    for y, (kind, _, spans) in enumerate(rows):
        axes.broken_barh(spans, (y - 0.4, 0.8), facecolors=KIND_COLOURS[kind], linewidth=0)
    axes.set_yticks(range(len(rows)), [name for _, name, _ in rows], fontsize=7)
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_xlim(0, report["latency_us"])
    axes.set_xlabel("simulated time (µs)")
    workload = report.get("workload") or {}
    axes.set_title(
        f"{report.get('strategy') or 'programs'}: {workload.get('model', '')} "
        f"{workload.get('tokens', '')} tokens on {report['system']['name']} "
        f"({report['system']['mesh']}), latency {report['latency_us']:.1f} µs",
        fontsize=9,
    )
    handles = [plt.Rectangle((0, 0), 1, 1, color=KIND_COLOURS[k]) for k in KIND_NAMES]
    axes.legend(handles, KIND_NAMES.values(), loc="upper left", bbox_to_anchor=(1.005, 1),
                fontsize=7)  # fmt: skip
    axes.grid(axis="x", alpha=0.3)
    save(figure, path)


def paths_for(stem: str, formats: Sequence[str]) -> list[str]:
    return [f"{stem}.{fmt}" for fmt in formats]


def write_text(path: str, text: str) -> None:
    try:
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w") as stream:
            stream.write(text)
    except OSError as error:
        raise FsedpError(f"cannot write {path}: {error.strerror or error}") from None


# -- the study's figures -------------------------------------------------------------------------

# Case columns the figures place themselves: the mesh picks the file, model and tokens the bar
# group; any other varying column makes a panel of its own.
_MESH, _MODEL, _TOKENS = "config.mesh", "config.model", "config.tokens"
_SYSTEM = "config.system"
_SRAM = "config.sram_bytes"
HEATMAPS = (("config.slice_buffers", "config.ddr_gbps"), ("config.d2d_gbps", "config.ddr_gbps"))
_AXIS_NAMES = {
    "config.slice_buffers": "slice buffers",
    "config.ddr_gbps": "DDR GB/s per channel",
    "config.d2d_gbps": "D2D GB/s per link",
}


def study_figures(rows, folder: str, formats: Sequence[str], baseline: str) -> list[str]:
    """Every figure the results support, as `folder/NAME.FORMAT`; the paths written."""
    from fsedp_compiler.study.table import cases

    for fmt in formats:
        if fmt not in ("png", "svg", "pdf"):
            raise FsedpError(f"unknown figure format '{fmt}'; use png, svg or pdf")
    columns, strategies, found = cases(rows)
    written: list[str] = []

    def emit(figure, stem: str) -> None:
        for path in paths_for(os.path.join(folder, stem), formats):
            write_figure(figure, path)
            written.append(path)
        plt.close(figure)

    if _MODEL in columns or _TOKENS in columns:
        if baseline not in strategies:
            raise FsedpError(f"--baseline {baseline} is not a strategy of the results: "
                             + ", ".join(strategies))  # fmt: skip
        # The machine picks the file: its mesh, or its preset (which names the mesh).
        machine = next((c for c in (_MESH, _SYSTEM) if c in columns), _MESH)
        for mesh, subset in _split(found, columns, machine):
            for kind in ("speedup", "bound"):
                figure = _bars(subset, columns, strategies, baseline, mesh, kind, machine)
                emit(figure, f"{kind}_{mesh}")
    if _SRAM in columns:
        emit(_memory(found, columns, strategies), "memory")
    elif any(row.get("min_sram.trials") for row in rows):
        emit(_memory_trials(found, columns, strategies), "memory")
    for x, y in HEATMAPS:
        if x in columns and y in columns:
            emit(_heatmaps(found, columns, strategies, x, y), f"heatmap_{_stem(x)}_{_stem(y)}")
    if not written:
        raise FsedpError(
            "no figure fits these results: the figures need model or tokens, SRAM, or two of "
            "slice buffers, DDR and D2D bandwidth to vary"
        )
    return written


def _stem(column: str) -> str:
    return column.removeprefix("config.")


def _split(found, columns, column):
    """Cases grouped by one column's value (one group of all if it does not vary)."""
    if column not in columns:
        return [("all", found)]
    index = columns.index(column)
    groups: dict[Any, list] = {}
    for case in found:
        groups.setdefault(case.label[index], []).append(case)
    return list(groups.items())


def _panels(found, columns, placed: Sequence[str]):
    """Cases grouped by the varying columns a figure does not place itself."""
    rest = [i for i, c in enumerate(columns) if c not in placed]
    groups: dict[tuple, list] = {}
    for case in found:
        groups.setdefault(tuple(case.label[i] for i in rest), []).append(case)
    titles = [", ".join(f"{_stem(columns[i])}={v}" for i, v in zip(rest, key, strict=True))
              for key in groups]  # fmt: skip
    return list(zip(titles, groups.values(), strict=True))


def _group_label(case, columns) -> str:
    parts = [str(case.label[columns.index(c)]) for c in (_MODEL, _TOKENS) if c in columns]
    return "\n".join(parts)


def _bars(found, columns, strategies, baseline: str, mesh: str, kind: str, machine: str):
    """Grouped bars per model x tokens: speedup over `baseline`, or latency / bound."""
    import numpy as np

    panels = _panels(found, columns, (machine, _MODEL, _TOKENS))
    width = max(6.0, 0.22 * len(strategies) * len(panels[0][1]) + 2)
    figure, axes = plt.subplots(len(panels), 1, figsize=(width, 3.2 * len(panels)), squeeze=False)
    for ax, (title, cases_) in zip(axes[:, 0], panels, strict=True):
        x = np.arange(len(cases_))
        step = 0.8 / len(strategies)
        for k, strategy in enumerate(strategies):
            values = [_bar_value(case, strategy, baseline, kind) for case in cases_]
            heights = [v if v is not None else 0.0 for v in values]
            offset = x - 0.4 + step * (k + 0.5)
            ax.bar(offset, heights, step, label=strategy, color=STRATEGY_COLOURS.get(strategy))
            for xi, v in zip(offset, values, strict=True):
                if v is None:  # a failed or missing run: marked, never drawn as a number
                    ax.text(xi, 0.02, "x", ha="center", va="bottom", color="red", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xticks(x, [_group_label(case, columns) for case in cases_], fontsize=7)
        ylabel = f"speedup over {baseline}" if kind == "speedup" else "latency / workload bound"
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(str(mesh) + (f", {title}" if title else ""), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncols=len(strategies), loc="upper left")
    figure.tight_layout()
    return figure


def _bar_value(case, strategy: str, baseline: str, kind: str) -> float | None:
    row = case.best.get(strategy)
    if row is None:
        return None
    if kind == "bound":
        return row.get("latency_over_workload_lower_bound")
    base = case.best.get(baseline)
    return None if base is None else base["latency_cycles"] / row["latency_cycles"]


def _memory(found, columns, strategies):
    """Latency against SRAM per chiplet, a line per strategy, with the needed-SRAM point."""
    index = columns.index(_SRAM)
    placed = [c for c in columns if c != _SRAM]
    curves: dict[tuple, list] = {}
    for case in found:
        if case.label[index] is None:  # refused by the front end: no configuration to place
            continue
        key = tuple(v for i, v in enumerate(case.label) if i != index)
        curves.setdefault(key, []).append(case)
    count = len(curves)
    cols = min(count, 3)
    rows_ = -(-count // cols)
    figure, axes = plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.3 * rows_), squeeze=False)
    for ax, (key, cases_) in zip(axes.flat, curves.items(), strict=False):
        cases_ = sorted(cases_, key=lambda c: c.label[index])
        for strategy in strategies:
            points = [(c.label[index] / 2**20, c.best[strategy]["latency_us"])
                      for c in cases_ if c.best.get(strategy)]  # fmt: skip
            colour = STRATEGY_COLOURS.get(strategy)
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", markersize=3, label=strategy,
                        color=colour)  # fmt: skip
            need = _needed_point(cases_, strategy)
            if need is not None:
                ax.plot(*need, marker="*", markersize=11, color=colour, markeredgecolor="black")
        ax.set_xlabel("SRAM per chiplet (MiB)", fontsize=8)
        ax.set_ylabel("latency (µs)", fontsize=8)
        ax.set_title(", ".join(f"{_stem(c)}={v}" for c, v in zip(placed, key, strict=True)),
                     fontsize=8)  # fmt: skip
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    figure.suptitle("latency against SRAM; star: needed SRAM (within 5 % of the latency at the "
                    "largest SRAM)", fontsize=9)  # fmt: skip
    figure.tight_layout()
    return figure


def _memory_trials(found, columns, strategies):
    """The same figure from the needed-SRAM searches alone: each search's trials (SRAM,
    latency; slices pinned, docs/simulator.md) are a curve, its answer the star."""
    import json

    cols = min(len(found), 3)
    rows_ = -(-len(found) // cols)
    figure, axes = plt.subplots(rows_, cols, figsize=(4.2 * cols, 3.3 * rows_), squeeze=False)
    for ax, case in zip(axes.flat, found, strict=False):
        for strategy in strategies:
            row = case.best.get(strategy)
            if not row or not row.get("min_sram.trials"):
                continue
            us_per_cycle = row["latency_us"] / row["latency_cycles"]
            trials = sorted((t["sram_bytes"], t["latency_cycles"])
                            for t in json.loads(row["min_sram.trials"])
                            if t["latency_cycles"] is not None)  # fmt: skip
            colour = STRATEGY_COLOURS.get(strategy)
            ax.plot([b / 2**20 for b, _ in trials], [c * us_per_cycle for _, c in trials],
                    marker="o", markersize=3, label=strategy, color=colour)  # fmt: skip
            need = _needed_point([case], strategy)
            if need is not None:
                ax.plot(*need, marker="*", markersize=11, color=colour, markeredgecolor="black")
        ax.set_xlabel("SRAM per chiplet (MiB)", fontsize=8)
        ax.set_ylabel("latency (µs)", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(
            ", ".join(f"{_stem(c)}={v}" for c, v in zip(columns, case.label, strict=True)),
            fontsize=8,
        )
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(found) :]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    figure.suptitle(
        "latency against SRAM (the needed-SRAM search's trials, slices pinned); "
        "star: needed SRAM, within 5 % of the latency at the given SRAM",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def _needed_point(cases_, strategy: str) -> tuple[float, float] | None:
    """(MiB, µs) of the needed SRAM searched at the largest SRAM of the curve, if searched."""
    row = cases_[-1].best.get(strategy)
    if not row or row.get("min_sram.sram_bytes") is None:
        return None
    us_per_cycle = row["latency_us"] / row["latency_cycles"]
    return row["min_sram.sram_bytes"] / 2**20, row["min_sram.latency_cycles"] * us_per_cycle


def _heatmaps(found, columns, strategies, x_column: str, y_column: str):
    """Latency over two machine parameters, one panel per strategy (and other case)."""
    xi, yi = columns.index(x_column), columns.index(y_column)
    found = [case for case in found if None not in (case.label[xi], case.label[yi])]
    xs = sorted({case.label[xi] for case in found})
    ys = sorted({case.label[yi] for case in found})
    others = _panels(found, columns, (x_column, y_column))
    figure, axes = plt.subplots(len(others), len(strategies), squeeze=False,
                                figsize=(3.4 * len(strategies), 3.0 * len(others)))  # fmt: skip
    for r, (title, cases_) in enumerate(others):
        for c, strategy in enumerate(strategies):
            grid = [[None] * len(xs) for _ in ys]
            for case in cases_:
                row = case.best.get(strategy)
                if row:
                    grid[ys.index(case.label[yi])][xs.index(case.label[xi])] = row["latency_us"]
            _heatmap(axes[r, c], grid, xs, ys)
            axes[r, c].set_title(strategy + (f"\n{title}" if title else ""), fontsize=8)
            axes[r, c].set_xlabel(_AXIS_NAMES[x_column], fontsize=8)
            axes[r, c].set_ylabel(_AXIS_NAMES[y_column], fontsize=8)
    figure.suptitle("latency (µs); x: failed or missing run", fontsize=9)
    figure.tight_layout()
    return figure


def _heatmap(ax, grid, xs, ys) -> None:
    import numpy as np

    data = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    ax.imshow(data, origin="lower", aspect="auto", cmap="viridis_r")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs], fontsize=7)
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys], fontsize=7)
    for (i, j), value in np.ndenumerate(data):
        text = "x" if np.isnan(value) else f"{value:.0f}"
        ax.text(j, i, text, ha="center", va="center", fontsize=6, color="white")
