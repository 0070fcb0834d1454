"""Runs the lit/FileCheck suite under pytest, so `pytest` alone covers everything.

lit runs once over the whole suite, in parallel, and each test file becomes one pytest case
that passes only if lit reported that file as passing. Run the suite alone with
`lit -v tests/filecheck`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SUITE = Path(__file__).parent / "filecheck"
LIT_TESTS = sorted(
    p for p in SUITE.rglob("*") if p.suffix in (".mlir", ".moe") and "Inputs" not in p.parts
)


@pytest.fixture(scope="module")
def lit_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Map each test file (relative to the suite) to its failure text, '' when it passed."""
    report = tmp_path_factory.mktemp("lit") / "results.xml"
    # `python -m lit` has no __main__; call its entry point with this interpreter.
    command = [sys.executable, "-c", "import lit.main; lit.main.main()"]
    command += [f"-j{os.cpu_count() or 1}", "-q", f"--xunit-xml-output={report}", str(SUITE)]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if not report.exists():
        pytest.fail(f"lit did not run:\n{run.stdout}\n{run.stderr}")
    results: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        # lit names a case "<suite>.<directory path with dots>" + "name" = the file name.
        relative = case.get("classname", "").split(".", 1)[-1].replace(".", "/")
        failure = case.find("failure")
        key = f"{relative}/{case.get('name')}" if relative != "fsedp" else case.get("name")
        results[key] = "" if failure is None else (failure.text or "failed")
    return results


@pytest.mark.parametrize("test_file", LIT_TESTS, ids=lambda p: str(p.relative_to(SUITE)))
def test_lit(test_file: Path, lit_results: dict[str, str]) -> None:
    key = str(test_file.relative_to(SUITE))
    assert key in lit_results, f"lit did not report {key}; it reported {sorted(lit_results)}"
    assert lit_results[key] == "", lit_results[key]


def test_suite_is_not_empty() -> None:
    assert len(LIT_TESTS) >= 10
