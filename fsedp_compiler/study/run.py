"""One run of a study: a `.moe` text and its `-D` overrides, compiled and simulated.

The client (`prepare`) runs the front end once per run to get its canonical input: the IR text
after the front end, which with the options and the tool version is the run's cache key, and
the configuration the results report (also for a run that fails). A worker (`run_task`) does
the same front end again (cheap and deterministic), compiles, simulates and returns the
simulator's JSON report, or the error. Nothing here prints; a failure is data, never a number.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fsedp_compiler.errors import FsedpError

OK, FAILED = "ok", "failed"


@dataclass(frozen=True)
class Task:
    """What a worker needs for one run (pickled to it)."""

    index: int
    moe_text: str
    moe_name: str
    defines: tuple[str, ...]
    min_sram: bool = False
    key: str = ""
    cost: float = 0.0  # a guess of the run's time, to start the longest first


@dataclass
class Outcome:
    """What a run gives: the simulator's report, or its error. `cacheable` is False for
    errors that are not the input's (a bug, a lost worker), which a re-run should retry."""

    status: str
    error: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # wall time in the worker
    cpu_seconds: float = 0.0  # CPU time of the worker process: robust to a busy machine
    cacheable: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "report": self.report,
                "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(data["status"], data["error"], data["report"], data["seconds"],
                   data.get("cpu_seconds", 0.0))  # fmt: skip


def front_end(task: Task):
    """The run's resolved program (`frontend.MoeProgram`): the base text with its -D."""
    from fsedp_compiler.frontend import parse_moe
    from fsedp_compiler.overrides import parse_override

    try:
        overrides = [parse_override(text) for text in task.defines]
    except ValueError as error:
        raise FsedpError(str(error)) from None
    return parse_moe(task.moe_text, task.moe_name, overrides)


def compile_for_simulator(module):
    """Compile a moe-level module to cisa programs, with its recorded strategy and options,
    as `fsedp-sim` does (the one place a study compiles)."""
    from fsedp_compiler.pipelines import compile_if_needed

    return compile_if_needed(module, verify_ir=False, execution_check=False)


def ir_text(module) -> str:
    """The module as MLIR text: the canonical form of a run's input."""
    from xdsl.printer import Printer

    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue()


def cache_key(ir: str, min_sram: bool, tool: str) -> str:
    """sha256 of the canonical input: IR after the front end, the run's options, the tool."""
    canonical = json.dumps({"ir": ir, "min_sram": min_sram, "tool": tool}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_of(program) -> dict[str, Any]:
    """The run's full configuration, from the front end (so a failed run has it too)."""
    system, model = program.system, program.model
    return {
        "system": system.name,
        "mesh": f"{system.rows}x{system.cols}",
        "topology": system.topology,
        "sram_bytes": system.sram_bytes,
        "ddr_channels": len(system.ddr),
        "ddr_gbps": max(channel.gbps for channel in system.ddr),
        "ddr_total_gbps": round(sum(channel.gbps for channel in system.ddr), 6),
        "d2d_gbps": system.d2d_gbps,
        "slice_buffers": system.slice_buffers,
        "hop_latency_cycles": system.hop_latency_cycles,
        "model": model.name,
        "hidden": model.hidden,
        "ffn": model.ffn,
        "experts": model.experts,
        "shared": model.shared,
        "top_k": model.top_k,
        "tokens": int(program.routing.shape[0]),
        "routing": program.routing_source,
        "strategy": program.strategy,
        "options": json.dumps(program.strategy_options, sort_keys=True),
    }


def run_task(task: Task) -> Outcome:
    """Compile and simulate one run (in a worker); every error is returned, not raised."""
    start, cpu = time.perf_counter(), time.process_time()
    try:
        outcome = Outcome(OK, report=_simulate(task))
    except FsedpError as error:
        outcome = Outcome(FAILED, _one_line(error))
    except Exception as error:  # noqa: BLE001 - a bug: recorded, said as such, not cached
        message = f"internal error: {type(error).__name__}: {error}"
        outcome = Outcome(FAILED, message, cacheable=False)
    outcome.seconds = time.perf_counter() - start
    outcome.cpu_seconds = time.process_time() - cpu
    return outcome


def _simulate(task: Task) -> dict[str, Any]:
    from backends.sim import simulate
    from fsedp_compiler.frontend import build_module

    module = build_module(front_end(task))
    need = None
    if task.min_sram:
        from fsedp_compiler.sram import least_sram

        need = least_sram(module, None)
    report = simulate(compile_for_simulator(module)).report
    if need is not None:
        report["min_sram"] = need.report()
    return report


def _one_line(error: FsedpError) -> str:
    """The error without the quoted source line and caret (a results cell is one line)."""
    return error.format().splitlines()[0].removeprefix("error: ")
