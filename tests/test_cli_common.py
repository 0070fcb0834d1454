"""What `fsedp-opt` and `fsedp-sim` share: one error vocabulary and one exit-code table
(README, "Errors"), the same rules for input files, standard input and `-` as an output, versions
that name fsedp and xDSL, and a start-up that imports nothing heavy before the arguments parse."""

from __future__ import annotations

import argparse
import io
import json
import shlex
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from fsedp_compiler import cli, opt_command, registry, sim_cli
from fsedp_compiler.cli_common import (
    EXIT_INTERNAL_ERROR,
    EXIT_OK,
    EXIT_USAGE_ERROR,
    EXIT_USER_ERROR,
)
from fsedp_compiler.testing import ONE_SLICE_PROGRAM, module_text

TOOLS = {"opt": cli.run, "sim": sim_cli.run}
MOE = (
    "system paper-2x2\n"
    'model { name = "t" hidden = 8 ffn = 8 experts = 4 shared = 0 top_k = 2 }\n'
    "workload { tokens = 4 routing = uniform(seed = 1) }\nstrategy fsedp\n"
)
PROGRAM = ONE_SLICE_PROGRAM


def _run(tool: str, args: list[str], capsys) -> tuple[int, str, str]:
    code = TOOLS[tool]([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


@pytest.fixture
def moe(tmp_path: Path) -> Path:
    path = tmp_path / "layer.moe"
    path.write_text(MOE)
    return path


# -- input files -------------------------------------------------------------------------------

ADVICE = "; name it .moe or .mlir, or give -f moe or -f mlir"


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.moe", "cannot read {path}: No such file or directory"),
        ("layer.txt", "cannot tell the format of {path} from its extension '.txt'" + ADVICE),
        ("layer", "cannot tell the format of {path}, which has no extension" + ADVICE),
        ("folder.moe/", "cannot read {path}: Is a directory"),
    ],
)
def test_bad_input_file_is_a_usage_error(tmp_path, capsys, tool, name, message) -> None:
    path = tmp_path / name
    if name == "folder.moe/":
        path.mkdir()
    elif name != "missing.moe":
        path.write_text(MOE)
    code, out, err = _run(tool, [path], capsys)
    assert (code, out) == (EXIT_USAGE_ERROR, "")
    assert err == f"error: {message.format(path=path)}\n"


@pytest.mark.parametrize("tool", TOOLS)
def test_format_flag_overrides_the_extension(tmp_path, capsys, tool) -> None:
    path = tmp_path / "layer.txt"
    path.write_text(MOE)
    code, out, err = _run(tool, [path, "-f", "moe"], capsys)
    assert (code, err) == (EXIT_OK, "")
    assert "moe.layer @layer0" in out if tool == "opt" else "latency:" in out
    with pytest.raises(SystemExit) as exit_info:
        _run(tool, [path, "-f", "yaml"], capsys)
    assert exit_info.value.code == EXIT_USAGE_ERROR
    assert capsys.readouterr().err.endswith(
        f"fsedp-{tool}: error: argument -f/--frontend: unknown input format 'yaml'; "
        "use one of: moe, mlir\n"
    )


@pytest.mark.parametrize("tool", TOOLS)
def test_standard_input_is_mlir_unless_told(monkeypatch, capsys, tool) -> None:
    lowered = module_text({0: PROGRAM})
    for args in (["-"], [] if tool == "opt" else ["-"]):
        _stdin(monkeypatch, lowered)
        code, out, err = _run(tool, args, capsys)
        assert (code, err) == (EXIT_OK, "")
        assert "cisa.program" in out if tool == "opt" else "latency: 300.0 cycles" in out
    _stdin(monkeypatch, MOE)
    code, _, err = _run(tool, ["-"], capsys)
    assert code == EXIT_USER_ERROR  # the .moe text read as MLIR
    assert err.startswith("<stdin>:1:8: error: Operation system is not registered\n")
    _stdin(monkeypatch, MOE)
    code, out, err = _run(tool, ["-", "-f", "moe"], capsys)
    assert (code, err) == (EXIT_OK, "")


@pytest.mark.parametrize("script", ["fsedp-opt", "fsedp-sim"])
def test_dev_stdin_with_a_format(script: str) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name(script)), "/dev/stdin", "-f", "moe"],
        input=MOE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "moe.layer" in result.stdout or "latency:" in result.stdout


