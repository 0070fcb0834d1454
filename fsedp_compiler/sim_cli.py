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
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fsedp_compiler import perf
from fsedp_compiler.cli_common import (
    STDIO,
    UsageError,
    check_outputs,
    format_argument,
    input_format,
    input_name,
    read_input,
    replace_output,
    run_reporting_errors,
    version_line,
    write_output,
)
from fsedp_compiler.errors import decode_utf8
from fsedp_compiler.override_args import check_strategy_given_once

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")  # = PIPELINES (tests/test_cli_common.py)
OUTPUTS = ("json", "csv", "trace")


def _positive_integer(text: str) -> int:
    return _integer(text, 1, "a positive")


def _non_negative_integer(text: str) -> int:
    return _integer(text, 0, "a non-negative")


def _integer(text: str, least: int, what: str) -> int:
    """An integer flag: ASCII digits only, as the .moe grammar (Python's int() would also take
    other scripts' digits, `1_6` and spaces)."""
    if not (text.isascii() and text.isdigit()) or int(text) < least:
        raise argparse.ArgumentTypeError(f"must be {what} integer, got {text}")
    return int(text)


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
        type=_positive_integer,
        metavar="K",
        help="divide hidden and FFN sizes by K for the numerics check "
        "(default: the smallest power of two that fits 256 MiB of weights)",
    )
    parser.add_argument(
        "--numerics-seed",
        type=_non_negative_integer,
        metavar="N",
        help="seed of the numerics check's random values (default 0)",
    )
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


def _add_study_arguments(parser: argparse.ArgumentParser) -> None:
    """-D overrides and the --plot timeline (issue 11)."""
    from fsedp_compiler.override_args import add_define_argument

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
        with warnings.catch_warnings():  # the line below says which loop runs, and why not
            warnings.simplefilter("ignore")
            from backends.sim.loop_choice import LOOP_COMPILED

        loop = "compiled with mypyc" if LOOP_COMPILED else "plain Python, not compiled (README)"
        sys.stdout.write(version_line("fsedp-sim", f"event loop: {loop}") + "\n")
        parser.exit()


def load_module(
    path: str,
    strategy: str | None,
    *,
    verify_ir: bool = True,
    execution_check: bool = False,
    overrides: Sequence = (),
    frontend: str | None = None,
) -> ModuleOp:
    """Parse `.moe` or MLIR text (with `-D` `overrides`) into a verified module lowered to
    cisa programs, as `fsedp-sim` does.

    `verify_ir=False` skips xDSL's structural verifier on programs the compiler has just built
    in this process (see `compile_module`); parsed input is always verified.
    `execution_check` is `--verify-execution` (`compile_if_needed`).
    """
    from fsedp_compiler.pipelines import compile_if_needed

    return compile_if_needed(
        read_module(path, overrides, frontend),
        strategy,
        verify_ir=verify_ir,
        execution_check=execution_check,
    )


def read_module(path: str, overrides: Sequence = (), frontend: str | None = None) -> ModuleOp:
    """Parse `.moe` or MLIR text into a verified module: the format by `frontend` (-f) or the
    file's extension; `-` reads standard input (MLIR unless `frontend` says otherwise).
    `overrides` (`overrides.Override`, from -D) set fields of a `.moe` input."""
    from fsedp_compiler.frontend import check_limits, check_mlir_nesting, parse_mlir

    file_format = input_format(path, frontend)
    raw = read_input(path, file_format)
    name = input_name(path)
    if overrides:
        from fsedp_compiler.overrides import check_moe_input

        check_moe_input(overrides, file_format == "moe")
    if file_format == "moe":
        from xdsl.context import Context

        from fsedp_compiler.frontend import MoeFrontend

        module = MoeFrontend(overrides=tuple(overrides)).parse(Context(), io.BytesIO(raw), name)
    else:
        from fsedp_compiler import registry

        text = decode_utf8(raw, name)
        check_mlir_nesting(raw, name)
        module = parse_mlir(registry.context(), text, name)
        check_limits(module, name)
    module.verify()
    return module


def run(args: Sequence[str] | None = None) -> int:
    options = _arguments().parse_args(args)
    return run_reporting_errors(lambda: _simulate(options))


def _simulate(options: argparse.Namespace) -> None:
    from backends.sim import simulate
    from fsedp_compiler.pipelines import compile_if_needed

    outputs = [(f"--{name}", getattr(options, name)) for name in OUTPUTS]
    _check_plot_path(options.plot)
    check_outputs([*outputs, ("--plot", options.plot)])
    _check_numerics_flags(options)
    strategies = [options.strategy] if options.strategy else []
    check_strategy_given_once(options.define, "--strategy", strategies)
    module = read_module(options.file, options.define, options.frontend)
    _check_flags_fit_input(module, options)
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
        numerics_seed=options.numerics_seed or 0,
        trace=options.trace is not None or options.plot is not None,
    )
    if need is not None:
        sim.report["min_sram"] = need.report()
    _write_outputs(sim, options)
    if options.plot is not None:
        _plot_timeline(sim, options.plot)
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


PLOT_FORMATS = (".png", ".svg", ".pdf")


def _check_plot_path(path: str | None) -> None:
    """--plot's file, before any work: a PNG, SVG or PDF file, not standard output."""
    if path is not None and (path == STDIO or not path.lower().endswith(PLOT_FORMATS)):
        raise UsageError(f"--plot {path}: name a .png, .svg or .pdf file (its extension picks)")


def _plot_timeline(sim, path: str) -> None:
    from fsedp_compiler.study.plots import timeline

    try:
        replace_output(path, lambda name: timeline(sim.chrome_trace(), sim.report, name))
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


def _check_numerics_flags(options: argparse.Namespace) -> None:
    """--numerics-scale and --numerics-seed set the numerics check: without it they would be
    ignored."""
    for flag in ("--numerics-scale", "--numerics-seed"):
        if getattr(options, flag[2:].replace("-", "_")) is not None and not options.check_numerics:
            raise UsageError(f"{flag} needs --check-numerics")


def _check_flags_fit_input(module: ModuleOp, options: argparse.Namespace) -> None:
    """Flags that do not fit the input, before any work: a numerics scale beyond the layer,
    --min-sram (which recompiles) on an input already compiled. The command line is at fault,
    as for -D on an input that is not .moe. (--strategy on lowered input is refused by
    `compile_if_needed`, for every caller.)"""
    from backends.sim.program import find_ops

    programs, layers = find_ops(module)
    if options.numerics_scale is not None:
        from backends.sim.numerics import check_scale

        for layer in layers:
            check_scale(options.numerics_scale, layer.model.hidden.data, "--numerics-scale")
    if options.min_sram and (programs or not layers):
        raise UsageError(
            "--min-sram recompiles the layer at other SRAM sizes, so it needs a .moe file or "
            "moe-level IR (a moe.layer without cisa programs)"
        )


def _least_sram(module: ModuleOp, strategy: str | None):
    from fsedp_compiler.sram import least_sram

    return least_sram(module, strategy)


def main(args: Sequence[str] | None = None) -> None:
    perf.one_shot_process()
    perf.exit_process(run(args))
