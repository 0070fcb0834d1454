"""`fsedp-study`: run a study, tune strategies, and show the results as tables and figures.

    fsedp-study run studies/paper.toml              # every run; results/paper/results.{csv,parquet}
    fsedp-study table results/paper                 # pivot tables (terminal and Markdown)
    fsedp-study plot results/paper -o figures/      # the study's figures, PNG and SVG
    fsedp-study tune studies/mixtral.toml --budget 12

Exit codes as the other tools: 0 success; 1 bad input (a study file, results that cannot be
read), and for `run` and `tune` also a run that failed (all others still ran; the failures are
listed and in the results); 2 bad usage; 3 an internal error.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence

from fsedp_compiler import perf
from fsedp_compiler.cli_common import EXIT_USER_ERROR, run_reporting_errors


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fsedp-study",
        description="Sweeps over compiled and simulated MoE layers: run a study file, tune each "
        "strategy's options, and print tables or draw figures of the results (docs/study.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run every point of a study file")
    run.add_argument("study", help="the study file (TOML)")
    _add_run_arguments(run)
    tune = commands.add_parser(
        "tune", help="search each strategy's options per workload, within a budget"
    )
    tune.add_argument("study", help="the study file (TOML); its strategy axis is searched")
    tune.add_argument(
        "--budget",
        type=_positive,
        default=16,
        help="most option settings tried per workload and strategy (default 16)",
    )
    _add_run_arguments(tune)
    table = commands.add_parser("table", help="pivot tables of results")
    table.add_argument("results", help="a results folder, .parquet or .csv")
    table.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown")
    table.add_argument("-q", "--quiet", action="store_true", help="no tables on the terminal")
    plot = commands.add_parser("plot", help="the study's figures from results")
    plot.add_argument("results", help="a results folder, .parquet or .csv")
    plot.add_argument("-o", "--output", default="figures", help="folder (default: figures)")
    plot.add_argument(
        "--formats", default="png,svg", help="comma-separated formats (default: png,svg)"
    )
    plot.add_argument(
        "--baseline", default="ep", help="strategy the speedup bars are relative to (default ep)"
    )
    return parser


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", help="results folder (default: results/NAME, NAME the study's name)"
    )
    parser.add_argument(
        "--workers",
        type=_count,
        help="worker processes of the local Dask cluster (default: the number of cores; "
        "0: run in this process, one run after the other)",
    )
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use a running Dask cluster")
    parser.add_argument(
        "--cache", metavar="DIR", help="result cache (default ~/.cache/fsedp/study)"
    )
    parser.add_argument("--force", action="store_true", help="run again what the cache has")
    parser.add_argument(
        "--min-sram",
        action="store_true",
        default=None,
        help="also search each run's needed SRAM (as the study's min_sram = true)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")


def _positive(text: str) -> int:
    value = _count(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def run(args: Sequence[str] | None = None) -> int:
    options = _arguments().parse_args(args)
    command = {"run": _run, "tune": _tune, "table": _table, "plot": _plot}[options.command]
    code: list[int] = [0]
    status = run_reporting_errors(lambda: code.__setitem__(0, command(options)))
    return status or code[0]


def main(args: Sequence[str] | None = None) -> None:
    perf.one_shot_process()
    sys.exit(run(args))


def _settings(options: argparse.Namespace):
    from fsedp_compiler.study.runner import Settings

    settings = Settings(scheduler=options.scheduler, force=options.force)
    if options.workers is not None:
        settings.workers = options.workers
    if options.cache is not None:
        settings.cache_folder = options.cache
    settings.min_sram = options.min_sram
    return settings


def _run(options: argparse.Namespace) -> int:
    from fsedp_compiler.study.runner import rows_of, run_study
    from fsedp_compiler.study.spec import load_study

    study = load_study(options.study)
    with _progress(options.quiet, len(study.runs), f"study {study.name}") as progress:
        items = run_study(study, _settings(options), progress)
    folder = options.output or os.path.join("results", study.name)
    return _finish(rows_of(study, items), items, folder, options.quiet)


def _tune(options: argparse.Namespace) -> int:
    from fsedp_compiler.study.spec import load_study
    from fsedp_compiler.study.tune import tune

    study = load_study(options.study)
    folder = options.output or os.path.join("results", f"{study.name}-tuned")
    with _progress(options.quiet, None, f"tune {study.name}") as progress:
        rows, items, method = tune(study, _settings(options), options.budget, progress)
    if not options.quiet:
        print(method)
    return _finish(rows, items, folder, options.quiet)


def _finish(rows, items, folder: str, quiet: bool) -> int:
    """Write the results and the per-run times; list the failures; the exit code."""
    from fsedp_compiler.study.results import write_results

    csv_path, parquet_path = write_results(rows, folder)
    _write_timings(items, os.path.join(folder, "timings.csv"))
    failed = [row for row in rows if row["status"] != "ok"]
    if not quiet:
        print(f"{len(rows)} runs, {len(rows) - len(failed)} ok, {len(failed)} failed; results: "
              f"{csv_path}, {parquet_path}")  # fmt: skip
    for row in failed:
        settings = ", ".join(f"{k[5:]}={v}" for k, v in row.items() if k.startswith("axis."))
        print(f"run {row['run']} ({settings}) failed: {row['error']}", file=sys.stderr)
    return EXIT_USER_ERROR if failed else 0


def _write_timings(items, path: str) -> None:
    """Seconds each run took in its worker (empty: taken from the cache or refused up front).
    Apart from the results, which stay the same from run to run."""
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["run", "seconds", "cpu_seconds", "tokens", "mesh", "strategy", "model"])
        for item in items:
            seconds = "" if item.seconds is None else f"{item.seconds:.4f}"
            cpu = "" if item.cpu_seconds is None else f"{item.cpu_seconds:.4f}"
            config = item.config
            writer.writerow([item.task.index, seconds, cpu, config.get("tokens", ""),
                             config.get("mesh", ""), config.get("strategy", ""),
                             config.get("model", "")])  # fmt: skip


def _progress(quiet: bool, total: int | None, title: str):
    from fsedp_compiler.study.progress import StudyProgress

    return StudyProgress(total, title, enabled=not quiet)


def _table(options: argparse.Namespace) -> int:
    from fsedp_compiler.study.results import read_results
    from fsedp_compiler.study.table import markdown_tables, print_tables, study_tables

    tables = study_tables(read_results(options.results))
    if not options.quiet:
        print_tables(tables)
    if options.markdown:
        from fsedp_compiler.study.plots import write_text

        write_text(options.markdown, markdown_tables(tables))
    return 0


def _plot(options: argparse.Namespace) -> int:
    from fsedp_compiler.study.plots import study_figures
    from fsedp_compiler.study.results import read_results

    formats = [f.strip() for f in options.formats.split(",") if f.strip()]
    written = study_figures(read_results(options.results), options.output, formats,
                            options.baseline)  # fmt: skip
    for path in written:
        print(path)
    return 0
