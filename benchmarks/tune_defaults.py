"""How the pipelines' default options were chosen: a staged grid search per strategy.

    python benchmarks/tune_defaults.py                      # every strategy, every stage
    python benchmarks/tune_defaults.py --strategies ep      # one strategy
    python benchmarks/tune_defaults.py --quick              # 2x2 only, 64 and 256 tokens

Cases: the study's four models (DeepSeek-MoE-16B, Qwen3-30B-A3B, Phi-3.5-MoE, Yuan2.0-M32) x
{16, 64, 256, 1024} tokens x {paper-2x2, paper-4x4}, Zipf(0.8) routing, seed 7: 32 layers.
Score of a configuration: the geometric mean over the cases of latency / workload lower bound
(the strategy-independent bound), and its worst case. Every strategy is searched the same way,
with the same budget: stage 1 varies the options that order and deal the loads (`order`,
`mode`), stage 2 the slicing and buffering (`min-slices`, `slice-buffers`) at stage 1's best,
stage 3 the trajectories (`shape`, `entry`) at stage 2's best. Options that define a strategy
are not searched: plain `fsedp` keeps `order=id mode=per-expert` (the ablation of paired
loading), `fsedp-paired` keeps `order=paired`, EP keeps round-robin placement, Hydra its
placement. A configuration that fails to compile on a case scores that case as missing and is
listed; it never gets a made-up number.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("deepseek-moe-16b", "qwen3-30b-a3b", "phi-3.5-moe", "yuan2.0-m32")

# The stages live with `fsedp-study tune`, which searches per workload the same way.
from fsedp_compiler.study.tune import STAGES  # noqa: E402


def run_case(job: tuple[str, int, str, str, tuple]) -> tuple[tuple, float | None, str]:
    """latency / workload bound of one compiled and simulated layer, or None and the error."""
    model, tokens, system, strategy, options = job
    from backends.sim import simulate
    from fsedp_compiler.errors import FsedpError
    from fsedp_compiler.pipelines import compile_module
    from fsedp_compiler.testing import workload_module

    module = workload_module(model, tokens, system=system, zipf_s=0.8, seed=7)
    try:
        compile_module(module, strategy, dict(options), verify_ir=False)
        report = simulate(module).report
    except FsedpError as error:
        return job, None, str(error).splitlines()[0]
    return job, report["latency_over_workload_lower_bound"], ""


def score(values: list[float | None]) -> tuple[float, float, int]:
    ok = [v for v in values if v is not None]
    if not ok:
        return math.inf, math.inf, len(values)
    return math.exp(sum(map(math.log, ok)) / len(ok)), max(ok), len(values) - len(ok)


def search(pool: Pool, strategy: str, cases: list[tuple[str, int, str]]) -> dict[str, object]:
    best: dict[str, object] = {}
    for number, stage in enumerate(STAGES[strategy], 1):
        names = list(stage)
        configs = [
            dict(zip(names, values, strict=True)) for values in itertools.product(*stage.values())
        ]
        jobs = [
            (*case, strategy, tuple(sorted({**best, **config}.items())))
            for config in configs
            for case in cases
        ]
        results: dict[tuple, list[float | None]] = {}
        errors: dict[tuple, str] = {}
        for job, value, error in pool.imap(run_case, jobs, chunksize=4):
            results.setdefault(job[4], []).append(value)
            if error:
                errors.setdefault(job[4], error)
        print(f"\n{strategy}, stage {number}: {', '.join(names)} (at {best or 'defaults'})")
        print("| options | geomean latency/bound | worst | failed |")
        print("|---|---|---|---|")
        ranked = sorted(results, key=lambda key: score(results[key])[:2])
        for key in ranked:
            geomean, worst, failed = score(results[key])
            shown = " ".join(f"{k}={v}" for k, v in key if k in names)
            print(f"| {shown} | {geomean:.4f} | {worst:.3f} | {failed} |")
        for key, error in errors.items():
            shown = " ".join(f"{k}={v}" for k, v in key if k in names)
            print(f"  {shown}: first failure: {error}")
        best = dict(ranked[0])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", default=",".join(STAGES))
    parser.add_argument("--quick", action="store_true", help="paper-2x2, 64 and 256 tokens")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    systems = ("paper-2x2",) if args.quick else ("paper-2x2", "paper-4x4")
    tokens = (64, 256) if args.quick else (16, 64, 256, 1024)
    cases = [(m, t, s) for s in systems for m in MODELS for t in tokens]
    with Pool(args.workers) as pool:
        for strategy in args.strategies.split(","):
            best = search(pool, strategy, cases)
            print(f"\n{strategy}: best {best}")


if __name__ == "__main__":
    main()
