"""fsedp-opt's user-facing behaviour: exit codes and messages, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fsedp_compiler.cli import EXIT_USAGE_ERROR, EXIT_USER_ERROR, run

GOOD = "system paper-2x2 model qwen3-30b-a3b workload { tokens = 4 routing = uniform(seed = 1) }\n"


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_good_file_exits_zero(tmp_path: Path, capsys) -> None:
    code, out, err = _run([_write(tmp_path, "ok.moe", GOOD)], capsys)
    assert (code, err) == (0, "")
    assert "moe.layer @layer0" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "system paper-2x2 model\n  qwen3 workload {}",
            "ok.moe:2:3: error: unknown model preset 'qwen3'",
        ),
        ("system paper-2x2 {", "ok.moe:1:18: error: syntax error: unexpected end of file"),
        (
            GOOD.replace("tokens = 4", "tokens = -4"),
            "error: workload tokens must be a positive integer",
        ),
    ],
)
def test_bad_moe_is_a_located_error(tmp_path: Path, capsys, text: str, message: str) -> None:
    code, out, err = _run([_write(tmp_path, "ok.moe", text)], capsys)
    assert code == EXIT_USER_ERROR
    assert message in err
    assert "Traceback" not in err + out


def test_syntax_error_shows_source_line_and_caret(tmp_path: Path, capsys) -> None:
    _, _, err = _run([_write(tmp_path, "bad.moe", "system paper-2x2 ? model x")], capsys)
    lines = err.splitlines()
    assert lines[0].endswith(
        "bad.moe:1:18: error: syntax error: unexpected character '?'; "
        "expected 'model', 'strategy', 'system', 'workload', '{'"
    )
    assert lines[1] == "system paper-2x2 ? model x"
    assert lines[2] == " " * 17 + "^"


def test_invalid_ir_names_the_op_and_reason(tmp_path: Path, capsys) -> None:
    ir = (
        'moe.layer @l model #moe.model<"t", hidden 8, ffn 4, experts 4, shared 0, top_k 2, '
        "bytes 1> routing dense<[[0, 9]]> : tensor<1x2xi32>\n"
    )
    code, _, err = _run([_write(tmp_path, "bad.mlir", ir)], capsys)
    assert code == EXIT_USER_ERROR
    assert err.startswith("error: token 0 routes to expert 9, outside the 4 routed experts [0, 3]")
    assert '"moe.layer"()' in err and "Operation does not verify" in err


def test_mlir_syntax_error_is_located(tmp_path: Path, capsys) -> None:
    code, _, err = _run([_write(tmp_path, "bad.mlir", "moe.layr @l\n")], capsys)
    assert code == EXIT_USER_ERROR
    assert "bad.mlir:1:1" in err and "moe.layr is not registered" in err


def test_unknown_pass_lists_known_passes(tmp_path: Path, capsys) -> None:
    code, _, err = _run([_write(tmp_path, "ok.moe", GOOD), "-p", "no-such-pass"], capsys)
    assert code == EXIT_USAGE_ERROR
    assert "Unrecognized passes: ['no-such-pass']; known passes: " in err
    assert "canonicalize" in err


def test_malformed_pipeline_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code, _, err = _run([_write(tmp_path, "ok.moe", GOOD), "-p", "cse{a=1,b=2}"], capsys)
    assert code == EXIT_USAGE_ERROR
    assert "Error parsing pass pipeline specification" in err


def test_missing_input_file(capsys) -> None:
    code, _, err = _run(["/nonexistent/x.moe"], capsys)
    assert code == EXIT_USAGE_ERROR
    assert "No such file or directory" in err


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.moe", "system nope model x workload {}")
    result = subprocess.run(
        [sys.executable, "-c", "from fsedp_compiler.cli import main; main()", bad],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == EXIT_USER_ERROR
    assert "unknown system preset 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_moe_frontend(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["--help"])
    assert exit_info.value.code == 0
    assert "moe" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["bad.mlir", "bad.moe"])
def test_not_utf8_input_is_located(tmp_path: Path, capsys, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"builtin.module {\r\n}\r\n// caf\xe9\n")
    code, _, err = _run([str(path)], capsys)
    assert code == EXIT_USER_ERROR
    assert err.splitlines() == [
        f"{path}:3:7: error: not UTF-8 text: byte 0xe9 (invalid continuation byte)",
        "// caf\ufffd",
        "      ^",
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("clock_ghz 0.8", "clock_ghz 1.0e999", "system field 'clock_ghz' must be finite, got inf"),
        ("d2d_gbps 288.0", "d2d_gbps 1.0e-320", "system field 'd2d_gbps' is 1e-320, outside"),
        (
            "hop_latency_cycles 8",
            "hop_latency_cycles 100000000000000000000000",
            "system field 'hop_latency_cycles' is 1000",
        ),
        (
            "rows 2, cols 2",
            "rows 2, cols 200",
            "system field 'cols' is 200, more than the limit of 16",
        ),
        ("experts 128", "experts 100000", "model field 'experts' is 100000, more than the limit"),
    ],
)
def test_mlir_input_is_held_to_the_same_limits(tmp_path: Path, capsys, old, new, message) -> None:
    from fsedp_compiler.frontend import build_module, parse_moe

    text = str(build_module(parse_moe(GOOD)))
    assert old in text
    path = _write(tmp_path, "big.mlir", text.replace(old, new))
    code, _, err = _run([path, "-p", "fsedp"], capsys)
    assert code == EXIT_USER_ERROR
    # The machine checks itself while it is read, so its errors point into the text.
    where = f"{path}:1:60: error: " if "system field" in message else f"{path}: error: "
    assert err.startswith(where) and message in err


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("fsedp{slices=4 slices=8}", "error: fsedp: option 'slices' is given twice in -p"),
        ("cse,shard-experts{slices=2 min-slices=1 slices=3}", "shard-experts: option 'slices'"),
        ("fsedp{skip_idle=true skip-idle=false}", "option 'skip-idle' is given twice, also as"),
    ],
)
def test_an_option_given_twice_in_p_is_an_error(tmp_path, capsys, pipeline, message) -> None:
    code, out, err = _run([_write(tmp_path, "ok.moe", GOOD), "-p", pipeline], capsys)
    assert (code, out) == (EXIT_USER_ERROR, "")
    assert message in err


def test_one_option_per_pass_in_p_is_fine(tmp_path, capsys) -> None:
    pipeline = "partition-tokens{policy=block},shard-experts{slices=2 min-slices=1}"
    code, out, err = _run([_write(tmp_path, "ok.moe", GOOD), "-p", pipeline], capsys)
    assert (code, err) == (0, "") and "chiplet.expert" in out
