"""The compiler through `fsedp-opt`: option errors and exit codes, named pipelines and their
options, `.moe` strategies, `-t cisa-asm` and `--emit-programs`. In-process, so fast."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fsedp_compiler.cli import EXIT_USER_ERROR, run
from fsedp_compiler.pipelines import pipeline_passes

TINY = """system paper-2x2
model { name = "tiny" hidden = 16 ffn = 8 experts = 4 shared = 1 top_k = 2 }
workload { routing = [[0, 1], [1, 2], [0, 1], [3, 0], [1, 2], [1, 0], [2, 3], [1, 3]] }
"""


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = run(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    path = tmp_path / "tiny.moe"
    path.write_text(TINY + "strategy fsedp { slices = 2 }\n")
    return str(path)


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (
            "partition-tokens{policy=diagonal}",
            "partition-tokens: unknown policy 'diagonal'; accepted: block, round-robin",
        ),
        ("shard-experts{slices=-2}", "shard-experts: slices must be >= 0 (0 = auto), got -2"),
        (
            "shard-experts{slices=many}",
            "shard-experts: option 'slices' expects an integer, got many",
        ),
        ("shard-experts{min-slices=0}", "shard-experts: min-slices must be >= 1, got 0"),
        (
            "shard-experts{slice=2}",
            "shard-experts: unknown option 'slice'; options: slices, min-slices, buffers",
        ),
        (
            "order-loads{order=cold-first}",
            "order-loads: unknown order 'cold-first'; accepted: paired, id, hot-first, pairs",
        ),
        (
            "distribute-slices{mode=random}",
            "distribute-slices: unknown mode 'random'; accepted: "
            "even, sequential, per-expert, nearest",
        ),
        (
            "schedule-trajectories{shape=zigzag}",
            "schedule-trajectories: unknown shape 'zigzag'; "
            "accepted: tree, tour, spiral, boustrophedon, hilbert",
        ),
        (
            "schedule-trajectories{entry=far}",
            "schedule-trajectories: unknown entry 'far'; "
            "accepted: attached, max-free, nearest-need",
        ),
        (
            "schedule-trajectories{skip-idle=maybe}",
            "schedule-trajectories: option 'skip-idle' expects true or false, got maybe",
        ),
        (
            "virtualize{slice-buffers=-1}",
            "virtualize: slice-buffers must be >= 0 (0 = from the system), got -1",
        ),
        ("virtualize{reserve=-1}", "virtualize: reserve must be >= 0, got -1"),
        (
            "place-experts{policy=random}",
            "place-experts: unknown policy 'random'; accepted: round-robin, nearest-ddr, hydra",
        ),
        (
            "dispatch-tokens{schedule=star}",
            "dispatch-tokens: unknown schedule 'star'; accepted: ring, id",
        ),
        (
            "lower-to-cisa{keep-plan=2}",
            "lower-to-cisa: option 'keep-plan' expects true or false, got 2",
        ),
        (
            "verify-programs{deadlock=yes}",
            "verify-programs: option 'deadlock' expects true or false, got yes",
        ),
        ("fsedp{sram=1}", "fsedp: unknown option 'sram'; options: policy, slices"),
        (
            "ep{policy=hydra}",
            "ep: option 'policy' is ambiguous; write partition-tokens-policy or "
            "place-experts-policy",
        ),
        ("fsedp-paired{order=sideways}", "order-loads: unknown order 'sideways'"),
        ("hydra{verify=1}", "hydra: option 'verify' expects true or false, got 1"),
    ],
)
def test_bad_options_name_the_pass_and_the_accepted_values(
    tiny: str, capsys, pipeline: str, message: str
) -> None:
    code, out, err = _run([tiny, "-p", pipeline], capsys)
    assert code == EXIT_USER_ERROR
    assert err.startswith(f"error: {message}"), err
    assert out == "" and "Traceback" not in err


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("virtualize", "virtualize: no chiplet.expert ops in the module; run shard-experts first"),
        (
            "partition-tokens,shard-experts,schedule-trajectories",
            "schedule-trajectories: expert 0 has no DDR channels; run distribute-slices first",
        ),
        (
            "shard-experts,distribute-slices,schedule-trajectories",
            "schedule-trajectories: no chiplet.partition in the module; run partition-tokens first",
        ),
        (
            "partition-tokens,dispatch-tokens",
            "dispatch-tokens: no chiplet.placement in the module; run place-experts first",
        ),
        ("verify-programs", "verify-programs: the module has no cisa.program; run lower-to-cisa"),
        ("fsedp,lower-to-cisa", "lower-to-cisa: the module already holds cisa programs"),
        ("fsedp{slices=9}", "shard-experts: slices=9 exceeds the FFN dimension 8 of model 'tiny'"),
        (
            "partition-tokens,place-experts,shard-experts{slices=2},order-loads,"
            "distribute-slices{mode=nearest},schedule-trajectories,virtualize,lower-to-cisa",
            "lower-to-cisa: token 2 on chiplet 1 uses expert 0 homed on chiplet 0, but no "
            "chiplet.dispatch sends it there; run dispatch-tokens after place-experts",
        ),
    ],
)
def test_passes_out_of_order_say_what_to_run_first(
    tiny: str, capsys, pipeline: str, message: str
) -> None:
    code, _, err = _run([tiny, "-p", pipeline], capsys)
    assert code == EXIT_USER_ERROR
    assert err.startswith(f"error: {message}"), err


def test_infeasible_sram_is_reported_with_the_numbers(tmp_path: Path, capsys) -> None:
    path = tmp_path / "small.moe"
    path.write_text(TINY.replace("system paper-2x2", "system paper-2x2 { sram_bytes = 700 }"))
    code, _, err = _run([str(path), "-p", "fsedp{slices=1 min-slices=1}"], capsys)
    assert code == EXIT_USER_ERROR
    assert err.strip() == (
        "error: virtualize: chiplet 0 fits 1 slice buffer(s) of 384 B in 700 B SRAM next to 64 B "
        "of activations; with reserve=1 (R4) it needs 2, so at least 832 B of SRAM with slices "
        "of 384 B; use more slices or fewer tokens per chiplet"
    )


def test_moe_strategy_is_not_compiled_without_p(tiny: str, capsys) -> None:
    code, out, _ = _run([tiny], capsys)
    assert code == 0
    assert "moe.layer" in out and "cisa.program" not in out


def test_p_uses_the_files_options_for_its_own_strategy_only(tiny: str, capsys) -> None:
    _, same, _ = _run([tiny, "-p", "fsedp"], capsys)
    assert "chiplet.expert 0 slices 2 " in same  # the file says slices = 2 for fsedp
    _, other, _ = _run([tiny, "-p", "fsedp-paired"], capsys)
    assert "chiplet.expert 0 slices 8 " in other  # auto: min 16, capped at ffn 8
    _, override, _ = _run([tiny, "-p", "fsedp{slices=4}"], capsys)
    assert "chiplet.expert 0 slices 4 " in override


def test_pipeline_options_reach_their_passes(tiny: str, capsys) -> None:
    _, out, _ = _run(
        [
            tiny,
            "-p",
            "ep{place-experts-policy=nearest-ddr partition-tokens-policy=round-robin "
            "verify=false keep_plan=true}",
        ],
        capsys,
    )
    assert 'chiplet.placement policy "nearest-ddr"' in out
    assert 'chiplet.partition policy "round-robin"' in out


def test_time_passes_lists_each_pass_of_a_named_pipeline(tiny: str, capsys) -> None:
    _, out, err = _run([tiny, "-p", "hydra", "--time-passes", "-t", "cisa-asm"], capsys)
    lines = err.splitlines()
    assert lines[0] == "--time-passes: seconds" and out.startswith("; chiplet 0")
    rows = [line.split(maxsplit=1) for line in lines[1:]]
    names = [p.name for p in pipeline_passes("hydra")]
    assert [name for _, name in rows] == [
        *names,
        "(verification and printing between passes)",
        "total",
    ]
    seconds = [float(value) for value, _ in rows]
    assert min(seconds) >= 0 and abs(sum(seconds[:-1]) - seconds[-1]) < 1e-3


def test_cisa_asm_comments_every_instruction(tiny: str, capsys) -> None:
    code, out, _ = _run([tiny, "-p", "fsedp", "-t", "cisa-asm"], capsys)
    assert code == 0
    body = [line for line in out.splitlines() if line[:6].strip().isdigit()]
    commented = [line for line in body if "; " in line]
    assert len(commented) == len(body) - 4  # only the four `end`s carry no comment
    assert any("gemm" in line and "expert 4 slice 1/2, tokens 0-1" in line for line in body)


def test_targets_that_read_programs_compile_a_moe_file_with_its_strategy(tiny: str, capsys) -> None:
    """One rule for cisa-asm and sim-report: input without programs is compiled first with
    the strategy the file declares (fsedp, slices = 2), exactly as `-p` would."""
    for target in ("cisa-asm", "sim-report{format=json}"):
        code, implicit, _ = _run([tiny, "-t", target], capsys)
        assert code == 0
        _, explicit, _ = _run([tiny, "-p", "fsedp{slices=2}", "-t", target], capsys)
        assert implicit == explicit


def test_targets_that_read_programs_need_a_layer_or_programs(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.mlir"
    empty.write_text("builtin.module {}\n")
    for target in ("cisa-asm", "sim-report"):
        code, _, err = _run([str(empty), "-t", target], capsys)
        assert code == EXIT_USER_ERROR
        assert "holds neither cisa.program ops nor a moe.layer to compile" in err


def test_emit_programs_writes_one_file_per_chiplet_and_a_manifest(
    tiny: str, tmp_path: Path, capsys
) -> None:
    out_dir = tmp_path / "programs"
    code, _, _ = _run([tiny, "-p", "ep", "--emit-programs", str(out_dir)], capsys)
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "chiplet0.s",
        "chiplet1.s",
        "chiplet2.s",
        "chiplet3.s",
        "manifest.json",
    ]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    # what ran, not the file's strategy block (fsedp)
    assert manifest["strategy"] == "ep" and manifest["tokens"] == 8
    assert manifest["strategy_options"]["place-experts-policy"] == "round-robin"
    assert manifest["strategy_options"]["slices"] == 8  # auto: min-slices 16, at most ffn 8
    assert [p["file"] for p in manifest["programs"]] == [f"chiplet{c}.s" for c in range(4)]
    for entry in manifest["programs"]:
        text = (out_dir / entry["file"]).read_text()
        assert f".program chiplet{entry['chiplet']}" in text
        assert entry["instructions"] == sum(entry["counts"].values())


def test_emit_programs_needs_compiled_input(tiny: str, tmp_path: Path, capsys) -> None:
    code, _, err = _run([tiny, "--emit-programs", str(tmp_path / "x")], capsys)
    assert code == EXIT_USER_ERROR
    assert "--emit-programs: the module has no cisa.program" in err


def _verifications(monkeypatch, capsys, args: list[str]) -> int:
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Attribute

    calls = []
    verify = ModuleOp.verify

    def counted(self, *rest, **options):
        calls.append(self)
        return verify(self, *rest, **options)

    monkeypatch.setattr(ModuleOp, "verify", counted)
    # xDSL's --disable-verify replaces Attribute.__post_init__ for good: restore it afterwards.
    monkeypatch.setattr(Attribute, "__post_init__", Attribute.__post_init__)
    code, _, err = _run(args, capsys)
    assert code == 0, err
    return len(calls)


def test_the_module_is_verified_after_each_pass_that_can_change_it(tiny, monkeypatch, capsys):
    # fsedp: 8 passes, the last verify-programs, which only reads the programs.
    one_pass = _verifications(monkeypatch, capsys, [tiny, "-p", "partition-tokens"])
    pipeline = _verifications(monkeypatch, capsys, [tiny, "-p", "fsedp"])
    assert len(pipeline_passes("fsedp", {})) == 8
    assert pipeline - one_pass == 6
    unverified = _verifications(monkeypatch, capsys, [tiny, "-p", "fsedp", "--disable-verify"])
    assert unverified < one_pass
