"""`-D KEY=VALUE` overrides on fsedp-opt and fsedp-sim: what they set, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsedp_compiler import cli, sim_cli
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.frontend import parse_moe
from fsedp_compiler.overrides import parse_override

TINY = """system paper-2x2 { sram_bytes = 8388608 }
model { name = tiny  hidden = 64  ffn = 32  experts = 8  shared = 0  top_k = 2 }
workload { tokens = 16  routing = zipf(s = 1.2, seed = 7) }
strategy fsedp-paired { slices = 4 }
"""


def program(*defines: str, text: str = TINY):
    return parse_moe(text, "tiny.moe", [parse_override(d) for d in defines])


@pytest.mark.parametrize(
    "define, read, expected",
    [
        ("system.sram_bytes=4MiB", lambda p: p.system.sram_bytes, 4 * 2**20),
        ("system.sram_bytes=1.5KiB", lambda p: p.system.sram_bytes, 1536),
        ("system.sram_bytes=2MB", lambda p: p.system.sram_bytes, 2_000_000),
        ("system.sram_bytes = 65536", lambda p: p.system.sram_bytes, 65536),
        ("system.d2d_gbps=144GB/s", lambda p: p.system.d2d_gbps, 144.0),
        ("system.d2d_gbps=1TB/s", lambda p: p.system.d2d_gbps, 1000.0),
        ("system.clock_ghz=500MHz", lambda p: p.system.clock_ghz, 0.5),
        ("system.ddr_gbps=12.8", lambda p: [c.gbps for c in p.system.ddr], [12.8] * 4),
        ("system.ddr=[51.2 at 0]", lambda p: [c.gbps for c in p.system.ddr], [51.2]),
        ("system=paper-4x4", lambda p: (p.system.rows, p.system.sram_bytes), (4, 8388608)),
        ("workload.tokens=32", lambda p: p.routing.shape, (32, 2)),
        ("workload.routing.seed=3", lambda p: p.routing_source, "zipf(s = 1.2, seed = 3)"),
        ("workload.routing.s=0.8", lambda p: p.routing_source, "zipf(s = 0.8, seed = 7)"),
        ("workload.routing=uniform(seed = 1)", lambda p: p.routing_source, "uniform(seed = 1)"),
        (("workload.routing=[[0, 1], [2, 3]]", "workload.tokens=2"), lambda p: p.routing.tolist(),
         [[0, 1], [2, 3]]),
        ("model.top_k=3", lambda p: p.routing.shape, (16, 3)),
        ("strategy=ep", lambda p: (p.strategy, p.strategy_options), ("ep", {"slices": 4})),
        ("strategy.slices=8", lambda p: p.strategy_options, {"slices": 8}),
        # another spelling of the same option replaces the file's, it is not "given twice"
        ("strategy.shard-experts-slices=8", lambda p: p.strategy_options,
         {"shard-experts-slices": 8}),
        ("strategy.order=hot-first", lambda p: p.strategy_options["order"], "hot-first"),
    ],
)  # fmt: skip
def test_override_sets_the_field(define, read, expected):
    defines = define if isinstance(define, tuple) else (define,)
    assert read(program(*defines)) == expected


def test_model_preset_keeps_the_files_other_blocks():
    text = TINY.replace("model { name = tiny  hidden = 64  ffn = 32  experts = 8  shared = 0  top_k = 2 }",
                        "model deepseek-moe-16b { top_k = 4 }")  # fmt: skip
    p = program("model=phi-3.5-moe", text=text)
    assert (p.model.name, p.model.top_k, p.model.hidden) == ("phi-3.5-moe", 4, 4096)


def test_ddr_gbps_applies_to_the_machine_the_other_overrides_give():
    p = program("system.ddr_gbps=51.2", "system=paper-4x4")  # order on the line does not matter
    assert [(c.gbps, c.chiplet) for c in p.system.ddr] == [(51.2, c) for c in (0, 3, 12, 15)]


def test_strategy_block_created_by_define():
    p = program("strategy=hydra", "strategy.slices=2", text=TINY.replace(
        "strategy fsedp-paired { slices = 4 }", ""))  # fmt: skip
    assert (p.strategy, p.strategy_options) == ("hydra", {"slices": 2})


@pytest.mark.parametrize(
    "define, message, column",
    [
        ("system.sram_bytes=-3", "system field 'sram_bytes' must be positive, got -3", 19),
        ("system.sram_bytes=4Mi", "unknown unit 'Mi'; use one of: B, KB", 20),
        ("system.sram_bytes=0.5B", "system field 'sram_bytes' expects an integer", 19),
        ("system.slice_buffers=2KiB", "system.slice_buffers takes no unit, got 'KiB'", 23),
        ("system.slice_buffers=1", "system field 'slice_buffers'", 22),
        ("system.srambytes=1", "unknown system field 'srambytes'", 8),
        ("system=paper-9x9", "unknown system preset", 8),
        ("system.ddr_gbps=0", "system field 'ddr[0].gbps' is 0", 17),
        ("system.ddr_gbps=fast", "system.ddr_gbps expects a number (GB/s), got fast", 17),
        ("workload.tokens=0", "workload tokens must be a positive integer, got 0", 17),
        ("workload.tokens=1e999", "number 1e999 is out of range", 17),
        ("workload.routing=zipf(s = 1", "syntax error: unexpected end of file", 27),
        ("workload.routing.s=-1", "zipf parameter s must be a number > 0.0", 20),
        ("workload.routing.seed=1", "", 0),  # placeholder replaced below: a non-call routing
        ("strategy.slicez=8", "fsedp-paired: unknown option 'slicez'", 10),
        ("strategy=fast", "unknown strategy 'fast'", 10),
        ("model=7", "-D model expects a model preset or a config.json path, got 7", 7),
        ('model="missing.json"', "missing.json: cannot read file", 7),
        ('workload.routing="bad\\q"', "bad escape '\\q' in a string", 22),
    ],
)  # fmt: skip
def test_override_errors_are_located_in_the_define(define, message, column):
    text = TINY
    if define == "workload.routing.seed=1":  # an inline routing has no arguments to set
        text = TINY.replace("zipf(s = 1.2, seed = 7)", "[[0, 1], [2, 3]]").replace("16", "2")
        message, column = "workload.routing is not a call", 1
    with pytest.raises(FsedpError) as caught:
        program(define, text=text)
    error = caught.value
    assert message in error.message
    assert (error.file, error.line, error.column) == ("-D", 1, column)
    assert error.source_line == define
    assert error.format().startswith(f"-D:1:{column}: error: ")


def test_same_key_twice_is_an_error():
    with pytest.raises(FsedpError, match="-D system.sram_bytes given twice"):
        program("system.sram_bytes=1MiB", "system.sram_bytes=2MiB")


def test_strategy_option_without_a_strategy_block():
    with pytest.raises(FsedpError, match="no strategy block"):
        program("strategy.slices=2", text=TINY.replace("strategy fsedp-paired { slices = 4 }", ""))


@pytest.mark.parametrize(
    "define, message",
    [
        ("sram_bytes", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("memory.sram=3", "unknown block 'memory'"),
        ("workload=big", "the workload has no name"),
        ("system.sram_bytes=", "no value after '='"),
        ("system.a.b=1", "KEY is BLOCK, BLOCK.FIELD or workload.routing.ARG"),
        ("system.s ram=1", "malformed key"),
    ],
)
def test_malformed_keys_are_usage_errors(define, message):
    with pytest.raises(ValueError, match=message):
        parse_override(define)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.moe"
    path.write_text(TINY)
    return path


def test_fsedp_sim_applies_defines(capsys, tiny):
    code = sim_cli.run([str(tiny), "-D", "strategy=ep", "-D", "workload.tokens=8", "--json", "-"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert (report["strategy"], report["workload"]["tokens"]) == ("ep", 8)


def test_fsedp_opt_applies_defines(capsys, tiny):
    code = cli.run([str(tiny), "-D", "system.sram_bytes=4MiB"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "sram_bytes 4194304" in out


@pytest.mark.parametrize("run", [cli.run, sim_cli.run])
def test_bad_value_exits_1_with_location(capsys, tiny, run):
    code = run([str(tiny), "-D", "system.sram_bytes=-3"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "-D:1:19: error: system field 'sram_bytes' must be positive, got -3\n"
        "system.sram_bytes=-3\n"
        "                  ^\n"
    )


@pytest.mark.parametrize("run", [cli.run, sim_cli.run])
def test_malformed_define_exits_2(capsys, tiny, run):
    with pytest.raises(SystemExit) as caught:
        run([str(tiny), "-D", "memory=3"])
    assert caught.value.code == 2
    assert "unknown block 'memory'" in capsys.readouterr().err


@pytest.mark.parametrize("run", [cli.run, sim_cli.run])
def test_define_on_mlir_input_exits_2(capsys, tmp_path, run):
    path = tmp_path / "x.mlir"
    path.write_text("builtin.module {}\n")
    code = run([str(path), "-D", "workload.tokens=3"])
    assert code == 2
    assert "-D sets fields of a .moe input" in capsys.readouterr().err
