"""`fsedp-sim`: simulate lowered `cisa` programs (`.mlir`) or a `.moe` file compiled on the fly.

    fsedp-sim examples/deepseek_moe_256.moe                  # compile with the file's strategy
    fsedp-sim model.moe --strategy ep --json report.json     # override the strategy
    fsedp-sim lowered.mlir --check-numerics --trace out.json --csv util.csv

Prints the text summary on stdout, unless one of `--json`, `--csv` or `--trace` is `-`
(standard output). Errors and exit codes are those of `fsedp-opt` (`cli_common.py`), never a
traceback. Nothing heavy is imported before the arguments parse.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fsedp_compiler import perf
from fsedp_compiler.cli_common import (
    STDIO,
    check_outputs,
    format_argument,
    input_format,
    input_name,
    read_input,
    run_reporting_errors,
    version_line,
    write_output,
)
from fsedp_compiler.errors import FsedpError, decode_utf8

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")  # = PIPELINES (tests/test_cli_common.py)
OUTPUTS = ("json", "csv", "trace")


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsedp-sim",
        description="Compile a .moe layer (or read lowered .mlir) and simulate its per-chiplet "
        "programs: latency and its lower bounds, utilization, SRAM, DDR and D2D traffic and, "
        "optionally, numerics. docs/simulator.md describes the model and every number.",
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        help="a .moe file, or lowered .mlir (cisa programs); - : standard input (MLIR unless "
        "-f moe)",
    )
    parser.add_argument(
        "-f",
        "--frontend",
        metavar="{moe,mlir}",
        type=format_argument,
        help="the input format, instead of the file's extension",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="compile a .moe with this strategy instead of the file's",
    )
    parser.add_argument("--json", metavar="FILE", help="write the JSON report (-: stdout)")
    parser.add_argument(
        "--csv", metavar="FILE", help="write per-chiplet utilization as CSV (-: stdout)"
    )
    parser.add_argument(
        "--trace",
        metavar="FILE",
        help="write a Chrome trace-event JSON timeline for Perfetto (-: stdout)",
    )
    parser.add_argument(
        "--check-numerics",
        action="store_true",
        help="run the programs on random values and compare with a dense MoE reference",
    )
    parser.add_argument(
        "--numerics-scale",
        type=int,
        metavar="K",
        help="divide hidden and FFN sizes by K for the numerics check "
        "(default: the smallest power of two that fits 256 MiB of weights)",
    )
    parser.add_argument("--numerics-seed", type=int, default=0, metavar="N")
    parser.add_argument(
        "--verify-ir",
        action="store_true",
        help="also run xDSL's structural verifier on the programs compiled from a .moe "
        "(verify-programs and the simulator's own checks always run)",
    )
    parser.add_argument(
        "--min-sram",
        action="store_true",
        help="also find the least SRAM per chiplet at which the strategy runs within 5%% of its "
        "latency at the given SRAM (bisection; needs a .moe or moe-level input)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stdout")
    parser.add_argument(
        "--full",
        action="store_true",
        help="list every chiplet and link in the summary (the default up to 16 chiplets; above, "
        "the summary gives totals and extremes)",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version and whether the event loop is compiled, then exit",
    )
    parser.epilog = "exit codes: 0 success, 1 bad input, 2 bad usage, 3 internal error"
    return parser


class _VersionAction(argparse.Action):
    """argparse's `version` action, but the text is built only when asked for: it imports the
    simulator, which every other use of the parser (--help, usage errors) can do without."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from backends.sim.loop_choice import LOOP_COMPILED

        loop = "compiled with mypyc" if LOOP_COMPILED else "plain Python, not compiled (README)"
        sys.stdout.write(version_line("fsedp-sim", f"event loop: {loop}") + "\n")
        parser.exit()


def load_module(
    path: str, strategy: str | None, *, verify_ir: bool = True, frontend: str | None = None
) -> ModuleOp:
    """Parse `.moe` or MLIR text into a verified module lowered to cisa programs.

    `verify_ir=False` skips xDSL's structural verifier on programs the compiler has just built
    in this process (see `compile_module`); parsed input is always verified.
    """
    from backends.sim.target import lower_if_needed

    return lower_if_needed(read_module(path, frontend), strategy, verify_ir=verify_ir)


def read_module(path: str, frontend: str | None = None) -> ModuleOp:
    """Parse `.moe` or MLIR text into a verified module: the format by `frontend` (-f) or the
    file's extension; `-` reads standard input (MLIR unless `frontend` says otherwise)."""
    from fsedp_compiler.frontend import check_limits

    file_format = input_format(path, frontend)
    raw = read_input(path)
    name = input_name(path)
    if file_format == "moe":
        from xdsl.context import Context

        from fsedp_compiler.frontend import MoeFrontend

        module = MoeFrontend().parse(Context(), io.BytesIO(raw), name)
    else:
        from xdsl.parser import Parser

        from fsedp_compiler import registry

        module = Parser(registry.context(), decode_utf8(raw, name), name).parse_module()
        check_limits(module, name)
    module.verify()
    return module


def run(args: Sequence[str] | None = None) -> int:
    options = _arguments().parse_args(args)
    return run_reporting_errors(lambda: _simulate(options))


def _simulate(options: argparse.Namespace) -> None:
    from backends.sim import simulate
    from backends.sim.target import lower_if_needed

    outputs = [(f"--{name}", getattr(options, name)) for name in OUTPUTS]
    check_outputs(outputs)
    module = read_module(options.file, options.frontend)
    need = _least_sram(module, options.strategy) if options.min_sram else None
    module = lower_if_needed(module, options.strategy, verify_ir=options.verify_ir)
    sim = simulate(
        module,
        check_numerics=options.check_numerics,
        numerics_scale=options.numerics_scale,
        numerics_seed=options.numerics_seed,
        trace=options.trace is not None,
    )
    if need is not None:
        sim.report["min_sram"] = need.report()
    _write_outputs(sim, options)
    if not options.quiet and STDIO not in (path for _, path in outputs):
        sys.stdout.write(sim.text(full=options.full or None) + (need.text() if need else ""))


def _write_outputs(sim, options: argparse.Namespace) -> None:
    """--json, --csv and --trace, each to its file or (`-`) to standard output."""
    texts = {
        "json": sim.json,
        "csv": sim.csv,
        "trace": lambda: json.dumps(sim.chrome_trace()),
    }
    for name in OUTPUTS:
        path = getattr(options, name)
        if path is not None:
            write_output(path, texts[name]())


def _least_sram(module: ModuleOp, strategy: str | None):
    from backends.sim.program import find_ops
    from fsedp_compiler.sram import least_sram

    programs, layers = find_ops(module)
    if programs or not layers:
        raise FsedpError(
            "--min-sram recompiles the layer at other SRAM sizes, so it needs a .moe file or "
            "moe-level IR (a moe.layer without cisa programs)"
        )
    return least_sram(module, strategy)


def main(args: Sequence[str] | None = None) -> None:
    perf.one_shot_process()
    sys.exit(run(args))
