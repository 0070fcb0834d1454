"""The malformed-input corpus: every file under tests/corpus/ is one case for the command-line
tools, and no case may reach the internal-error path (exit 3, "internal error", a traceback).

A case is a file whose first lines say what the tools must do:

    // EXPECT: exit 1: {file}:4:26: error: unterminated string
    // a sentence on why this input is wrong

`{file}` stands for the path of the case, `{dir}` for its folder; `// ALSO: text` lines add
fragments every tool must print too. `// EXPECT opt: ...` or `// EXPECT sim: ...` applies
to `fsedp-opt FILE` or `fsedp-sim FILE` only; a plain `// EXPECT:` to both tools unless a line
for one tool overrides it. The fragment must appear in what the tool prints on stderr; a case
that expects exit 0 must print no error. `// ARGS: flags` (or `// ARGS opt:`, `// ARGS sim:`)
gives command-line flags after the file, split as a shell would (`-p 'fsedp{slices=0}'`), for
cases of pass pipelines, options and flags. Files a case reads (traces, configs) are in
tests/corpus/inputs/. To add a case, add a file.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fsedp_compiler import cli, sim_cli
from fsedp_compiler.errors import split_lines

CORPUS = Path(__file__).parent / "corpus"
RUNNERS = {"opt": cli.run, "sim": sim_cli.run}
# Python's own vocabulary, which no message to a user should need.
PYTHON_WORDS = re.compile(r"<class '|\bNoneType\b|\b(str|int|float|list|dict|tuple) object\b")
_EXPECT = re.compile(r"// EXPECT(?: (opt|sim))?: exit (\d+)(?:: (.*))?")
_ARGS = re.compile(r"// ARGS(?: (opt|sim))?: (.*)")


def _header(path: Path) -> list[str]:
    return split_lines(path.read_bytes().decode("utf-8", errors="replace"))[:8]


def _filled(fragment: str, path: Path) -> str:
    return fragment.replace("{file}", str(path)).replace("{dir}", str(path.parent))


def expectations(path: Path) -> dict[str, tuple[int, str]]:
    """tool -> (exit code, stderr fragment) from the case's `// EXPECT` lines."""
    found: dict[str | None, tuple[int, str]] = {}
    for line in _header(path):
        match = _EXPECT.fullmatch(line)
        if match:
            tool, code, fragment = match.groups()
            found[tool] = (int(code), _filled(fragment or "", path))
    tools = [tool for tool in RUNNERS if tool in found] or list(RUNNERS)
    return {tool: found.get(tool, found.get(None)) for tool in tools}


def arguments(path: Path, tool: str) -> list[str]:
    """The flags the case gives `tool` after its file (`// ARGS` lines)."""
    found: dict[str | None, list[str]] = {}
    for line in _header(path):
        match = _ARGS.fullmatch(line)
        if match:
            found[match.group(1)] = shlex.split(_filled(match.group(2), path))
    return found.get(tool, found.get(None, []))


def also(path: Path) -> list[str]:
    """The fragments of the case's `// ALSO:` lines."""
    return [
        _filled(line[len("// ALSO: ") :], path)
        for line in _header(path)
        if line.startswith("// ALSO: ")
    ]


CASES = sorted(path for path in CORPUS.iterdir() if path.is_file())
RUNS = [
    pytest.param(path, tool, id=f"{path.name}-{tool}")
    for path in CASES
    for tool in expectations(path)
]


def test_every_case_says_what_to_expect() -> None:
    missing = [path.name for path in CASES if None in expectations(path).values()]
    assert missing == []
    assert len(CASES) >= 70


def _check(path: Path, tool: str, code: int, fragments: list[str], capsys) -> None:
    quiet = ["-q"] if tool == "sim" else []
    try:
        actual = RUNNERS[tool]([str(path), *arguments(path, tool), *quiet])
    except SystemExit as exit_:  # argparse ends the process on a usage error, as it should
        actual = exit_.code
    err = capsys.readouterr().err
    assert actual != 3 and "internal error" not in err and "Traceback" not in err, err
    assert not PYTHON_WORDS.search(err), err  # errors speak of the input, not of Python
    assert actual == code, err
    assert [text for text in fragments if text not in err] == [], err
    if code == 0:
        assert "error" not in err


@pytest.mark.parametrize(("path", "tool"), RUNS)
def test_case(path: Path, tool: str, capsys) -> None:
    code, fragment = expectations(path)[tool]
    _check(path, tool, code, [fragment, *also(path)], capsys)


# Cases too large to keep as files, written when the test runs: name -> (text, message).
_TINY = (
    'system paper-2x2 model { name = "t" hidden = 8 ffn = 8 experts = 4 shared = 0 top_k = 2 }\n'
)
GENERATED = {
    "nested-100000-deep.moe": (
        _TINY + "workload { routing = " + "[" * 100000 + "]" * 100000 + " }",
        ":2:86: error: value nested deeper than the limit of 64 levels",
    ),
    "inline-65537-tokens.moe": (
        _TINY + "workload { routing = [" + ", ".join(["[0, 1]"] * 65537) + "] }",
        ":2:22: error: 65537 tokens is more than the limit of 65536 tokens per layer",
    ),
    "inline-10-MB.moe": (
        _TINY + "workload { routing = [" + ",\n".join(["[0, 1]"] * 1250000) + "] }",
        ":2:22: error: 1250000 tokens is more than the limit of 65536 tokens per layer",
    ),
    "mlir-attribute-100000-deep.mlir": (
        "builtin.module attributes {x = " + "[" * 100000 + "]" * 100000 + "} {}",
        ":1:95: error: MLIR nested deeper than the limit of 64 levels of brackets",
    ),
    "mlir-regions-5000-deep.mlir": (
        "builtin.module {\n" + '"test.op"() ({' * 5000 + "}) : () -> ()" * 5000 + "}",
        ":2:448: error: MLIR nested deeper than the limit of 64 levels of brackets",
    ),
    "trace-100000-deep.moe": (
        _TINY + 'workload { routing = trace("deep.json") }',
        "deep.json:1:65: JSON nested deeper than the limit of 64 levels",
    ),
}


@pytest.mark.parametrize("tool", RUNNERS)
@pytest.mark.parametrize("name", GENERATED)
def test_generated_case(tmp_path: Path, name: str, tool: str, capsys) -> None:
    text, message = GENERATED[name]
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    path = tmp_path / name
    path.write_text(text)
    _check(path, tool, 1, [message], capsys)


def test_console_script_agrees_with_run() -> None:
    path = CORPUS / "syntax-bad-escape.moe"
    code, fragment = expectations(path)["sim"]
    result = subprocess.run(
        [sys.executable, "-c", "from fsedp_compiler.sim_cli import main; main()", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, fragment in result.stderr) == (code, True), result.stderr
