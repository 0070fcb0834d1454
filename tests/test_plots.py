"""Figures: `fsedp-sim --plot` (the timeline of one run); the study's figures are tested with
the study (tests/test_study.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fsedp_compiler import sim_cli
from fsedp_compiler.study.plots import timeline_rows

TINY = """system paper-2x2
model { name = tiny  hidden = 64  ffn = 32  experts = 8  shared = 0  top_k = 2 }
workload { tokens = 16  routing = zipf(s = 1.2, seed = 7) }
strategy fsedp-paired
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.moe"
    path.write_text(TINY)
    return path


@pytest.mark.parametrize("suffix, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_timeline_written(capsys, tiny, tmp_path, suffix, magic):
    out = tmp_path / f"timeline.{suffix}"
    assert sim_cli.run([str(tiny), "--plot", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert out.read_bytes().startswith(magic) and out.stat().st_size > 2000


def test_timeline_is_deterministic(tiny, tmp_path):
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    assert sim_cli.run([str(tiny), "--plot", str(first), "-q"]) == 0
    assert sim_cli.run([str(tiny), "--plot", str(second), "-q"]) == 0
    assert first.read_bytes() == second.read_bytes()


def test_timeline_rows_are_the_traces_tracks():
    trace = {
        "traceEvents": [
            {
                "ph": "M",
                "pid": 0,
                "tid": 0,
                "name": "thread_name",
                "args": {"name": "chiplet 0 engine"},
            },
            {"ph": "M", "pid": 2, "tid": 0, "name": "thread_name", "args": {"name": "link 0->1"}},
            {
                "ph": "M",
                "pid": 2,
                "tid": 1,
                "name": "thread_name",
                "args": {"name": "link 0->1 #2"},
            },
            {"ph": "X", "pid": 2, "tid": 1, "ts": 1.0, "dur": 2.0},
            {"ph": "X", "pid": 0, "tid": 0, "ts": 0.0, "dur": 1.0},
            {"ph": "X", "pid": 2, "tid": 0, "ts": 0.5, "dur": 2.0},
        ]
    }
    assert timeline_rows(trace) == [
        (0, "chiplet 0 engine", [(0.0, 1.0)]),
        (2, "link 0->1", [(1.0, 2.0), (0.5, 2.0)]),
    ]


@pytest.mark.parametrize(
    "name, message",
    [
        ("timeline.xyz", "timeline.xyz: name a .png, .svg or .pdf file"),
        ("missing-dir/t.png", "(--plot): no directory"),
        ("-", "--plot -: name a .png, .svg or .pdf file"),
    ],
)
def test_timeline_bad_path_is_a_usage_error(capsys, tiny, tmp_path, name, message):
    """Refused before the run, like every output file of fsedp-sim (exit 2)."""
    path = name if name == "-" else str(tmp_path / name)
    code = sim_cli.run([str(tiny), "--plot", path, "-q"])
    assert code == 2
    assert message in capsys.readouterr().err