def test_bad_content_is_bad_input_for_both(tmp_path, capsys) -> None:
    path = tmp_path / "bad.moe"
    path.write_text("system paper-2x2 { ddr = [] }\n" + MOE.split("\n", 1)[1])
    for tool in TOOLS:
        code, _, err = _run(tool, [path], capsys)
        assert code == EXIT_USER_ERROR
        assert err.splitlines()[0] == (
            f"{path}:1:26: error: system field 'ddr' needs at least one DDR channel, got none"
        )


@pytest.mark.parametrize("tool", TOOLS)
def test_internal_error_is_said_as_such(monkeypatch, moe, capsys, tool) -> None:
    from fsedp_compiler.frontend import MoeFrontend

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(MoeFrontend, "parse", broken)
    monkeypatch.delenv("FSEDP_TRACEBACK", raising=False)
    code, _, err = _run(tool, [moe], capsys)
    assert code == EXIT_INTERNAL_ERROR
    assert err == (
        "internal error: ZeroDivisionError: boom\n"
        "this is a bug in fsedp; set FSEDP_TRACEBACK=1 for the traceback\n"
    )
    monkeypatch.setenv("FSEDP_TRACEBACK", "1")
    _, _, err = _run(tool, [moe], capsys)
    assert err.startswith("Traceback (most recent call last):")


@pytest.mark.parametrize(("tool", "flags"), [("opt", ["-p", "cse{a=1,b=2}"]), ("sim", ["-x"])])
def test_malformed_command_line_is_a_usage_error(moe, capsys, tool, flags) -> None:
    try:
        code, _, err = _run(tool, [moe, *flags], capsys)
    except SystemExit as exit_info:  # argparse
        code, err = exit_info.code, capsys.readouterr().err
    assert code == EXIT_USAGE_ERROR
    assert "error:" in err and "Traceback" not in err


def test_unknown_strategy_is_a_usage_error(moe, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sim_cli.run([str(moe), "--strategy", "bogus"])
    assert exit_info.value.code == EXIT_USAGE_ERROR
    assert "argument --strategy: invalid choice: 'bogus'" in capsys.readouterr().err
    from fsedp_compiler.pipelines import PIPELINES

    assert set(sim_cli.STRATEGIES) == set(PIPELINES)


# -- outputs: `-` is standard output everywhere --------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "starts"), [("--json", '{\n  "schema"'), ("--csv", "chiplet,"), ("--trace", "{")]
)
def test_sim_output_to_stdout_replaces_the_summary(moe, capsys, flag, starts) -> None:
    code, out, err = _run("sim", [moe, flag, "-"], capsys)
    assert (code, err) == (EXIT_OK, "")
    assert out.startswith(starts) and "latency:" not in out
    if flag != "--csv":
        json.loads(out)


