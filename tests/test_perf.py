"""`paused_gc`: the collector is off inside, back on after, and cyclic garbage made inside is
still freed (by the next full collection, or by paused_gc itself after enough objects)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from fsedp_compiler import perf


class Node:
    def __init__(self):
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _garbage_cycle() -> weakref.ref:
    return weakref.ref(Node())


@pytest.fixture
def collector_on():
    was_enabled = gc.isenabled()
    gc.enable()
    yield
    if not was_enabled:
        gc.disable()


def test_pauses_and_restores_the_collector(collector_on):
    with perf.paused_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing is left frozen


def test_leaves_a_disabled_collector_disabled():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with perf.paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        if was_enabled:
            gc.enable()


def test_cyclic_garbage_made_inside_is_freed_by_a_full_collection(collector_on, monkeypatch):
    monkeypatch.setattr(perf, "_promoted", 0)  # earlier tests may have brought it near the limit
    with perf.paused_gc():
        ref = _garbage_cycle()
    assert ref() is not None  # moved to the oldest generation, not scanned yet
    gc.collect()
    assert ref() is None


def test_runs_a_full_collection_itself_after_enough_objects(collector_on, monkeypatch):
    monkeypatch.setattr(perf, "FULL_COLLECTION_AFTER", 1000)
    monkeypatch.setattr(perf, "_promoted", 0)
    with perf.paused_gc():
        ref = _garbage_cycle()
        kept = [[i] for i in range(2000)]  # 2000 young container objects
    assert ref() is None
    assert perf._promoted == 0
    assert len(kept) == 2000


@pytest.fixture
def restore_collector():
    was_enabled = gc.isenabled()
    yield
    (gc.enable if was_enabled else gc.disable)()


@pytest.mark.parametrize("tool", ["fsedp_compiler.cli", "fsedp_compiler.sim_cli"])
def test_the_command_line_tools_run_without_the_collector(tool, restore_collector, capsys):
    import importlib

    gc.enable()
    with pytest.raises(SystemExit):
        importlib.import_module(tool).main(["--version"])
    assert not gc.isenabled()


def test_collect_between_inputs_frees_cycles_with_the_collector_off(restore_collector):
    gc.disable()
    ref = _garbage_cycle()
    assert ref() is not None
    perf.collect_between_inputs()
    assert ref() is None


def test_fsedp_opt_collects_between_split_inputs(monkeypatch, tmp_path, capsys):
    from fsedp_compiler.cli import run

    calls = []
    monkeypatch.setattr(perf, "collect_between_inputs", lambda: calls.append(1))
    path = tmp_path / "three.mlir"
    path.write_text("builtin.module {}\n// -----\nbuiltin.module {}\n// -----\nbuiltin.module {}\n")
    assert run([str(path), "--split-input-file"]) == 0
    assert capsys.readouterr().out.count("builtin.module") == 3
    assert len(calls) == 2


def test_objects_the_caller_froze_stay_frozen(collector_on):
    kept = [[i] for i in range(100)]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with perf.paused_gc():
            made = [[i] for i in range(100)]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    assert len(kept) == len(made) == 100


def test_exit_process_flushes_the_standard_streams_and_keeps_the_code():
    """The tools end without freeing their objects, but nothing they printed is lost."""
    script = (
        "import sys\n"
        "from fsedp_compiler import perf\n"
        "sys.stdout.write('out' * 10000)\n"  # more than one buffer, the last part unflushed
        "sys.stderr.write('err')\n"
        "perf.exit_process(3)\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out" * 10000, "err")


def test_exit_process_exits_normally_under_a_tracer_so_it_can_report():
    previous = sys.gettrace()
    sys.settrace(lambda *_: None)  # as a coverage tool or a debugger does
    try:
        with pytest.raises(SystemExit) as exited:
            perf.exit_process(4)
    finally:
        sys.settrace(previous)
    assert exited.value.code == 4
