"""The compiler's Python API: named pipelines, `compile_module`, option mapping, and
`verify-programs` catching broken programs."""

from __future__ import annotations

from pathlib import Path

import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import (
    BoolAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
)
from xdsl.ir import Attribute
from xdsl.utils.arg_spec import ArgSpec

from dialects import cisa
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.moe import LayerOp
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.frontend import build_module, parse_moe
from fsedp_compiler.pipelines import PIPELINES, STRATEGY_PASSES, compile_module, pipeline_passes
from passes.verify_programs import VerifyProgramsPass

EXAMPLES = Path(__file__).parent.parent / "examples"
TINY = """system paper-2x2
model { name = "tiny" hidden = 16 ffn = 8 experts = 4 shared = 1 top_k = 2 }
workload { routing = [[0, 1], [1, 2], [0, 1], [3, 0], [1, 2], [1, 0], [2, 3], [1, 3]] }
"""


def _tiny(strategy_block: str = "") -> ModuleOp:
    return build_module(parse_moe(TINY + strategy_block))


def _ops(module: ModuleOp, cls) -> list:
    """The ops of class `cls`, the programs' instructions made ops (the compiler builds them
    as data) so that tests can edit them."""
    for program in [op for op in module.walk() if isinstance(op, cisa.ProgramOp)]:
        cisa.materialize(program)
    return [op for op in module.walk() if isinstance(op, cls)]


def _slices(module: ModuleOp) -> int:
    return _ops(module, cisa.GemmOp)[0].of.value.data


def test_pipeline_pass_lists() -> None:
    names = {name: [p.name for p in pipeline_passes(name)] for name in PIPELINES}
    fsedp = [
        "partition-tokens",
        "shard-experts",
        "order-loads",
        "distribute-slices",
        "schedule-trajectories",
        "virtualize",
        "lower-to-cisa",
        "verify-programs",
    ]
    ep = [
        "partition-tokens",
        "place-experts",
        "dispatch-tokens",
        "shard-experts",
        "order-loads",
        "distribute-slices",
        "schedule-trajectories",
        "virtualize",
        "lower-to-cisa",
        "verify-programs",
    ]
    assert names == {"fsedp": fsedp, "fsedp-paired": fsedp, "ep": ep, "hydra": ep}
    assert "verify-programs" not in [p.name for p in pipeline_passes("ep", {"verify": False})]


def test_strategies_differ_where_the_design_says() -> None:
    def option(pipeline: str, pass_name: str, name: str) -> object:
        return next(getattr(p, name) for p in pipeline_passes(pipeline) if p.name == pass_name)

    assert option("fsedp", "order-loads", "order") == "id"
    assert option("fsedp", "distribute-slices", "mode") == "per-expert"
    assert option("fsedp-paired", "order-loads", "order") == "paired"
    assert option("fsedp-paired", "distribute-slices", "mode") == "even"
    assert option("ep", "place-experts", "policy") == "round-robin"
    assert option("hydra", "place-experts", "policy") == "hydra"
    # the baselines get the same loading machinery; they differ from each other only in placement
    for baseline in ("ep", "hydra"):
        assert option(baseline, "order-loads", "order") == "paired"
        assert option(baseline, "distribute-slices", "mode") == "even"
        assert option(baseline, "virtualize", "slice_buffers") == 0  # as many as needed
    ep, hydra = pipeline_passes("ep"), pipeline_passes("hydra")
    differing = [a.name for a, b in zip(ep, hydra, strict=True) if a != b]
    assert differing == ["place-experts"]


def test_compile_module_keeps_layer_and_system_and_adds_one_program_per_chiplet() -> None:
    module = _tiny()
    result = compile_module(module)
    assert result is module
    assert len(_ops(module, LayerOp)) == 1
    assert isinstance(module.attributes[SYSTEM_ATTR_NAME], SystemAttr)
    programs = _ops(module, cisa.ProgramOp)
    assert [p.chiplet.value.data for p in programs] == [0, 1, 2, 3]
    assert "order = array<i64: 0, 2," in str(module)  # fsedp-paired by default: paired order


