"""The command line of `fsedp-opt`: its arguments, `--help`, `--version` and entry point.

Parsing the arguments imports nothing heavy, so `--help`, `--version` and usage errors answer at
once; the driver (`cli.py`, on xDSL) is imported only once they parse.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fsedp_compiler.cli_common import format_argument, version_line
from fsedp_compiler.override_args import add_define_argument

DESCRIPTION = """\
Compile one Mixture-of-Experts layer for a multi-chiplet accelerator. Reads a .moe file (the
layer, its routing and the machine; README.md) or MLIR, runs passes (-p), and prints the IR,
the per-chiplet programs (-t cisa-asm, --emit-programs) or a simulator report (-t sim-report).
fsedp-sim compiles and simulates in one step. docs/compiler.md describes every pass and option."""

# One line per strategy and pass for --help; tests/test_cli.py checks these against the
# registry, so a new pass without a line here fails the tests.
STRATEGY_HELP = {
    "fsedp": "FSE-DP: micro-sliced experts streamed along trajectories, loaded in expert order",
    "fsedp-paired": "FSE-DP with paired hot/cold loading, slices dealt evenly (the paper's)",
    "ep": "expert parallelism: each expert at one home chiplet, tokens travel to it",
    "hydra": "EP with popularity-aware placement (Hydra)",
}
PASS_HELP = {
    "partition-tokens": "the chiplet that holds each token",
    "place-experts": "the home chiplet of each routed expert (EP, Hydra)",
    "dispatch-tokens": "which tokens each chiplet sends to each home (EP, Hydra)",
    "shard-experts": "cut each used expert into micro-slices",
    "order-loads": "the order slices are loaded from DDR",
    "distribute-slices": "the DDR channel of each slice",
    "schedule-trajectories": "the chiplets each slice visits, and in what order",
    "virtualize": "slice buffers per chiplet (rule R4's reserve)",
    "lower-to-cisa": "one cisa.program per chiplet",
    "verify-programs": "check coverage, transfers, SRAM and freedom from deadlock",
    "program-form": "the programs as data or as xDSL ops (for tests)",
}
UPSTREAM_PASSES = ("canonicalize", "cse", "dce")
TARGETS = "mlir (default), cisa-asm, sim-report"


def _pipeline_help() -> str:
    def rows(table: dict[str, str]) -> str:
        width = max(map(len, table)) + 2
        return "\n".join(f"    {name:<{width}}{text}" for name, text in table.items())

    return f"""\
pass pipelines (-p):
  a comma-separated list of strategies and passes, each with options in braces:
    -p fsedp-paired
    -p 'fsedp{{slices=8 order=hot-first}}'      options of a strategy go to its passes
    -p 'shard-experts{{slices=8}},cse'
  strategies (named pipelines of the passes below):
{rows(STRATEGY_HELP)}
  passes, in pipeline order:
{rows(PASS_HELP)}
  upstream xDSL passes: {", ".join(UPSTREAM_PASSES)}

targets (-t): mlir (default); cisa-asm (per-chiplet assembly);
  sim-report (simulate; 'sim-report{{format=json numerics=true}}', format text, json or csv)

exit codes: 0 success, 1 bad input, 2 bad usage, 3 internal error (README.md, "Errors")"""


class DefaultTarget(str):
    """`-t` when it was not given (the IR), told apart from an explicit `-t mlir`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every argument of fsedp-opt, ours first. The driver reads them by the names xDSL's
    `xDSLOptMain` gives them (tests/test_cli.py checks that none is missing)."""
    parser.add_argument(
        "input_file",
        nargs="?",
        metavar="FILE",
        help=".moe or .mlir input; - or none: standard input (MLIR unless -f moe)",
    )
    ours = parser  # the default group, after -h
    ours.add_argument(
        "-p",
        "--passes",
        default="",
        metavar="PIPELINE",
        help="strategies and passes to run, e.g. -p fsedp-paired (listed below)",
    )
    ours.add_argument(
        "-t", "--target", default=DefaultTarget("mlir"), metavar="TARGET", help=TARGETS
    )
    ours.add_argument(
        "-f",
        "--frontend",
        metavar="{moe,mlir}",
        type=format_argument,
        help="the input format, instead of the file's extension",
    )
    ours.add_argument(
        "-o", "--output-file", metavar="FILE", help="write the output here (- : standard output)"
    )
    add_define_argument(ours)
    ours.add_argument(
        "--emit-programs",
        metavar="DIR",
        help="write each chiplet's program as assembly (DIR/chipletN.s) plus DIR/manifest.json; "
        "the input must be compiled (e.g. -p fsedp). The IR is then printed only with -o or -t",
    )
    ours.add_argument(
        "--time-passes",
        action="store_true",
        help="time each pass; the table and the total go to standard error",
    )
    ours.add_argument("-v", "--version", action=_VersionAction, help="print the version and exit")

    xdsl = parser.add_argument_group("xDSL driver options")
    for flag, text in [
        ("--split-input-file", "treat '// -----'-separated chunks as separate inputs"),
        ("--verify-diagnostics", "print verifier (and .moe) errors and exit 0, for tests"),
        ("--parsing-diagnostics", "print MLIR syntax errors and exit 0, for tests"),
        ("--print-op-generic", "print the IR in MLIR's generic form"),
        ("--print-between-passes", "print the IR after every pass"),
        ("--print-no-properties", "print properties as attributes"),
        ("--print-debuginfo", "print locations"),
        ("--syntax-highlight", "colour the printed IR"),
        ("--disable-verify", "do not verify the IR between passes"),
        ("--allow-unregistered-dialect", "accept ops of dialects fsedp-opt does not know"),
        ("--no-implicit-module", "do not wrap the input in a builtin.module"),
        ("--shrink", "for the shrinkray test-case reducer"),
    ]:
        xdsl.add_argument(flag, action="store_true", help=text)


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(version_line("fsedp-opt") + "\n")
        parser.exit()


def configure(parser: argparse.ArgumentParser) -> None:
    """Make `parser` fsedp-opt's: its name, help text and arguments."""
    parser.prog = "fsedp-opt"
    parser.usage = "%(prog)s [FILE] [-p PIPELINE] [-t TARGET] [-o FILE] [options]"
    parser.description = DESCRIPTION
    parser.epilog = _pipeline_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_arguments(parser)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser


def main(args: Sequence[str] | None = None) -> None:
    """The `fsedp-opt` console script: parse the arguments, then run the driver."""
    argument_parser().parse_args(args)  # --help, --version and usage errors end here
    from fsedp_compiler import cli

    cli.main(args)
