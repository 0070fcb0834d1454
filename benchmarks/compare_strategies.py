"""Compare the four strategies on the study's models: latency, speedups, distance to the bound.

    python benchmarks/compare_strategies.py            # 4 models x {64, 256} tokens
    python benchmarks/compare_strategies.py --check    # also run the numerics check

Every case is paper-2x2 with Zipf(s = 1.2) routing, seed 7 (change with --zipf-s / --seed).
Columns: latency (µs), speedup over EP and over Hydra (their latency / this latency), latency /
workload lower bound (the strategy-independent bound: used expert weights over all DDR
bandwidth, or the layer's ops over all engines), latency / the program's own lower bound, mean
compute utilization and peak SRAM per chiplet (KiB).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim_speed import MODELS, STRATEGIES, TOKENS  # noqa: E402

from backends.sim import simulate  # noqa: E402
from backends.sim.testing import workload_module  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zipf-s", type=float, default=1.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="run the numerics check too")
    args = parser.parse_args()
    from fsedp_compiler.pipelines import compile_module

    print(
        "| model | tokens | strategy | latency us | vs EP | vs Hydra | / workload bound | "
        "/ program bound | mean util | peak SRAM KiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for model in MODELS:
        for tokens in TOKENS:
            reports = {}
            for strategy in STRATEGIES:
                module = workload_module(
                    model, tokens, zipf_s=args.zipf_s, seed=args.seed, strategy=strategy
                )
                module = compile_module(module, strategy=strategy) or module
                reports[strategy] = simulate(module, check_numerics=args.check).report
            ep, hydra = reports["ep"]["latency_us"], reports["hydra"]["latency_us"]
            for strategy, r in reports.items():
                latency = r["latency_us"]
                print(
                    f"| {model} | {tokens} | {strategy} | {latency:.1f} | {ep / latency:.2f} | "
                    f"{hydra / latency:.2f} | {r['latency_over_workload_lower_bound']:.2f} | "
                    f"{r['latency_over_lower_bound']:.2f} | "
                    f"{100 * r['mean_compute_utilization']:.1f}% | "
                    f"{r['peak_sram_bytes'] / 1024:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