def test_strategy_and_options_come_from_the_module_then_overrides() -> None:
    assert _slices(compile_module(_tiny("strategy fsedp { slices = 2 }"))) == 2
    assert _slices(compile_module(_tiny("strategy fsedp { slices = 2 }"), None, {"slices": 4})) == 4
    # another strategy than the module's ignores the module's options
    assert _slices(compile_module(_tiny("strategy fsedp { slices = 2 }"), "fsedp-paired")) == 8


def _with_options(options: dict[str, Attribute]) -> ModuleOp:
    """A module declaring fsedp with `options` as stored, unchecked (as a .mlir file may)."""
    module = _tiny("strategy fsedp")
    module.attributes["fsedp.strategy_options"] = DictionaryAttr(options)
    return module


def test_module_options_are_validated() -> None:
    with pytest.raises(FsedpError, match="fsedp: unknown option 'slicez'"):
        compile_module(_with_options({"slicez": IntegerAttr(2, 64)}))
    with pytest.raises(FsedpError, match="order-loads: unknown order 'sideways'"):
        compile_module(_with_options({"order": StringAttr("sideways")}))
    with pytest.raises(
        FsedpError, match="fsedp: option 'skip-idle' is given twice, also as 'skip_idle'"
    ):
        compile_module(
            _with_options(
                {"skip_idle": BoolAttr.from_bool(True), "skip-idle": BoolAttr.from_bool(False)}
            )
        )
    with pytest.raises(FsedpError, match="unknown strategy 'dp'; known: fsedp, fsedp-paired"):
        compile_module(_tiny(), "dp")


@pytest.mark.parametrize(
    "options",
    [
        {"skip_idle": True, "skip-idle": False},
        {"slices": 4, "shard-experts-slices": 8},
        {"shard_experts_slices": 4, "shard-experts-slices": 8},
    ],
)
def test_one_option_spelled_twice_is_an_error(options: dict) -> None:
    first, second = options
    with pytest.raises(
        FsedpError, match=f"fsedp: option '{second}' is given twice, also as '{first}'"
    ):
        pipeline_passes("fsedp", options)


def test_an_override_replaces_the_module_option_however_spelled() -> None:
    module = _tiny("strategy fsedp { shard_experts_slices = 2 skip_idle = false }")
    assert _slices(compile_module(module.clone(), None, {"slices": 4})) == 4
    pipeline = STRATEGY_PASSES["fsedp"].from_spec(ArgSpec("fsedp", {"shard-experts-slices": (8,)}))
    shard = next(p for p in pipeline.expand(module) if p.name == "shard-experts")
    assert shard.slices == 8
    schedule = next(p for p in pipeline.expand(module) if p.name == "schedule-trajectories")
    assert schedule.skip_idle is False  # the module's option not overridden stays


def test_qualified_and_underscore_options() -> None:
    module = compile_module(
        _tiny(),
        "hydra",
        {"place_experts_policy": "nearest-ddr", "partition-tokens-policy": "block"},
    )
    assert 'chiplet.placement policy "nearest-ddr"' in str(module)


def test_ep_prefetch_can_be_switched_off() -> None:
    module = compile_module(_tiny(), "ep", {"slice-buffers": 1})
    for program in _ops(module, cisa.ProgramOp):
        live = 0
        for op in program.body.block.ops:
            if isinstance(op, cisa.AllocOp) and op.kind.data == cisa.BufferKind.WEIGHT:
                live += 1
                assert live <= 1
            elif isinstance(op, cisa.FreeOp) and isinstance(op.buf.owner, cisa.AllocOp):
                live -= op.buf.owner.kind.data == cisa.BufferKind.WEIGHT


def test_unsliceable_ep_expert_is_streamed_through_its_home() -> None:
    module = build_module(parse_moe(TINY.replace("paper-2x2", "paper-2x2 { sram_bytes = 600 }")))
    compile_module(module, "ep", {"min-slices": 1})
    # The fullest chiplet (1) holds 17 rows of 16 B (own input and output 4, gathers for other
    # homes 3, received inputs and outputs 10): 328 B are left, too little for the system's 12
    # buffers even of one FFN row (48 B), so auto slicing makes room for 2: 3 rows each, so ffn
    # 8 is streamed in 3 slices.
    assert _slices(module) == 3


