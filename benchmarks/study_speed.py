"""Per-run time inside a study worker (imports paid once): compile + simulate one layer.

    python benchmarks/study_speed.py                       # DeepSeek-MoE 256 tokens fsedp-paired
    python benchmarks/study_speed.py -D model=phi-3.5-moe -D workload.tokens=1024 --repeat 3

Runs `fsedp_compiler.study.run.run_task` (what a Dask worker runs) `--repeat` times in this
process after one warm-up, and prints the median wall and CPU seconds. CPU time is what to
compare on a busy machine; wall time is what a user waits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = """system paper-2x2
model deepseek-moe-16b
workload { tokens = 256  routing = zipf(s = 0.8, seed = 7) }
strategy fsedp-paired
"""


def main() -> None:
    from fsedp_compiler.study.run import Task, run_task

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-D", dest="define", action="append", default=[])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    task = Task(0, BASE, "bench.moe", tuple(args.define))
    run_task(task)  # warm-up: imports and caches, as a worker's first run
    outcomes = [run_task(task) for _ in range(args.repeat)]
    if any(o.status != "ok" for o in outcomes):
        sys.exit(f"failed: {outcomes[0].error}")
    wall = statistics.median(o.seconds for o in outcomes)
    cpu = statistics.median(o.cpu_seconds for o in outcomes)
    print(f"median of {args.repeat}: wall {wall:.3f} s, cpu {cpu:.3f} s per compile + simulate")


if __name__ == "__main__":
    main()
