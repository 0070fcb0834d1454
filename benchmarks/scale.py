"""Scale and start-up: the program model's targets, measured as a user runs the tools.

    python benchmarks/scale.py                 # everything below
    python benchmarks/scale.py --only v3       # one part: v3, inprocess, process, mypyc

- v3: `fsedp-sim --strategy S` on DeepSeek-V3 (256 experts, top-8), 1024 tokens, an 8x8 mesh
  (paper-4x4 scaled to 8x8, DDR channels at the four corners), Zipf 0.8: wall time and peak
  resident memory of the whole process (target for fsedp-paired: < 20 s, < 1 GiB);
- inprocess: DeepSeek-MoE 256 tokens (examples/deepseek_moe_256.moe), fsedp-paired, compile +
  simulate in one process after imports, as fsedp-sim does it (target <= 0.2 s);
- process: `fsedp-sim examples/deepseek_moe_256.moe -q`, the whole process (target < 0.6 s);
- mypyc: `fsedp-sim -q` on every shipped example with the compiled event loop and with its
  Python source (FSEDP_PURE_PYTHON=1), alternately (the loop stays only if >= 1.3x).

Medians of `--repeat` runs; the machine is shared and noisy, so read ratios of runs made side
by side rather than absolute times.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
V3 = """system paper-4x4 { rows = 8 cols = 8 ddr = [51.2 at 0, 51.2 at 7, 51.2 at 56, 51.2 at 63] }
model deepseek-v3
workload { tokens = 1024 routing = zipf(s = 0.8, seed = 7) }
"""


def _process(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(args, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def v3(repeat: int, strategies: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deepseek_v3_1024_8x8.moe"
        path.write_text(V3)
        print("DeepSeek-V3, 1024 tokens, 8x8: fsedp-sim whole process")
        for strategy in strategies:
            # a fresh interpreter per run so that each peak is that run's
            runs = [
                _child_peak(["fsedp-sim", str(path), "--strategy", strategy, "-q"])
                for _ in range(repeat)
            ]
            walls, peaks = zip(*runs, strict=True)
            print(
                f"  {strategy:13s} wall median {statistics.median(walls):6.1f} s "
                f"(runs {', '.join(f'{w:.1f}' for w in walls)}), "
                f"peak RSS median {statistics.median(peaks):6.0f} MiB"
            )


def _child_peak(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run, measured by /usr/bin/time-like rusage of a
    wrapper process (RUSAGE_CHILDREN keeps the largest child so far, so each run is wrapped)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "w = time.perf_counter() - t; "
        "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1])


def inprocess(repeat: int) -> None:
    sys.path.insert(0, str(ROOT))
    from backends.sim import simulate
    from fsedp_compiler.sim_cli import load_module

    path = str(ROOT / "examples" / "deepseek_moe_256.moe")
    simulate(load_module(path, "fsedp-paired"))  # imports and first-use caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        simulate(load_module(path, "fsedp-paired", verify_ir=False))
        times.append(time.perf_counter() - start)
    print(
        f"DeepSeek-MoE 256, fsedp-paired, compile + simulate in process: median "
        f"{statistics.median(times):.3f} s (min {min(times):.3f}, {repeat} runs)"
    )


def process(repeat: int) -> None:
    args = ["fsedp-sim", "examples/deepseek_moe_256.moe", "-q"]
    walls = [_process(args)[0] for _ in range(repeat)]
    print(f"fsedp-sim examples/deepseek_moe_256.moe -q: median {statistics.median(walls):.2f} s")
    for flag in ("--help", "--version"):
        for tool in ("fsedp-opt", "fsedp-sim"):
            walls = [_process([tool, flag])[0] for _ in range(repeat)]
            print(f"{tool} {flag}: median {statistics.median(walls):.2f} s")


def mypyc(repeat: int) -> None:
    print("fsedp-sim -q per shipped example: compiled loop vs its Python source (alternating)")
    pure = dict(os.environ, FSEDP_PURE_PYTHON="1")
    for example in sorted((ROOT / "examples").glob("*.moe")):
        args = ["fsedp-sim", str(example), "-q"]
        compiled, source = [], []
        for _ in range(repeat):
            compiled.append(_process(args)[0])
            source.append(_process(args, env=pure)[0])
        c, s = statistics.median(compiled), statistics.median(source)
        print(f"  {example.name:32s} compiled {c:6.2f} s  source {s:6.2f} s  ratio {s / c:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("v3", "inprocess", "process", "mypyc"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--strategies", default="fsedp-paired,fsedp,ep,hydra")
    options = parser.parse_args()
    parts = {
        "v3": lambda: v3(max(1, options.repeat // 2), options.strategies.split(",")),
        "inprocess": lambda: inprocess(options.repeat * 2),
        "process": lambda: process(options.repeat),
        "mypyc": lambda: mypyc(options.repeat),
    }
    for name, part in parts.items():
        if options.only in (None, name):
            part()


if __name__ == "__main__":
    main()
