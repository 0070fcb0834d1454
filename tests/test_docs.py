"""README's promises that code can check: every hardware field and preset is documented."""

from __future__ import annotations

from pathlib import Path

from fsedp_compiler.presets import MODEL_PRESETS, SYSTEM_FIELDS, SYSTEM_PRESETS

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_documents_every_system_field() -> None:
    missing = [f for f in SYSTEM_FIELDS if f != "name" and f"`{f}`" not in README]
    assert missing == []


def test_readme_lists_every_preset() -> None:
    missing = [p for p in (*SYSTEM_PRESETS, *MODEL_PRESETS) if f"`{p}`" not in README]
    assert missing == []


def test_readme_quick_start_has_the_two_commands() -> None:
    assert 'pip install -e ".[dev]" && fsedp-opt examples/deepseek_moe_256.moe' in README
    assert "\npytest\n" in README
