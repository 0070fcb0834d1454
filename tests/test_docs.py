"""README's promises that code can check: the hardware table is the field table, every preset
is documented."""

from __future__ import annotations

from pathlib import Path

from dialects.machine import SYSTEM_FIELDS, Field
from fsedp_compiler.presets import MODEL_PRESETS, SYSTEM_PRESETS

README = (Path(__file__).parent.parent / "README.md").read_text()


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


def test_readme_quick_start_has_the_two_commands() -> None:
    assert 'pip install -e ".[dev]" && fsedp-opt examples/deepseek_moe_256.moe' in README
    assert "\npytest\n" in README