@pytest.mark.parametrize("strategy", sorted(PIPELINES))
@pytest.mark.parametrize("example", ["deepseek_trace_8.moe"])
def test_examples_compile_with_every_strategy(example: str, strategy: str) -> None:
    text = (EXAMPLES / example).read_text()
    module = build_module(parse_moe(text, str(EXAMPLES / example)))
    compile_module(module, strategy)
    assert len(_ops(module, cisa.ProgramOp)) == 4


# -- verify-programs catches what a broken lowering would produce ------------------------------


def _verify(module: ModuleOp) -> str:
    with pytest.raises(FsedpError) as error:
        VerifyProgramsPass().apply(Context(), module)
    return str(error.value)


@pytest.mark.parametrize("strategy", sorted(PIPELINES))
def test_verifier_names_the_missing_product(strategy: str) -> None:
    module = compile_module(_tiny(), strategy)
    gemm = _ops(module, cisa.GemmOp)[0]
    token = gemm.tokens.get_values()[0]
    gemm.detach()
    gemm.erase()
    assert f"token {token}: no gemm applies slice" in _verify(module)


@pytest.mark.parametrize("strategy", sorted(PIPELINES))
def test_verifier_names_chiplet_and_instruction_of_an_sram_overflow(strategy: str) -> None:
    module = compile_module(_tiny(), strategy)
    module.attributes[SYSTEM_ATTR_NAME] = module.attributes[SYSTEM_ATTR_NAME].with_sram(100)
    message = _verify(module)
    assert "chiplet 0, instruction " in message and "more than the 100 B of SRAM" in message


def test_verifier_reports_an_unmatched_send() -> None:
    module = compile_module(_tiny(), "fsedp")
    recv = _ops(module, cisa.RecvOp)[0]
    recv.properties["tag"] = IntegerAttr(999, 64)
    message = _verify(module)
    assert "no matching cisa.recv from" in message and "no matching cisa.send to" in message


def test_verifier_reports_use_after_free() -> None:
    module = compile_module(_tiny(), "fsedp")
    program = _ops(module, cisa.ProgramOp)[0]
    send = next(op for op in program.body.block.ops if isinstance(op, cisa.SendOp))
    program.body.block.insert_op_before(cisa.FreeOp(send.buf), send)
    message = _verify(module)
    assert f"chiplet 0, instruction {send.parent_block().get_operation_index(send)} " in message
    assert "uses a buffer freed at instruction" in message


def test_ep_home_serves_tokens_in_rounds_when_they_do_not_fit() -> None:
    from backends.sim import simulate
    from dialects.chiplet import DispatchOp, ExpertOp

    # 64 tokens of 256 B on a 2x2 mesh, every token on expert 0 or 1 (homes 0 and 1): each home
    # receives 32 other tokens (16 KiB of inputs and outputs) with a budget of 4 KiB per round.
    routing = ", ".join("[0]" if t % 2 else "[1]" for t in range(64))
    text = (
        "system paper-2x2\n"
        'model { name = "r" hidden = 256 ffn = 64 experts = 4 shared = 0 top_k = 1 }\n'
        f"workload {{ routing = [{routing}] }}\n"
    )
    module = compile_module(build_module(parse_moe(text)), "ep", {"round-bytes": 4096})
    dispatches = _ops(module, DispatchOp)
    assert max(d.round_index for d in dispatches) >= 1
    per_home: dict[tuple[int, int], int] = {}
    for d in dispatches:
        key = (d.dst.value.data, d.round_index)
        per_home[key] = per_home.get(key, 0) + 2 * len(d.tokens) * 256
    assert all(rows <= 4096 for rows in per_home.values())  # one dispatch may exceed: none here
    slices = _slices(module)
    loads: dict[int, int] = {}
    for op in _ops(module, cisa.LoadOp):
        loads[op.expert.value.data] = loads.get(op.expert.value.data, 0) + 1
    for expert in _ops(module, ExpertOp):
        rounds = expert.attributes["rounds"].get_values()  # both experts need every round
        assert loads[expert.expert.value.data] == slices * len(rounds)
    report = simulate(module, check_numerics=True).report
    assert report["numerics"]["ok"]
