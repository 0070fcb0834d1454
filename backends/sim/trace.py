"""Chrome trace-event JSON of a run, for Perfetto (ui.perfetto.dev) or chrome://tracing.

Three processes: "chiplet engines" (one track per chiplet's matrix engine), "DDR channels" (one
track per channel: the loads it serves) and "D2D links" (one track per directed link: the
transfers and loads crossing it). Overlapping flows on a link go to extra lanes of that link
(`link 0->1 #2`), since slices on one track must nest. Times are in µs of simulated time.
"""

from __future__ import annotations

from typing import Any

from backends.sim.engine import RunResult
from backends.sim.program import FlatProgram
from dialects.cisa_model import MNEMONIC
from dialects.cisa_opcodes import ACC, GEMM, LOAD, SEND

_ENGINES, _DDR, _LINKS = 0, 1, 2


def _label(flat: FlatProgram, i: int) -> str:
    code = flat.op[i]

    def prop(name: str) -> int:
        return flat.field(i, name)

    if code == GEMM:
        tokens = len(flat.code.tokens[i])
        return f"gemm e{prop('expert')} s{prop('slice')}/{prop('of')} x{tokens}"
    if code == LOAD:
        return f"load e{prop('expert')} s{prop('slice')}/{prop('of')}"
    if code == SEND:
        src = flat.chiplet[flat.prog[i]]
        return f"send {src}->{prop('to')} tag {prop('tag')}"
    if code == ACC:
        return "accumulate"
    return MNEMONIC[code]


def chrome_trace(flat: FlatProgram, result: RunResult) -> dict[str, Any]:
    m = flat.machine
    us = 1.0 / (m.clock_ghz * 1e3)
    events: list[dict[str, Any]] = []

    def meta(pid: int, tid: int | None, name: str) -> None:
        kind = "process_name" if tid is None else "thread_name"
        event: dict[str, Any] = {"ph": "M", "pid": pid, "name": kind, "args": {"name": name}}
        if tid is not None:
            event["tid"] = tid
            events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_sort_index",
                           "args": {"sort_index": tid}})  # fmt: skip
        events.append(event)

    meta(_ENGINES, None, "chiplet engines")
    meta(_DDR, None, "DDR channels")
    meta(_LINKS, None, "D2D links")
    for p, chiplet in enumerate(flat.chiplet):
        meta(_ENGINES, p, f"chiplet {chiplet} engine")
    for ch in range(m.num_channels):
        meta(_DDR, ch, f"ddr{ch} (at chiplet {m.ddr_chiplets[ch]})")

    lanes: dict[int, list[float]] = {}  # link resource -> end time of each lane
    link_names: dict[tuple[int, int], int] = {}
    spans = sorted(result.spans, key=lambda s: (s[0], s[1], s[2], s[3], s[4]))
    for kind, track, start, end, i in spans:
        if kind == 0:
            pid, tid = _ENGINES, track
        elif track < m.num_channels:
            pid, tid = _DDR, track
        else:
            ends = lanes.setdefault(track, [])
            lane = next((k for k, e in enumerate(ends) if e <= start), len(ends))
            if lane == len(ends):
                ends.append(end)
            else:
                ends[lane] = end
            pid, tid = _LINKS, (track - m.num_channels) * 1000 + lane
            if (track, lane) not in link_names:
                link_names[(track, lane)] = tid
                name = m.resource_name(track) + (f" #{lane + 1}" if lane else "")
                meta(_LINKS, tid, name)
        events.append(
            {
                "ph": "X",
                "pid": pid,
                "tid": tid,
                "ts": start * us,
                "dur": (end - start) * us,
                "name": _label(flat, i),
                "args": {"chiplet": flat.chiplet[flat.prog[i]], "instruction": flat.describe(i)},
            }
        )
    return {"traceEvents": events, "displayTimeUnit": "ns"}
