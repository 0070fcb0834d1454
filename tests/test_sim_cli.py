"""`fsedp-sim` and `fsedp-opt -t sim-report`: outputs, and errors as messages, not tracebacks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fsedp_compiler import cli, sim_cli
from fsedp_compiler.testing import ONE_SLICE_PROGRAM, module_text

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "deepseek_trace_8.moe"
PROGRAM = ONE_SLICE_PROGRAM


@pytest.fixture
def lowered(tmp_path: Path) -> Path:
    path = tmp_path / "lowered.mlir"
    path.write_text(module_text({0: PROGRAM}))
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = sim_cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_summary(capsys, lowered):
    code, out, err = run(capsys, lowered)
    assert (code, err) == (0, "")
    assert "latency: 300.0 cycles = 0.300 us" in out
    assert "lower bound: 200.0 cycles (ddr_busiest_channel)" in out


def test_json_csv_and_trace_files(capsys, lowered, tmp_path):
    files = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "trace")}
    code, out, err = run(
        capsys, lowered, "--json", files["json"], "--csv", files["csv"], "--trace", files["trace"]
    )
    assert (code, err) == (0, "")
    report = json.loads(files["json"].read_text())
    assert report["latency_cycles"] == 300.0
    rows = list(csv.DictReader(files["csv"].open()))
    assert rows[0]["chiplet"] == "0" and float(rows[0]["compute_utilization"]) > 0.33
    trace = json.loads(files["trace"].read_text())
    assert any(e["ph"] == "X" and e["name"].startswith("gemm") for e in trace["traceEvents"])


def test_json_to_stdout_is_byte_identical_across_runs(capsys, lowered):
    first = run(capsys, lowered, "--json", "-")[1]
    second = run(capsys, lowered, "--json", "-")[1]
    assert first == second
    assert json.loads(first)["latency_cycles"] == 300.0


@pytest.mark.parametrize(
    ("args", "expected", "message"),
    [
        (["{lowered}", "--strategy", "ep"], 2, "already lowered to cisa programs"),
        (["{lowered}", "--check-numerics"], 1, "needs the moe.layer"),
        ([str(EXAMPLE), "--check-numerics", "--numerics-scale", "0"], 2, "must be a positive"),
    ],
)
def test_user_errors(capsys, lowered, args, expected, message):
    try:
        code, out, err = run(capsys, *[a.format(lowered=lowered) for a in args])
    except SystemExit as exit_:  # argparse refuses a flag's value itself
        code, err = exit_.code, capsys.readouterr().err
    assert code == expected  # 2: the command line is at fault, 1: the input
    assert message in err
    assert "Traceback" not in err


def test_parse_error_and_deadlock(capsys, tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text(module_text({0: "    cisa.bogus"}))
    code, _, err = run(capsys, bad)
    assert code == 1 and "cisa.bogus" in err and "Traceback" not in err
    stuck = tmp_path / "stuck.mlir"
    programs = {
        c: "    %b = cisa.alloc act bytes 1 tokens array<i32: 0>\n"
        f"    cisa.recv %b from {1 - c} tag {c} bytes 1\n"
        f"    cisa.send %b to {1 - c} tag {1 - c} bytes 1"
        for c in (0, 1)
    }
    stuck.write_text(module_text(programs | {2: "    %w = cisa.alloc weight bytes 1"}))
    code, _, err = run(capsys, stuck)
    assert code == 1 and "deadlock" in err and "chiplet 2" not in err


def test_sim_report_target(capsys, lowered):
    code = cli.run([str(lowered), "-t", "sim-report{format=json}"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(out)["latency_cycles"] == 300.0
    # a target option is the command line's: a usage error, checked before any work
    code = cli.run([str(lowered), "-t", "sim-report{format=yaml}"])
    _, err = capsys.readouterr()
    assert code == 2 and "format 'yaml' is unknown" in err


def test_console_script(lowered):
    script = Path(sys.executable).with_name("fsedp-sim")
    result = subprocess.run(
        [str(script), str(lowered), "--json", "-"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["latency_cycles"] == 300.0


def test_not_utf8_mlir_is_located(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.mlir"
    path.write_bytes(b"builtin.module {\n}\n\xff\n")
    code, _, err = run(capsys, path)
    assert code == 1
    assert err.startswith(f"{path}:3:1: error: not UTF-8 text: byte 0xff (invalid start byte)\n")


def test_mlir_system_is_held_to_the_limits(lowered: Path, capsys) -> None:
    text = lowered.read_text()
    assert "clock_ghz 1.0" in text
    lowered.write_text(text.replace("clock_ghz 1.0", "clock_ghz 1.0e999"))
    code, _, err = run(capsys, lowered)
    assert code == 1
    # The machine's attribute checks itself while it is read: the error points into the text.
    assert err.startswith(f"{lowered}:1:60: error: ")
    assert "system field 'clock_ghz' must be finite, got inf" in err


def test_summary_gives_sizes_in_one_way_with_units(capsys, lowered):
    out = run(capsys, lowered)[1]
    assert "SRAM: peak 6600 B (6.4 KiB) of 1048576 B (1.0 MiB) per chiplet" in out
    assert "channel 0 at chiplet 0: 1 loads, 6400 B (6.2 KiB), utilization 66.7%" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("0 "))
    assert row.split()[3:5] == ["6.4", "KiB"]  # the SRAM peak column, as the headline
    assert " bytes" not in out


def test_a_small_utilization_is_not_shown_as_zero():
    from backends.sim.report import _percent

    assert [_percent(x) for x in (0.0, 0.0004, 0.0005, 0.979)] == ["0.0%", "<0.1%", "0.1%", "97.9%"]


def _mesh_layer(tmp_path: Path, rows: int, cols: int) -> Path:
    path = tmp_path / f"mesh{rows}x{cols}.moe"
    path.write_text(
        f"system paper-4x4 {{ rows = {rows} cols = {cols} }}\n"
        'model { name = "t" hidden = 16 ffn = 16 experts = 8 shared = 0 top_k = 2 }\n'
        "workload { tokens = 40 routing = uniform(seed = 1) }\nstrategy fsedp\n"
    )
    return path


def test_summary_is_compact_above_16_chiplets(capsys, tmp_path):
    layer = _mesh_layer(tmp_path, 5, 4)
    code, compact, _ = run(capsys, layer)
    assert code == 0
    assert "chiplets: 20" in compact and "finish_cycles" not in compact
    assert "  busiest: link " in compact and compact.count("  link ") == 0
    assert compact.rstrip().endswith("(--full lists every chiplet, channel and link)")
    code, full, _ = run(capsys, layer, "--full")
    rows = [line for line in full.splitlines() if line[:9].strip().isdigit()]
    assert code == 0 and len(rows) == 20 and full.count("  link ") > 1
    code, sixteen, _ = run(capsys, _mesh_layer(tmp_path, 4, 4))
    assert code == 0 and "finish_cycles" in sixteen and "--full" not in sixteen
