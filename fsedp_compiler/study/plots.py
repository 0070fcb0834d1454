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
    """Write `figure` to `path` (its extension picks the format); a clear error if it cannot."""
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        figure.savefig(path, dpi=120, bbox_inches="tight", metadata=_metadata(path))
    except (OSError, ValueError) as error:
        raise FsedpError(f"cannot write {path}: {error}") from None
    finally:
        plt.close(figure)


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
