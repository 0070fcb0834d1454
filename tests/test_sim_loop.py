"""The simulator's event loop, compiled by mypyc at install time (setup.py), against its own
Python source: the same results bit for bit; the compiled one in use wherever the install had a
C compiler; a compiled module that no longer matches the source is never run."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librt.vecs import vec
from mypy_extensions import i64

from backends.sim import engine, loop_choice
from backends.sim.program import flatten
from fsedp_compiler.pipelines import compile_module
from fsedp_compiler.testing import workload_module

CASES = [
    ("deepseek-moe-16b", 32, "paper-2x2", "fsedp"),
    ("deepseek-moe-16b", 32, "paper-2x2", "fsedp-paired"),
    ("deepseek-moe-16b", 32, "paper-2x2", "ep"),
    ("deepseek-moe-16b", 32, "paper-2x2", "hydra"),
    # Loads that cross the mesh and share links with transfers (rates recomputed).
    ("qwen3-30b-a3b", 48, "paper-3x3", "fsedp-paired"),
    ("qwen3-30b-a3b", 48, "paper-3x3", "ep"),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: "-".join(map(str, case)))
def flat(request):
    model, tokens, system, strategy = request.param
    module = workload_module(model, tokens, system=system, strategy=strategy)
    return flatten(compile_module(module, strategy=strategy, verify_ir=False) or module)


def test_compiled_and_source_loops_agree_bit_for_bit(flat):
    installed = engine.run(flat, trace=True, record_order=True)
    source = engine.run(flat, trace=True, record_order=True, pure_python=True)
    assert dataclasses.asdict(installed) == dataclasses.asdict(source)
    assert installed.latency > 0


def test_order_is_recorded_only_when_asked(flat):
    assert engine.run(flat).order is None
    order = engine.run(flat, record_order=True).order
    assert sorted(order) == sorted(set(order))  # each data effect once


@pytest.mark.parametrize("pure_python", [False, True], ids=["installed", "source"])
@given(times=st.lists(st.integers(0, 6).map(float), max_size=60), pops=st.data())
def test_event_heap_serves_time_then_push_order(pure_python, times, pops):
    """The loop's own binary heap against sorting by (time, push order), with pops between
    pushes and many equal times (ties are what first-come first-served is about)."""
    none = vec[i64]()  # no instructions, programs or flows
    loop = (engine.loop_source().Loop if pure_python else engine.Loop)(
        none, none, none, none, none, [], [], [], [],  # instructions, programs
        none, none, none, none, none, none, vec[float](), none, [], 1.0, False, False,  # flows
    )  # fmt: skip
    pending: list[tuple[float, int, int]] = []
    served, expected = [], []
    for x, time in enumerate(times):
        seq = loop.push(time, x % 3, x)
        pending.append((time, seq, x * 4 + x % 3))
        if pops.draw(st.booleans()):
            served.append(loop.pop())
            expected.append(min(pending))
            pending.remove(expected[-1])
    while loop.heap_size:
        served.append(loop.pop())
    assert served == expected + sorted(pending)


def _has_c_compiler() -> bool:
    return any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


@pytest.mark.skipif(
    loop_choice.pure_python_requested() or not _has_c_compiler(),
    reason="installed without the compiled loop on purpose (FSEDP_PURE_PYTHON) or no C compiler",
)
def test_the_install_compiled_the_loop():
    assert engine.LOOP_COMPILED, (
        "backends/sim/loop.py runs as plain Python although a C compiler is present: "
        "reinstall with `pip install -e .` and read the build log (for an install made with "
        "FSEDP_PURE_PYTHON=1 on purpose, set it when running the tests too)"
    )


compiled_only = pytest.mark.skipif(
    not loop_choice._compiled(loop_choice._loop),
    reason="no compiled loop in this install (the test above says whether it should have one)",
)


@compiled_only
@pytest.mark.parametrize("path", ["backends/sim/loop.py", "dialects/cisa_opcodes.py"])
def test_a_stale_compiled_loop_is_not_run(monkeypatch, path):
    import backends.sim._loop_stamp as stamp

    assert path in stamp.SOURCES
    monkeypatch.setitem(stamp.SOURCES, path, "0" * 64)
    with pytest.warns(UserWarning, match=f"{path} changed after .* was compiled"):
        chosen = loop_choice._loop_module()
    assert chosen is loop_choice.loop_source()
    assert chosen.__file__.endswith("loop.py")


@compiled_only
def test_a_missing_stamp_counts_as_stale(monkeypatch):
    monkeypatch.setitem(sys.modules, "backends.sim._loop_stamp", None)
    with pytest.warns(UserWarning, match="changed after .* was compiled"):
        assert loop_choice._loop_module() is loop_choice.loop_source()


@compiled_only
def test_the_current_compiled_loop_is_chosen():
    assert loop_choice._loop_module() is loop_choice._loop


def test_a_compiled_loop_that_does_not_load_is_not_fatal(monkeypatch):
    import importlib

    def broken(name, *args):
        raise ValueError("ABI version conflict for librt.vecs, expected 1, found 2")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.warns(UserWarning, match="compiled event loop cannot be loaded .*ABI version"):
        assert loop_choice._import_installed() is None
    monkeypatch.setattr(loop_choice, "_loop", None)
    assert loop_choice._loop_module() is loop_choice.loop_source()


def test_a_loop_the_install_did_not_compile_is_said(monkeypatch):
    source = loop_choice.loop_source()
    monkeypatch.setattr(loop_choice, "_loop", source)
    monkeypatch.delenv("FSEDP_PURE_PYTHON", raising=False)
    with pytest.warns(UserWarning, match="not compiled at install time"):
        assert loop_choice._loop_module() is source
    monkeypatch.setenv("FSEDP_PURE_PYTHON", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for on purpose: no note
        assert loop_choice._loop_module() is source


def test_the_tools_print_warnings_as_warnings():
    # In a process of its own: pytest records warnings instead of printing them.
    code = (
        "import warnings; from fsedp_compiler.cli_common import run_reporting_errors; "
        "run_reporting_errors(lambda: warnings.warn('the loop is slow', stacklevel=1))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "warning: the loop is slow\n")


def test_pure_python_can_be_asked_for_at_run_time(monkeypatch):
    monkeypatch.setenv("FSEDP_PURE_PYTHON", "1")
    assert loop_choice._loop_module().__file__.endswith("loop.py")
    monkeypatch.setenv("FSEDP_PURE_PYTHON", "0")
    assert not loop_choice.pure_python_requested()


def test_fsedp_sim_version_says_which_loop_runs(capsys):
    from fsedp_compiler import sim_cli

    with pytest.raises(SystemExit) as exit_info:
        sim_cli.run(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    expected = "compiled with mypyc" if engine.LOOP_COMPILED else "plain Python"
    assert out.startswith("fsedp-sim ") and expected in out
