"""`fsedp-study`: study files, runs on Dask, the cache, failures, results, tables, plots, tune."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.study import cli
from fsedp_compiler.study.results import read_results, write_results
from fsedp_compiler.study.runner import CACHED, DONE, Settings, rows_of, run_study
from fsedp_compiler.study.spec import load_study
from fsedp_compiler.study.table import cases, speedup_over_best_other, study_tables

TINY = """system paper-2x2
model { name = tiny  hidden = 64  ffn = 32  experts = 8  shared = 0  top_k = 2 }
workload { tokens = 8  routing = zipf(s = 1.2, seed = 7) }
strategy fsedp-paired
"""

# 2 strategies x 2 SRAM sizes x 2 seeds; 100 B of SRAM fits nothing: 4 runs fail.
SMALL = """
[study]
name = "small"
base = "tiny.moe"
[axes]
strategy = ["fsedp-paired", "ep"]
"system.sram_bytes" = [8388608, 100]
seeds = [1, 2]
"""


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    (tmp_path / "tiny.moe").write_text(TINY)
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_study_on_two_workers_cache_failures_and_same_results(capsys, study_file, tmp_path):
    cache = tmp_path / "cache"
    first, again, one = tmp_path / "first", tmp_path / "again", tmp_path / "one"
    common = ("--cache", cache, "-q")
    code, _, err = run_cli(capsys, "run", study_file, "--workers", 2, "-o", first, *common)
    assert code == 1  # some runs failed: listed, and the others still ran
    assert err.count("failed:") == 4 and "SRAM" in err
    rows = list(csv.DictReader((first / "results.csv").open()))
    assert [r["run"] for r in rows] == [str(i) for i in range(8)]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"] * 2
    assert rows[0]["error"] == "" and rows[0]["latency_cycles"] != ""
    failed = [r for r in rows if r["status"] == "failed"]
    assert all(r["latency_cycles"] == "" and "needs at least" in r["error"] for r in failed)
    assert all(r["config.sram_bytes"] == "100" and r["config.model"] == "tiny" for r in failed)
    assert [r["config.routing"] for r in rows[:2]] == [
        "zipf(s = 1.2, seed = 1)",
        "zipf(s = 1.2, seed = 2)",
    ]

    # A re-run takes everything from the cache: failures too, since they are the input's.
    study = load_study(str(study_file))
    kinds: list[str] = []
    settings = Settings(workers=2, cache_folder=str(cache))
    rows_again = rows_of(study, run_study(study, settings, lambda kind, _: kinds.append(kind)))
    assert kinds == [CACHED] * 8
    write_results(rows_again, str(tmp_path / "cached"))
    assert (tmp_path / "cached" / "results.csv").read_bytes() == (
        first / "results.csv"
    ).read_bytes()

    # One worker, cache bypassed (--force), and in this process: the same bytes.
    code, *_ = run_cli(capsys, "run", study_file, "--workers", 1, "--force", "-o", one, *common)
    assert code == 1
    code, *_ = run_cli(capsys, "run", study_file, "--workers", 0, "--force", "-o", again, *common)
    assert code == 1
    for name in ("results.csv", "results.parquet"):
        assert (one / name).read_bytes() == (first / name).read_bytes()
        assert (again / name).read_bytes() == (first / name).read_bytes()
    timings = list(csv.DictReader((one / "timings.csv").open()))
    assert all(float(t["seconds"]) > 0 for t in timings)


def test_force_runs_again_and_cache_survives(study_file, tmp_path):
    study = load_study(str(study_file))
    cache = str(tmp_path / "cache")
    kinds: list[str] = []
    run_study(study, Settings(workers=0, cache_folder=cache), lambda k, _: kinds.append(k))
    assert kinds.count(DONE) == 4 and kinds.count("failed") == 4
    kinds.clear()
    run_study(
        study, Settings(workers=0, cache_folder=cache, force=True), lambda k, _: kinds.append(k)
    )
    assert CACHED not in kinds


def test_changed_input_misses_the_cache(study_file, tmp_path):
    cache = str(tmp_path / "cache")
    run_study(load_study(str(study_file)), Settings(workers=0, cache_folder=cache))
    study_file.write_text(SMALL.replace("seeds = [1, 2]", "seeds = [1, 3]"))
    kinds: list[str] = []
    run_study(load_study(str(study_file)), Settings(workers=0, cache_folder=cache),
              lambda k, _: kinds.append(k))  # fmt: skip
    assert kinds.count(CACHED) == 4  # seed 1 (ok and failed); seed 3 is new


def test_parquet_and_csv_hold_the_same_rows(study_file, tmp_path):
    out = tmp_path / "out"
    cli.run(
        [
            "run",
            str(study_file),
            "--workers",
            "0",
            "--cache",
            str(tmp_path / "c"),
            "-o",
            str(out),
            "-q",
        ]
    )
    from_parquet = pq.read_table(out / "results.parquet").to_pylist()
    assert from_parquet == read_results(str(out / "results.csv"))
    ok = from_parquet[0]
    assert ok["latency_cycles"] > 0 and ok["latency_over_workload_lower_bound"] >= 1
    assert ok["axis.workload.routing.seed"] == 1 and ok["config.strategy"] == "fsedp-paired"
    assert ok["ddr.bytes"] > 0 and ok["peak_sram_bytes"] > 0 and ok["chiplets"].startswith("[")


def test_min_sram_columns(study_file, tmp_path):
    study_file.write_text(
        SMALL.replace("[8388608, 100]", "[8388608]").replace("seeds = [1, 2]", "")
    )
    study = load_study(str(study_file))
    rows = rows_of(
        study, run_study(study, Settings(workers=0, cache_folder=str(tmp_path), min_sram=True))
    )
    assert all(r["min_sram.sram_bytes"] < r["config.sram_bytes"] for r in rows)
    assert all(r["min_sram.latency_ratio"] <= 1.05 for r in rows)
    assert "needed SRAM" in study_tables(rows)[-1].title


@pytest.mark.parametrize(
    "text, message",
    [
        ("[study]\nbase = 'tiny.moe'\nfoo = 1\n", "unknown [study] key 'foo'"),
        ("[study]\n", "needs exactly one of base"),
        ("[study]\nbase = 'missing.moe'\n", "cannot read base missing.moe"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\nmemory = [1]\n", "axis 'memory': unknown block 'memory'"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\nstrategy = []\n", "non-empty list"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\nseeds = [1]\n'workload.routing.seed' = [2]\n", "given twice"),
        ("[study]\nbase = 'tiny.moe'\n[[zip]]\nsystem = ['paper-2x2']\nstrategy = ['ep', 'hydra']\n", "as many values each"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\n'workload.routing' = [{glob = 'none/*.json'}]\n", "matches no file"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\n'workload.tokens' = [{file = 'x'}]\n", "takes no file"),
        ("[study]\nbase = 'tiny.moe'\n[axes]\n'workload.tokens' = [[1]]\n", "values are numbers"),
        ("[study\n", "invalid TOML"),
        ("[results]\n", "unknown table 'results'"),
    ],
)  # fmt: skip
def test_bad_study_files_exit_1(capsys, tmp_path, text, message):
    (tmp_path / "tiny.moe").write_text(TINY)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, _, err = run_cli(capsys, "run", path, "--workers", 0, "--cache", tmp_path / "c")
    assert code == 1
    assert err.startswith(f"{path}: error: ") and message in err


def test_run_refused_by_the_front_end_is_a_failed_row(capsys, study_file, tmp_path):
    study_file.write_text(
        SMALL.replace('"system.sram_bytes" = [8388608, 100]', '"system.sram_bytes" = [-1]')
    )
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, "run", study_file, "--workers", 0, "--cache", tmp_path / "c", "-o", out, "-q"
    )
    assert code == 1
    rows = read_results(str(out))
    assert {r["status"] for r in rows} == {"failed"}
    assert "-D:1:19: error: system field 'sram_bytes' must be positive" in rows[0]["error"]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "the following arguments are required: COMMAND"),
        (["run"], "the following arguments are required: study"),
        (["run", "s.toml", "--workers", "-1"], "must not be negative"),
        (["tune", "s.toml", "--budget", "0"], "must be at least 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as caught:
        cli.run(args)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["table", "plot"])
def test_unreadable_results_exit_1(capsys, tmp_path, command):
    bad = tmp_path / "r.parquet"
    bad.write_text("not parquet")
    code, _, err = run_cli(capsys, command, bad)
    assert code == 1 and "cannot read results" in err


# -- tables and figures from made-up rows (no simulation needed) ---------------------------------


def row(run, strategy, latency, status="ok", **config):
    base = {"run": run, "study": "t", "status": status, "error": "" if status == "ok" else "boom"}
    base |= {
        f"config.{k}": v for k, v in {"mesh": "2x2", "model": "m", "tokens": 16, **config}.items()
    }
    base["config.strategy"] = strategy
    if status == "ok":
        base |= {
            "latency_cycles": latency,
            "latency_us": latency / 800,
            "latency_over_workload_lower_bound": latency / 100,
            "peak_sram_bytes": 2**20,
        }
    return base


def test_speedup_is_over_the_best_other_and_failures_show():
    rows = [row(0, "fsedp-paired", 100.0), row(1, "ep", 150.0), row(2, "hydra", 120.0),
            row(3, "fsedp-paired", 100.0, tokens=64), row(4, "ep", 0, status="failed", tokens=64),
            row(5, "hydra", 400.0, tokens=64)]  # fmt: skip
    _, strategies, found = cases(rows)
    assert strategies == ["fsedp-paired", "ep", "hydra"]
    assert speedup_over_best_other(found[0], "fsedp-paired") == pytest.approx(1.2)
    assert speedup_over_best_other(found[0], "ep") == pytest.approx(100 / 150)
    tables = {t.title: t for t in study_tables(rows)}
    speedup = tables["speedup over the best other strategy"]
    assert speedup.headers == ["tokens", "fsedp-paired", "ep", "hydra"]
    assert speedup.rows == [["16", "1.20x", "0.67x", "0.83x"], ["64", "4.00x", "failed", "0.25x"]]


def test_tuned_rows_show_each_strategys_best():
    rows = [row(0, "ep", 150.0), row(1, "ep", 90.0), row(2, "hydra", 120.0)]
    _, _, found = cases(rows)
    assert found[0].best["ep"]["run"] == 1


def test_table_command_writes_markdown(capsys, tmp_path):
    write_results([row(0, "fsedp-paired", 100.0), row(1, "ep", 150.0)], str(tmp_path / "r"))
    code, out, _ = run_cli(capsys, "table", tmp_path / "r", "--markdown", tmp_path / "t.md")
    assert code == 0 and "fsedp-paired" in out and "1.50x" in out
    text = (tmp_path / "t.md").read_text()
    assert "| fsedp-paired | ep |" in text and "| 1.50x | 0.67x |" in text


def test_every_figure_written_and_non_empty(capsys, tmp_path):
    rows, n = [], 0
    for mesh in ("2x2", "4x4"):  # speedup and bound bars, per mesh
        for tokens in (16, 64):
            for strategy, latency in (("fsedp-paired", 100.0), ("ep", 130.0), ("hydra", 125.0)):
                rows.append(row(n, strategy, latency * tokens, mesh=mesh, tokens=tokens))
                n += 1
    for sram in (2**21, 2**22, 2**23):  # the memory curve, needed SRAM at the largest
        for strategy in ("fsedp-paired", "ep"):
            r = row(n, strategy, 1e6 / sram * 2**20, model="x", sram_bytes=sram)
            r |= {"min_sram.sram_bytes": 2**21, "min_sram.latency_cycles": 1e6}
            rows.append(r)
            n += 1
    for buffers in (4, 8):  # heatmaps
        for ddr in (12.8, 25.6):
            for d2d in (144.0, 288.0):
                rows.append(row(n, "ep", 1e5 / ddr, model="y", slice_buffers=buffers,
                                ddr_gbps=ddr, d2d_gbps=d2d))  # fmt: skip
                n += 1
    write_results(rows, str(tmp_path / "r"))
    code, out, err = run_cli(capsys, "plot", tmp_path / "r", "-o", tmp_path / "f")
    assert (code, err) == (0, "")
    stems = ["speedup_2x2", "bound_2x2", "speedup_4x4", "bound_4x4", "memory",
             "heatmap_slice_buffers_ddr_gbps", "heatmap_d2d_gbps_ddr_gbps"]  # fmt: skip
    for stem in stems:
        for fmt in ("png", "svg"):
            path = tmp_path / "f" / f"{stem}.{fmt}"
            assert path.stat().st_size > 5000, path
            assert str(path) in out


@pytest.mark.parametrize(
    "args, message",
    [(["--formats", "gif"], "unknown figure format 'gif'"), (["--baseline", "x"], "--baseline x")],
)
def test_plot_errors_exit_1(capsys, tmp_path, args, message):
    write_results(
        [row(0, "fsedp-paired", 100.0), row(1, "ep", 150.0, tokens=32)], str(tmp_path / "r")
    )
    code, _, err = run_cli(capsys, "plot", tmp_path / "r", "-o", tmp_path / "f", *args)
    assert code == 1 and message in err


def test_tune_keeps_to_its_budget_and_marks_the_best(capsys, tmp_path):
    (tmp_path / "tiny.moe").write_text(TINY)
    path = tmp_path / "t.toml"
    path.write_text('[study]\nbase = "tiny.moe"\n[axes]\nstrategy = ["fsedp-paired", "ep"]\n')
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "tune", path, "--budget", 3, "--workers", 0,
                              "--cache", tmp_path / "c", "-o", out)  # fmt: skip
    assert code == 0 and "at most 3 settings per workload and strategy" in stdout
    rows = read_results(str(out))
    for strategy in ("fsedp-paired", "ep"):
        tried = [r for r in rows if r["config.strategy"] == strategy]
        assert len(tried) == 3
        best = [r for r in tried if r["tune.best"]]
        assert len(best) == 1
        assert best[0]["latency_cycles"] == min(r["latency_cycles"] for r in tried)


def test_study_file_error_names_the_file(tmp_path):
    with pytest.raises(FsedpError, match="cannot read"):
        load_study(str(tmp_path / "none.toml"))