def test_sim_outputs_are_checked_before_the_work(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.moe"
    bad.write_text("not a layer")  # never read: the outputs are refused first
    cases = {
        (
            "--json",
            "-",
            "--csv",
            "-",
        ): "only one output can go to standard output (-): --json, --csv",
        (
            "--csv",
            f"{tmp_path}/no/x.csv",
        ): f"cannot write {tmp_path}/no/x.csv (--csv): no directory {tmp_path}/no",
        ("--trace", str(tmp_path)): f"cannot write {tmp_path} (--trace): it is a directory",
    }
    for flags, message in cases.items():
        code, out, err = _run("sim", [bad, *flags], capsys)
        assert (code, out, err) == (EXIT_USAGE_ERROR, "", f"error: {message}\n")


def test_opt_output_file(moe, tmp_path, capsys) -> None:
    code, out, _ = _run("opt", [moe, "-o", "-"], capsys)
    assert code == EXIT_OK and "moe.layer" in out
    code, out, err = _run("opt", [moe, "-o", tmp_path / "no" / "x.mlir"], capsys)
    assert (code, out) == (EXIT_USAGE_ERROR, "")
    assert err == f"error: cannot write {tmp_path}/no/x.mlir (-o): no directory {tmp_path}/no\n"
    code, _, err = _run("opt", [moe, "-p", "fsedp", "--emit-programs", "-"], capsys)
    assert code == EXIT_USAGE_ERROR
    assert err == "error: --emit-programs takes a directory, not - (standard output)\n"


def test_emit_programs_prints_the_ir_only_when_asked(moe, tmp_path, capsys) -> None:
    programs = tmp_path / "programs"
    code, out, err = _run("opt", [moe, "-p", "fsedp", "--emit-programs", programs], capsys)
    assert (code, out, err) == (EXIT_OK, "", "")
    assert (programs / "manifest.json").exists()
    for asked in (["-o", "-"], ["-t", "mlir"], ["-t", "cisa-asm"]):
        code, out, _ = _run(
            "opt", [moe, "-p", "fsedp", "--emit-programs", programs, *asked], capsys
        )
        assert code == EXIT_OK and ("cisa.program" in out or ".program chiplet0" in out)
    written = tmp_path / "out.mlir"
    code, out, _ = _run(
        "opt", [moe, "-p", "fsedp", "--emit-programs", programs, "-o", written], capsys
    )
    assert (code, out) == (EXIT_OK, "") and "cisa.program" in written.read_text()


# -- help, version and start-up ------------------------------------------------------------------


@pytest.mark.parametrize(("tool", "extra"), [("opt", ""), ("sim", "; event loop: ")])
def test_version_names_fsedp_and_xdsl(capsys, tool, extra) -> None:
    with pytest.raises(SystemExit) as exit_info:
        TOOLS[tool](["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"fsedp-{tool} {version('fsedp')} (xDSL {version('xdsl')}{extra}")


def test_opt_help_lists_our_flags_first_then_every_pass(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.run(["--help"])
    text = capsys.readouterr().out
    assert text.index("--emit-programs") < text.index("--time-passes") < text.index("--shrink")
    assert "docs/compiler.md" in text
    documented = {**opt_command.STRATEGY_HELP, **opt_command.PASS_HELP}
    assert set(documented) | set(opt_command.UPSTREAM_PASSES) == set(registry.get_all_passes())
    for name, line in documented.items():
        assert f"    {name}  " in text and line in text


def test_opt_arguments_cover_the_xdsl_driver() -> None:
    """Every argument xDSL's driver reads is defined by ours (we replace its parser)."""
    from xdsl.xdsl_opt_main import xDSLOptMain

    bare = xDSLOptMain.__new__(xDSLOptMain)
    bare.available_frontends, bare.available_passes, bare.available_targets = {}, {}, {}
    theirs, ours = argparse.ArgumentParser(), opt_command.argument_parser()
    xDSLOptMain.register_all_arguments(bare, theirs)
    assert {a.dest for a in theirs._actions} <= {a.dest for a in ours._actions}


def test_sim_help_states_the_compact_threshold(capsys) -> None:
    from backends.sim.report import COMPACT_ABOVE

    with pytest.raises(SystemExit):
        sim_cli.run(["--help"])
    assert f"up to {COMPACT_ABOVE} chiplets" in " ".join(capsys.readouterr().out.split())


HEAVY = ("xdsl.ir", "xdsl.xdsl_opt_main", "numpy", "networkx", "passes", "backends.sim.engine")


@pytest.mark.parametrize(
    "call",
    [
        "from fsedp_compiler.opt_command import main; main(['--help'])",
        "from fsedp_compiler.opt_command import main; main(['--version'])",
        "from fsedp_compiler.sim_cli import main; main(['--help'])",
        "from fsedp_compiler.sim_cli import main; main(['--version'])",
    ],
)
def test_help_and_version_import_nothing_heavy(call: str) -> None:
    code = (
        f"import sys\ntry:\n    {call}\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stderr == "[]\n"


def test_a_program_read_from_text_names_the_line_of_its_fault(tmp_path, capsys) -> None:
    # Blank lines and an odd indentation inside the body: the position still follows the text.
    body = (
        "    %a0 = cisa.alloc act bytes 8 tokens array<i32: 0>\n"
        "\n"
        "    cisa.free %a0\n"
        "      cisa.free %a0"
    )
    path = tmp_path / "twice.mlir"
    path.write_text(module_text({0: body}))
    line = path.read_text().splitlines().index("      cisa.free %a0") + 1
    for tool in TOOLS:
        code, _, err = _run(tool, [str(path)], capsys)
        assert code == EXIT_USER_ERROR
        assert err.startswith(f"{path}:{line}:7: error: chiplet 0, instruction 2 (cisa.free %a0)")
        assert "builtin.module" not in err  # the line, not a dump of the module


def test_an_ir_dump_in_an_error_is_cut_to_readable_lines(tmp_path, capsys) -> None:
    # A program in generic form carries its code as one string, so an error in it has no line
    # to point at and shows xDSL's dump of the module: each line is cut.
    code = "\\0A".join(["cisa.barrier"] * 200)  # no cisa.end
    path = tmp_path / "generic.mlir"
    path.write_text(
        '"builtin.module"() ({\n'
        '  "cisa.program"() <{sym_name = "chiplet0", chiplet = 0 : i64, '
        f'code = #cisa.code<"{code}">}}> ({{\n'
        "  }) : () -> ()\n"
        "}) : () -> ()\n"
    )
    for tool in TOOLS:
        exit_code, _, err = _run(tool, [str(path)], capsys)
        assert exit_code == EXIT_USER_ERROR
        assert "the program does not end with cisa.end" in err
        assert max(map(len, err.splitlines())) < 400 and "more characters)" in err


# -- outputs that fail, outputs left alone -----------------------------------------------------


def _console(tool: str, args: list, redirect: str) -> subprocess.CompletedProcess:
    """The console script of `tool`, its standard streams set by a shell `redirect`."""
    module = {"opt": "fsedp_compiler.opt_command", "sim": "fsedp_compiler.sim_cli"}[tool]
    command = [sys.executable, "-c", f"from {module} import main; main()", *map(str, args)]
    return subprocess.run(
        ["bash", "-c", f"{shlex.join(command)} {redirect}"],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(("tool", "flags"), [("opt", []), ("sim", []), ("sim", ["--json", "-"])])
def test_standard_output_full_is_a_usage_error(tool: str, flags: list[str], moe: Path) -> None:
    result = _console(tool, [moe, *flags], "> /dev/full")
    assert result.returncode == EXIT_USAGE_ERROR, result.stderr
    assert result.stderr == "error: cannot write standard output: No space left on device\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(("tool", "flag"), [("opt", "-o"), ("sim", "--json")])
def test_output_file_full_is_a_usage_error(tool: str, flag: str, moe: Path, capsys) -> None:
    code, _, err = _run(tool, [moe, flag, "/dev/full"], capsys)
    assert (code, err) == (
        EXIT_USAGE_ERROR,
        "error: cannot write /dev/full: No space left on device\n",
    )


@pytest.mark.parametrize("tool", TOOLS)
def test_closed_standard_streams_are_usage_errors(tool: str, moe: Path) -> None:
    result = _console(tool, [moe], ">&-")
    assert result.returncode == EXIT_USAGE_ERROR, result.stderr
    assert result.stderr == "error: cannot write standard output: it is closed\n"
    result = _console(tool, ["-", "-f", "moe"], "<&- > /dev/null")
    assert result.returncode == EXIT_USAGE_ERROR, result.stderr
    assert result.stderr == "error: cannot read standard input: it is closed\n"


@pytest.mark.parametrize(("tool", "flag"), [("opt", "-o"), ("sim", "--json"), ("sim", "--csv")])
def test_failing_run_leaves_an_existing_output_alone(
    tool: str, flag: str, tmp_path: Path, capsys
) -> None:
    bad, out = tmp_path / "bad.moe", tmp_path / "out.txt"
    bad.write_text("system bogus\n")
    out.write_text("keep\n")
    code, _, err = _run(tool, [bad, flag, out], capsys)
    assert code == EXIT_USER_ERROR and "unknown system preset 'bogus'" in err
    assert out.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.moe", "out.txt"]  # no leftovers


def test_output_replaced_keeps_the_file_mode(moe: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.mlir"
    out.write_text("old\n")
    out.chmod(0o640)
    assert _run("opt", [moe, "-o", out], capsys)[0] == EXIT_OK
    assert out.read_text().startswith("builtin.module") and out.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("tool", TOOLS)
def test_an_input_past_its_size_limit_is_refused_unread(tmp_path, capsys, tool) -> None:
    path = tmp_path / "huge.moe"
    with open(path, "wb") as stream:
        stream.truncate(2**26 + 1)  # sparse: one byte past the limit, none of it on disk
    code, _, err = _run(tool, [str(path)], capsys)
    assert code == EXIT_USER_ERROR
    assert f"{path}: input is larger than the limit of 64 MiB for moe text" in err


def test_a_parse_error_far_along_a_long_line_keeps_its_caret(tmp_path, capsys) -> None:
    path = tmp_path / "long.mlir"
    path.write_text("builtin.module attributes {x = [" + "1, " * 200 + ' "a" : foo]}\n')
    code, _, err = _run("opt", [str(path)], capsys)
    assert code == EXIT_USER_ERROR
    first, source, caret = err.splitlines()[:3]
    assert first == f"{path}:1:638: error: ']' expected"
    assert len(source) < 200 and source.startswith("...")  # the line around the column
    assert source[caret.index("^")] == ":"  # under the token where ']' was due
