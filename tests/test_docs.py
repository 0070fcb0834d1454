"""README's promises that code can check: the hardware table is the field table, every preset
is documented, the quick start is what CI runs and prints what it shows, and the docs stand
alone (every link points inside the repository)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from dialects.machine import SYSTEM_FIELDS, Field
from fsedp_compiler.presets import MODEL_PRESETS, SYSTEM_PRESETS

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _hardware_table() -> list[list[str]]:
    """The cells of the rows of README's table under "## Hardware model"."""
    section = README.split("\n## Hardware model\n", 1)[1]
    lines = section.split("\n| field | unit | paper-2x2 | range | meaning | source |\n", 1)[1]
    rows = []
    for line in lines.split("\n")[1:]:  # below the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def _row(field: Field) -> list[str]:
    """The README row the field table asks for."""
    default = f"`{field.kind.text(field.default)}`"
    return [f"`{field.name}`", field.unit, default, field.kind.range_text(), field.meaning,
            field.source]  # fmt: skip


def test_readme_hardware_table_is_the_field_table() -> None:
    # Field, unit, paper-2x2 default (as the IR and .moe write it), range, meaning and source,
    # in table order. On a mismatch the assertion shows the row to write.
    assert _hardware_table() == [_row(field) for field in SYSTEM_FIELDS.values()]


def test_readme_lists_every_preset() -> None:
    missing = [p for p in (*SYSTEM_PRESETS, *MODEL_PRESETS) if f"`{p}`" not in README]
    assert missing == []


QUICK_START = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && '
    "fsedp-sim examples/deepseek_moe_256.moe"
)


def test_readme_quick_start_is_what_ci_runs() -> None:
    assert f"```sh\n{QUICK_START}\npytest\n```" in README
    ci = (ROOT / ".ci" / "run").read_text().replace("pip install -q ", "pip install ")
    assert f"\n{QUICK_START}\n" in ci and ci.rstrip().endswith("\npytest")


def test_readme_quick_start_output_is_what_the_tool_prints(capsys) -> None:
    from fsedp_compiler import sim_cli

    assert sim_cli.run([str(ROOT / "examples" / "deepseek_moe_256.moe")]) == 0
    printed = capsys.readouterr().out.splitlines()
    shown = README.split(f"{QUICK_START}\npytest\n```", 1)[1].split("```\n", 2)[1]
    for line in shown.splitlines():
        if line.strip() != "...":
            prefix = line.removesuffix(" ...")
            assert any(out.startswith(prefix) for out in printed), line


def test_readme_counts_the_tests_skipped_without_mlir_opt() -> None:
    examples = len(list((ROOT / "examples").glob("*.moe")))
    assert f"({examples} tests), needs `mlir-opt-22`" in README
    assert f"without it those {examples}\nare skipped" in README


def test_docs_link_only_inside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert "shared/" not in text and "DESIGN.md" not in text, doc.name
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (doc.parent / target).resolve().is_relative_to(ROOT), (doc.name, target)
                assert (doc.parent / target).exists(), (doc.name, target)


def test_readme_commands_write_outside_the_checkout() -> None:
    """Run from the repository root, README's commands leave no files there."""
    outputs = ("-o", "--json", "--csv", "--trace", "--emit-programs")
    commands = [line for line in README.splitlines() if line.startswith("fsedp-")]
    assert len(commands) >= 4
    for command in commands:
        words = shlex.split(command.split("|")[0])
        for flag, value in zip(words, words[1:], strict=False):
            if flag in outputs:
                assert value == "-" or value.startswith("/tmp/"), command
        if words[:2] == ["fsedp-study", "run"]:  # its default is results/NAME, in the root
            assert "-o" in words, command
