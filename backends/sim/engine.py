"""The event-driven engine: runs a `FlatProgram` and returns what happened, in cycles.

Time jumps from event to event (a heap ordered by (time, sequence number), so equal times are
served first-come first-served and every run is deterministic). Three kinds of event exist: an
engine op finishes, a flow's last byte leaves its source, a flow's last byte arrives.

The model (docs/simulator.md says it in full):

- Each program issues in order. `alloc`, `input` and `output` take no time (`output` completes
  once the last earlier writer of its buffer has); `free` holds issue until every earlier use of
  its buffer has finished; `barrier` holds issue until every program has reached it; `end` stops
  issue. Async instructions (`load`, `send`, `recv`, `gemm`, `accumulate`) start once issued,
  once the earlier instructions they depend on (`FlatProgram.deps`) have finished, and once their
  unit is free.
- `gemm`/`accumulate`: one at a time per chiplet, in program order, `ops / ops_per_cycle` cycles.
- `load`: each DDR channel serves its loads one at a time in `seq` order. The bytes flow from
  the channel through the mesh links from the channel's chiplet to the loading chiplet.
- `send`/`recv`: the transfer starts when the send's data is ready and the receiver has posted
  the recv (its credit). The send finishes when its last byte leaves, the recv when it arrives.
- Flows (loads and transfers) are fluid and cut-through: a flow holds every resource of its path
  (its DDR channel, if any, and its XY links) at once, at rate `min over its resources of
  capacity / flows on it`, recomputed whenever a flow starts or ends on a shared resource. The
  last byte arrives `hop_latency` cycles per link after it leaves.

The event loop itself is `backends/sim/loop.py` (compiled with mypyc when installed). It only
moves time: SRAM peaks and averages come afterwards from the times the ALLOC and
FREE instructions took effect (`_sram_stats`), bytes per resource from the static flow paths
(`FlatProgram.traffic`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from backends.sim.program import FlatProgram, SimError
from dialects.cisa_opcodes import ACC, BARRIER, FREE, GEMM, LOAD, RECV, SEND


def pure_python_requested() -> bool:
    return os.environ.get("FSEDP_PURE_PYTHON", "") not in ("", "0")


def loop_source() -> ModuleType:
    """`backends/sim/loop.py` run as plain Python, even where a compiled module exists."""
    name = "backends.sim._loop_source"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("loop.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _import_installed() -> ModuleType | None:
    """`backends.sim.loop` as installed (compiled where it was), or None, with a warning, when
    the compiled module cannot be loaded (say, a librt upgrade changed the ABI it was built
    against): the source still can."""
    try:
        return importlib.import_module("backends.sim.loop")
    except (ImportError, ValueError) as error:
        warnings.warn(
            f"the simulator's compiled event loop cannot be loaded ({error}); running it as "
            "plain Python (slower). Reinstall (pip install -e .) to compile it again.",
            stacklevel=2,
        )
        return None


_loop = _import_installed()


def _loop_module() -> ModuleType:
    """The event loop to run: the mypyc-compiled module if there is one, it loads and it was
    built from the current sources; otherwise the source (with a warning when the compiled
    module is stale or does not load). `FSEDP_PURE_PYTHON=1` asks for the source (for
    debugging: tracebacks, pdb)."""
    if _loop is None:
        return loop_source()
    if not _compiled(_loop):
        return _loop
    if pure_python_requested():
        return loop_source()
    stale = _stale_sources()
    if stale:
        warnings.warn(
            f"{', '.join(stale)} changed after the simulator's event loop was compiled; running "
            "it as plain Python (slower). Reinstall (pip install -e .) to compile it again.",
            stacklevel=2,
        )
        return loop_source()
    return _loop


def _compiled(module: ModuleType) -> bool:
    return not module.__file__.endswith(".py")


def _stale_sources() -> list[str]:
    """The files the compiled loop was built from (setup.py's stamp) that differ now; the loop
    itself if there is no stamp."""
    try:
        from backends.sim._loop_stamp import SOURCES
    except ImportError:
        return ["backends/sim/loop.py"]
    root = Path(__file__).resolve().parents[2]
    return [
        path
        for path, digest in SOURCES.items()
        if hashlib.sha256((root / path).read_bytes()).hexdigest() != digest
    ]


_LOOP = _loop_module()
Loop = _LOOP.Loop
LOOP_COMPILED = _compiled(_LOOP)  # reported by fsedp-sim --version


@dataclass
class RunResult:
    """What the engine measured. Lists are indexed by program (chiplet order), channel or
    resource (DDR channels, then links, as `Machine` numbers them)."""

    latency: float
    finish: list[float]  # per program: completion of its last instruction
    resource_busy: list[float]  # cycles with at least one flow on the resource
    sram_peak: list[int]
    sram_peak_weight: list[int]
    sram_peak_act: list[int]
    sram_avg_weight: list[float]
    sram_avg_act: list[float]
    order: list[int] | None  # with record_order: the order data effects apply in (numerics)
    spans: list[tuple[int, int, float, float, int]] = field(default_factory=list)
    # spans: (track kind 0 engine / 1 resource, track index, start, end, instruction)


def run(
    flat: FlatProgram,
    *,
    trace: bool = False,
    record_order: bool = False,
    pure_python: bool = False,
) -> RunResult:
    """Run the programs to completion (or deadlock) and measure. `trace` records the spans of
    the timeline, `record_order` the order data effects apply in (for the numerics check);
    `pure_python` runs the loop's source even where it is compiled (tests, benchmarks)."""
    m = flat.machine
    loop = (loop_source().Loop if pure_python else Loop)(
        flat.op,
        flat.prog,
        flat.nbytes,
        flat.arg,
        flat.pair,
        flat.dependents.flat,
        flat.dependents.at,
        flat.npend,
        flat.start,
        flat.engine_queue,
        flat.channel_queue,
        flat.path,
        flat.solo_rate,
        flat.flow_latency,
        m.capacities(),
        float(m.ops_per_cycle),
        trace,
        record_order,
    )
    loop.run()
    fin = np.frombuffer(loop.fin, dtype=np.float64)  # a view of the loop's packed floats
    starts = flat.start
    sram = _sram_stats(flat, fin)  # raises on an overflow, before any deadlock
    if (fin < 0.0).any():  # an instruction never finished
        raise SimError(_deadlock_message(flat, loop))
    finish = np.maximum.reduceat(fin, starts).tolist()
    latency = max(finish)
    peak, peak_w, peak_a, int_w, int_a = sram(latency)
    avg = (lambda x: x / latency) if latency > 0 else (lambda x: 0.0)
    return RunResult(
        latency=latency,
        finish=finish,
        resource_busy=list(loop.res_busy),
        sram_peak=peak,
        sram_peak_weight=peak_w,
        sram_peak_act=peak_a,
        sram_avg_weight=[avg(x) for x in int_w],
        sram_avg_act=[avg(x) for x in int_a],
        order=loop.order if record_order else None,
        spans=loop.spans,
    )


def _deadlock_message(flat: FlatProgram, loop) -> str:
    fin, pc = loop.fin, loop.pc
    ends = flat.start[1:] + [len(fin)]
    lines = [
        f"deadlock at cycle {loop.now:g}: nothing left to happen, but some chiplets have not "
        "finished"
    ]
    for p, chiplet in enumerate(flat.chiplet):
        first = next((i for i in range(flat.start[p], ends[p]) if fin[i] < 0.0), None)
        if first is None:
            continue
        if pc[p] < ends[p] and pc[p] <= first:
            first = pc[p]
        why = _why_blocked(flat, loop, first)
        lines.append(f"  chiplet {chiplet}: blocked at {flat.describe(first)}: {why}")
    return "\n".join(lines)


def _why_blocked(flat: FlatProgram, loop, i: int) -> str:
    code = flat.op[i]
    p = flat.prog[i]
    waiting = [d for d in flat.deps[i] if loop.fin[d] < 0.0]
    if code == BARRIER:
        return "waits for the other chiplets to reach this barrier"
    if code == FREE:
        return f"waits for an earlier use of the buffer: {flat.describe(waiting[0])}"
    if i >= loop.pc[p]:
        return "not issued yet"
    if loop.npend[i]:
        return f"waits for its input from {flat.describe(waiting[0])}"
    if code in (SEND, RECV):
        other = flat.pair[i]
        peer = flat.chiplet[flat.prog[other]]
        if code == SEND:
            return f"waits for chiplet {peer} to post the matching {flat.describe(other)}"
        return f"posted; waits for chiplet {peer} to send {flat.describe(other)}"
    if code == LOAD:
        channel = flat.arg[i]
        head = loop.ch_q[loop.ch_ptr[channel]]
        owner = flat.chiplet[flat.prog[head]]
        return (
            f"waits for DDR channel {channel}, whose next load in seq order is "
            f"{flat.describe(head)} on chiplet {owner}"
        )
    if code in (GEMM, ACC):
        return "waits for the matrix engine, busy with an earlier engine op in program order"
    return "waits"


def _sram_stats(flat: FlatProgram, fin: np.ndarray):
    """Per program: peak bytes (total, weight, act) and time integrals of weight and act bytes
    over [0, latency], from the times its ALLOC and FREE instructions took effect (`fin`; a
    program issues them in program order, so the ones that issued are a prefix of
    `FlatProgram.sram_ops`). Returns a function of the latency; raises SimError at the first
    SRAM overflow."""
    capacity = flat.machine.sram_bytes
    per_prog = []
    for p, ids in enumerate(flat.sram_ops):
        times = fin[ids]
        unissued = np.flatnonzero(times < 0.0)
        issued = int(unissued[0]) if len(unissued) else len(ids)
        times, delta = times[:issued], flat.sram_delta[p][:issued]
        is_weight = flat.sram_weight[p][:issued]
        weight = np.cumsum(np.where(is_weight, delta, 0))
        act = np.cumsum(np.where(is_weight, 0, delta))
        total = weight + act
        over = np.flatnonzero(total > capacity)
        if len(over):
            k = int(over[0])
            i = ids[k]
            raise SimError(
                f"chiplet {flat.chiplet[p]}: SRAM overflow at cycle {fin[i]:g}: "
                f"{flat.describe(i)} allocates {int(delta[k])} bytes, bringing the chiplet's "
                f"SRAM in use to {int(total[k])} bytes, above sram_bytes {capacity} "
                f"({int(weight[k])} weight, {int(act[k])} act)"
            )
        per_prog.append((times, weight, act, total))

    def stats(latency: float):
        out = []
        for t, weight, act, total in per_prog:
            dt = np.diff(np.append(t, latency))
            out.append(
                (
                    int(total.max(initial=0)),
                    int(weight.max(initial=0)),
                    int(act.max(initial=0)),
                    float(weight @ dt),
                    float(act @ dt),
                )
            )
        return [list(column) for column in zip(*out, strict=True)]

    return stats
