"""Compare the four strategies on the study's models: distance to the bound, speedup, SRAM.

    python benchmarks/compare_strategies.py                    # 4 models x 4 lengths x 2 meshes
    python benchmarks/compare_strategies.py --quick            # paper-2x2, 64 and 256 tokens
    python benchmarks/compare_strategies.py --min-sram         # also the SRAM each one needs
    python benchmarks/compare_strategies.py --routing dirichlet --param 0.3

Every case is one MoE layer with seeded synthetic routing (Zipf s = 0.8 by default, seed 7),
compiled with each strategy's default options and simulated. Columns: latency / workload lower
bound for each strategy (the strategy-independent bound: used expert weights over all DDR
bandwidth, or the layer's ops over all engines); the speedup of `fsedp-paired` over the better
of EP and Hydra (their latency / its latency); and with --min-sram the least SRAM per chiplet
at which `fsedp-paired` and that baseline stay within 5 % of their latency at the given SRAM
(`fsedp_compiler.sram`), and their ratio. A run that fails shows its error instead of a number.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = ("deepseek-moe-16b", "qwen3-30b-a3b", "phi-3.5-moe", "yuan2.0-m32")
STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")


def run_case(job: tuple) -> tuple[tuple, dict[str, object]]:
    model, tokens, system, strategy, routing, param, min_sram = job
    from backends.sim import simulate
    from fsedp_compiler import presets
    from fsedp_compiler import routing as routing_lib
    from fsedp_compiler.errors import FsedpError
    from fsedp_compiler.frontend import MoeProgram, build_module
    from fsedp_compiler.pipelines import compile_module
    from fsedp_compiler.sram import least_sram

    spec = presets.get_model(model)
    array = routing_lib.synthetic_routing(
        routing, tokens, spec.experts, spec.top_k, seed=7, param=param
    )
    source = f"{routing}({param}, seed = 7)"
    program = MoeProgram(presets.get_system(system), spec, array, source, strategy, {})
    module = build_module(program)
    result: dict[str, object] = {}
    try:
        if min_sram:
            need = least_sram(module, strategy)
            result["need"] = need.least.sram_bytes
        compile_module(module, strategy, verify_ir=False)
        report = simulate(module).report
    except FsedpError as error:
        return job, {"error": str(error).splitlines()[0]}
    result["ratio"] = report["latency_over_workload_lower_bound"]
    result["latency"] = report["latency_cycles"]
    result["peak"] = report["peak_sram_bytes"]
    return job, result


def _mib(nbytes: object) -> str:
    return f"{nbytes / 2**20:.2f}" if isinstance(nbytes, int) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="paper-2x2, 64 and 256 tokens")
    parser.add_argument("--routing", default="zipf", choices=("zipf", "dirichlet", "uniform"))
    parser.add_argument("--param", type=float, default=0.8, help="Zipf s or Dirichlet alpha")
    parser.add_argument("--min-sram", action="store_true", help="also search the needed SRAM")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    systems = ("paper-2x2",) if args.quick else ("paper-2x2", "paper-4x4")
    lengths = (64, 256) if args.quick else (16, 64, 256, 1024)
    cases = [(m, t, s) for s in systems for m in MODELS for t in lengths]
    jobs = [
        (m, t, s, strategy, args.routing, args.param, args.min_sram and strategy != "fsedp")
        for m, t, s in cases
        for strategy in STRATEGIES
    ]
    with Pool(args.workers) as pool:
        results = dict(pool.imap(run_case, jobs))
    header = "| model | tokens | mesh | " + " | ".join(STRATEGIES) + " | paired vs best baseline |"
    if args.min_sram:
        header += " needed SRAM MiB: paired | baseline | ratio |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for model, tokens, system in cases:
        row = {s: results[(model, tokens, system, s, args.routing, args.param,
                           args.min_sram and s != "fsedp")] for s in STRATEGIES}  # fmt: skip
        cells = [
            f"{r['ratio']:.3f}" if "ratio" in r else f"error: {r['error']}" for r in row.values()
        ]
        paired = row["fsedp-paired"]
        baselines = [row[s] for s in ("ep", "hydra") if "latency" in row[s]]
        best = min(baselines, key=lambda r: r["latency"], default=None)
        speedup = (
            f"{best['latency'] / paired['latency']:.3f}" if best and "latency" in paired else "-"
        )
        line = f"| {model} | {tokens} | {system.removeprefix('paper-')} | " + " | ".join(cells)
        line += f" | {speedup} |"
        if args.min_sram:
            mine, theirs = paired.get("need"), best.get("need") if best else None
            ratio = f"{mine / theirs:.2f}" if mine and theirs else "-"
            line += f" {_mib(mine)} | {_mib(theirs)} | {ratio} |"
        print(line, flush=True)


if __name__ == "__main__":
    main()
