"""Every shipped example parses, prints its moe IR, round-trips, and is valid upstream MLIR."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fsedp_compiler.cli import run

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.moe"))
MLIR_OPT = shutil.which("mlir-opt-22")


def _fsedp_opt(args: list[str], capsys) -> str:
    assert run(args) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_examples_are_shipped() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"deepseek_moe_256.moe", "qwen3_30b_a3b_64.moe"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_prints_moe_ir_that_round_trips(example: Path, tmp_path: Path, capsys) -> None:
    first = _fsedp_opt([str(example)], capsys)
    assert "moe.layer @layer0" in first
    assert "chiplet.system = #chiplet.system<" in first
    printed = tmp_path / "first.mlir"
    printed.write_text(first)
    assert _fsedp_opt([str(printed)], capsys) == first


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_is_deterministic(example: Path, capsys) -> None:
    assert _fsedp_opt([str(example)], capsys) == _fsedp_opt([str(example)], capsys)


@pytest.mark.skipif(MLIR_OPT is None, reason="mlir-opt-22 is not installed (CI installs it)")
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_generic_form_is_valid_upstream_mlir(example: Path, capsys) -> None:
    generic = _fsedp_opt([str(example), "--print-op-generic"], capsys)
    result = subprocess.run(
        [MLIR_OPT, "--allow-unregistered-dialect", "--verify-each"],
        input=generic,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"moe.layer"()' in result.stdout


def _header_commands(example: Path) -> list[list[str]]:
    """The commands an example's header tells the reader to run."""
    commands = []
    for line in example.read_text().splitlines():
        if not line.startswith("//"):
            break
        words = line[2:].split()
        tool = next((i for i, word in enumerate(words) if word.startswith("fsedp-")), None)
        if tool is not None:
            commands.append(words[tool:])
    return commands


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_header_commands_run(example: Path, monkeypatch, capsys) -> None:
    from fsedp_compiler import sim_cli

    commands = _header_commands(example)
    assert [command[0] for command in commands] == ["fsedp-sim", "fsedp-opt"]
    monkeypatch.chdir(example.parent.parent)  # "from the repository root"
    for tool, *args in commands:
        code = (sim_cli.run if tool == "fsedp-sim" else run)(args)
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), err
        assert "latency:" in out if tool == "fsedp-sim" else ".program chiplet0" in out
