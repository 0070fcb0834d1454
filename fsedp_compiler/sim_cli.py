"""`fsedp-sim`: simulate lowered `cisa` programs (`.mlir`) or a `.moe` file compiled on the fly.

    fsedp-sim examples/deepseek_moe_256.moe                  # compile with the file's strategy
    fsedp-sim model.moe --strategy ep --json report.json     # override the strategy
    fsedp-sim lowered.mlir --check-numerics --trace out.json --csv util.csv

Prints the text summary (or, with `--json -`, the JSON report) on stdout. Every user error is a
message on stderr and exit code 1 (2 for usage errors), never a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from fsedp_compiler import perf, registry
from fsedp_compiler.cli import run_reporting_errors
from fsedp_compiler.errors import FsedpError, decode_utf8


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsedp-sim",
        description="Simulate per-chiplet cisa programs: timing, SRAM, DDR/D2D traffic and, "
        "optionally, numerics.",
    )
    parser.add_argument("file", help="lowered .mlir (cisa programs), or a .moe file; - is stdin")
    parser.add_argument(
        "--strategy",
        help="compile a .moe with this strategy instead of the file's "
        "(fsedp, fsedp-paired, ep, hydra)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the JSON report (- for stdout)")
    parser.add_argument("--csv", metavar="FILE", help="write per-chiplet utilization as CSV")
    parser.add_argument(
        "--trace", metavar="FILE", help="write a Chrome trace-event JSON timeline (Perfetto)"
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
        "--verify-execution",
        action="store_true",
        help="also run verify-programs' untimed execution on programs compiled from a .moe: "
        "no deadlock under any timing, every output the exact sum of its partial products "
        "(fsedp-opt runs it by default; a simulation executes the programs itself)",
    )
    parser.add_argument(
        "--min-sram",
        action="store_true",
        help="also find the least SRAM per chiplet at which the strategy runs within 5%% of its "
        "latency at the given SRAM (bisection; needs a .moe or moe-level input)",
    )
    _add_study_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stdout")
    parser.add_argument(
        "--version",
        action=_VersionAction,
        help="print the version and whether the event loop is compiled, then exit",
    )
    return parser


def _add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """-D overrides and the --plot timeline (issue 11)."""
    from fsedp_compiler.overrides import add_define_argument

    add_define_argument(parser)
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="draw a per-chiplet timeline of engine, DDR channel and link activity "
        "(PNG, SVG or PDF by the file's extension; needs matplotlib)",
    )


class _VersionAction(argparse.Action):
    """argparse's `version` action, but the text is built only when asked for: it imports the
    simulator, which every other use of the parser (--help, usage errors) can do without."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        from backends.sim.engine import LOOP_COMPILED

        try:
            number = version("fsedp")
        except PackageNotFoundError:
            number = "(not installed)"
        loop = "compiled with mypyc" if LOOP_COMPILED else "plain Python, not compiled (README)"
        sys.stdout.write(f"fsedp-sim {number} (event loop: {loop})\n")
        parser.exit()


def load_module(
    path: str,
    strategy: str | None,
    *,
    verify_ir: bool = True,
    execution_check: bool = False,
    overrides: Sequence = (),
) -> ModuleOp:
    """Parse `.moe` or MLIR text (with `-D` `overrides`) into a verified module lowered to
    cisa programs, as `fsedp-sim` does.

    `verify_ir=False` skips xDSL's structural verifier on programs the compiler has just built
    in this process (see `compile_module`); parsed input is always verified.
    `execution_check` is `--verify-execution` (`compile_if_needed`).
    """
    from fsedp_compiler.pipelines import compile_if_needed

    return compile_if_needed(
        read_module(path, overrides),
        strategy,
        verify_ir=verify_ir,
        execution_check=execution_check,
    )


def read_module(path: str, overrides: Sequence = ()) -> ModuleOp:
    """Parse `.moe` or MLIR text (`-`: MLIR from stdin) into a verified module; `overrides`
    (`overrides.Override`, from -D) set fields of a `.moe` file."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    except OSError as error:
        raise FsedpError(f"cannot read {path}: {error.strerror}") from None
    if overrides:
        from fsedp_compiler.overrides import check_moe_input

        check_moe_input(overrides, path.endswith(".moe"))
    if path.endswith(".moe"):
        from fsedp_compiler.frontend import MoeFrontend

        module = MoeFrontend(overrides=tuple(overrides)).parse(Context(), io.BytesIO(raw), path)
    else:
        ctx = registry.context()
        from fsedp_compiler.frontend import check_limits

        name = "<stdin>" if path == "-" else path
        module = Parser(ctx, decode_utf8(raw, name), name).parse_module()
        check_limits(module, name)
    module.verify()
    return module


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as stream:
            stream.write(text)
    except OSError as error:
        raise FsedpError(f"cannot write {path}: {error.strerror}") from None


def run(args: Sequence[str] | None = None) -> int:
    options = _arguments().parse_args(args)
    return run_reporting_errors(lambda: _simulate(options))


def _simulate(options: argparse.Namespace) -> None:
    from backends.sim import simulate
    from fsedp_compiler.pipelines import compile_if_needed

    module = read_module(options.file, options.define)
    need = _least_sram(module, options.strategy) if options.min_sram else None
    module = compile_if_needed(
        module,
        options.strategy,
        verify_ir=options.verify_ir,
        execution_check=options.verify_execution,
    )
    sim = simulate(
        module,
        check_numerics=options.check_numerics,
        numerics_scale=options.numerics_scale,
        numerics_seed=options.numerics_seed,
        trace=options.trace is not None or options.plot is not None,
    )
    if need is not None:
        sim.report["min_sram"] = need.report()
    if options.json is not None and options.json != "-":
        _write(options.json, sim.json())
    if options.csv is not None:
        _write(options.csv, sim.csv())
    if options.trace is not None:
        _write(options.trace, json.dumps(sim.chrome_trace()))
    if options.plot is not None:
        _plot_timeline(sim, options.plot)
    if options.json == "-":
        sys.stdout.write(sim.json())
    elif not options.quiet:
        sys.stdout.write(sim.text() + (need.text() if need is not None else ""))


def _plot_timeline(sim, path: str) -> None:
    from fsedp_compiler.study.plots import timeline

    timeline(sim.chrome_trace(), sim.report, path)


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
