"""Compile-time benchmark of the compiler (not a timed test).

For each case: parse the `.moe` example (front end), then `compile_module` (every pass of the
strategy's pipeline including `verify-programs` and xDSL verification); the median of N runs of
the whole thing, with the per-pass split of the median run.

    python benchmarks/compile_time.py                 # the two issue-3 cases, median of 3
    python benchmarks/compile_time.py --repeat 5 --all-strategies

Targets (issue 3): DeepSeek-MoE-16B, 256 tokens, paper-2x2, fsedp-paired under 5 s; Qwen3-30B-A3B,
1024 tokens, paper-4x4 under 60 s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xdsl.context import Context  # noqa: E402

from dialects import cisa  # noqa: E402
from fsedp_compiler.frontend import build_module, parse_moe  # noqa: E402
from fsedp_compiler.perf import paused_gc  # noqa: E402
from fsedp_compiler.pipelines import PIPELINES, changes_ir, pipeline_passes  # noqa: E402

CASES = [
    ("DeepSeek-MoE-16B 256 tok paper-2x2", "examples/deepseek_moe_256.moe", 5.0),
    ("Qwen3-30B-A3B 1024 tok paper-4x4", "examples/qwen3_30b_a3b_1024_4x4.moe", 60.0),
]


def compile_once(path: Path, strategy: str) -> tuple[float, dict[str, float], int]:
    """Seconds for front end + pipeline, seconds per step, instructions produced: the same work
    as `compile_module`, with each pass and each xDSL verification timed."""
    steps: dict[str, float] = {}
    start = time.perf_counter()
    module = build_module(parse_moe(path.read_text(), str(path)))
    steps["front end"] = time.perf_counter() - start
    ctx = Context()
    with paused_gc():  # as compile_module does
        for p in pipeline_passes(strategy):
            began = time.perf_counter()
            p.apply(ctx, module)
            steps[p.name] = time.perf_counter() - began
            if changes_ir(p):  # as run_passes does
                began = time.perf_counter()
                module.verify()
                steps["xdsl verify"] = steps.get("xdsl verify", 0.0) + time.perf_counter() - began
    total = time.perf_counter() - start
    count = sum(len(program) for program in cisa.programs_of(module).values())
    return total, steps, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--all-strategies", action="store_true")
    args = parser.parse_args()
    strategies = list(PIPELINES) if args.all_strategies else ["fsedp-paired"]
    for label, relative, target in CASES:
        for strategy in strategies:
            runs = [compile_once(ROOT / relative, strategy) for _ in range(args.repeat)]
            runs.sort(key=lambda run: run[0])
            median, steps, count = runs[len(runs) // 2]
            verdict = "ok" if median < target else "OVER TARGET"
            times = ", ".join(f"{r[0]:.2f}" for r in runs)
            print(
                f"{label:36} {strategy:13} median {median:6.2f} s of [{times}]  "
                f"target < {target:.0f} s {verdict}  ({count} instructions)"
            )
            split = ", ".join(f"{name} {seconds:.2f}" for name, seconds in steps.items())
            print(f"    {split}")


if __name__ == "__main__":
    main()
