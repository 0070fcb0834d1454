"""Properties of the compiled programs over random small models, routings, machines (meshes,
tori and rings) and options.

For every strategy the programs must (checked here independently of `verify-programs`):
- apply each slice of each expert a token uses to that token exactly once, and nothing else;
- pair every send with one recv of the same bytes, tags unique per (source, destination);
- keep every chiplet's live SRAM, in program order, within `sram_bytes`;
- output every token exactly once;
and `verify-programs` (run by every pipeline) must accept them, deadlock check included.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xdsl.dialects.builtin import ModuleOp

from dialects import cisa
from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.machine import DdrChannel, SystemSpec
from dialects.moe import LayerOp, ModelAttr
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.pipelines import PIPELINES, compile_module

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers(draw) -> tuple[ModuleOp, dict[str, object]]:
    rows, cols = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    chiplets = rows * cols
    channels = draw(st.lists(st.integers(0, chiplets - 1), min_size=1, max_size=4))
    experts = draw(st.integers(1, 6))
    top_k = draw(st.integers(1, min(3, experts)))
    tokens = draw(st.integers(1, 12))
    ffn = draw(st.integers(1, 6))
    routing = np.array(
        [draw(st.permutations(range(experts)))[:top_k] for _ in range(tokens)], dtype=np.int64
    )
    model = ModelAttr(
        "random",
        hidden=draw(st.sampled_from([4, 8])),
        ffn=ffn,
        experts=experts,
        shared=draw(st.integers(0, 2)),
        top_k=top_k,
    )
    spec = SystemSpec(
        name="random",
        rows=rows,
        cols=cols,
        topology=draw(st.sampled_from(["mesh", "torus", "ring"])),
        clock_ghz=1.0,
        ops_per_cycle=64,
        sram_bytes=draw(st.integers(1500, 8192)),
        ddr=tuple(DdrChannel(10.0, chiplet) for chiplet in channels),
        d2d_gbps=10.0,
        hop_latency_cycles=1,
        element_bytes=1,
        slice_buffers=draw(st.integers(2, 6)),
    )
    system = SystemAttr(spec)
    module = ModuleOp([LayerOp("layer0", model, routing)], attributes={SYSTEM_ATTR_NAME: system})
    options: dict[str, object] = {
        "slices": draw(st.integers(0, ffn)),
        "partition-tokens-policy": draw(st.sampled_from(["block", "round-robin"])),
        "order": draw(st.sampled_from(["id", "paired", "hot-first"])),
    }
    return module, options


FSEDP_OPTIONS = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["even", "sequential", "per-expert"]),
        "shape": st.sampled_from(["tree", "spiral", "boustrophedon", "hilbert", "tour"]),
        "skip-idle": st.booleans(),
        "entry": st.sampled_from(["attached", "max-free", "nearest-need"]),
        "reserve": st.integers(0, 1),
    }
)
EP_OPTIONS = st.fixed_dictionaries(
    {
        "place-experts-policy": st.sampled_from(["round-robin", "nearest-ddr", "hydra"]),
        "schedule": st.sampled_from(["ring", "id"]),
        "slice-buffers": st.integers(0, 3),
        "order": st.sampled_from(["paired", "id", "hot-first", "pairs"]),
        "mode": st.sampled_from(["even", "nearest", "per-expert", "sequential"]),
        # small budgets serve the tokens in rounds (0: half of SRAM)
        "round-bytes": st.sampled_from([0, 1, 64, 256]),
    }
)


def _compile(module: ModuleOp, strategy: str, options: dict[str, object]) -> ModuleOp | None:
    if options.get("partition-tokens-policy") and strategy.startswith("fsedp"):
        options["policy"] = options.pop("partition-tokens-policy")
    try:
        return compile_module(module, strategy, options)
    except FsedpError as error:
        # Only a configuration that cannot fit may be refused, and then by a named pass.
        assert str(error).startswith(("error: shard-experts:", "error: virtualize:")), error
        refusals = ("fit", "needs at least", "more than the")
        assert any(words in str(error) for words in refusals), error
        return None


def _check_programs(module: ModuleOp) -> None:
    layer = next(op for op in module.body.block.ops if isinstance(op, LayerOp))
    system = module.attributes[SYSTEM_ATTR_NAME]
    model = layer.model
    routing = layer.routing_array()
    programs = [op for op in module.body.block.ops if isinstance(op, cisa.ProgramOp)]
    assert sorted(p.chiplet.value.data for p in programs) == list(range(system.num_chiplets))

    applied: Counter[tuple[int, int, int]] = Counter()
    slices_of: dict[int, int] = {}
    sends: Counter[tuple[int, int, int, int]] = Counter()
    recvs: Counter[tuple[int, int, int, int]] = Counter()
    outputs: Counter[int] = Counter()
    for program in programs:
        # walk the instructions as xDSL ops: materialising them from the compiler's data is
        # lossless (back to data, the same program)
        code = cisa.program_code(program)
        cisa.materialize(program)
        assert cisa.program_from_ops(program.body.block) == code
        chiplet = program.chiplet.value.data
        sizes: dict[object, int] = {}
        tokens_of: dict[object, tuple[int, ...]] = {}
        live = 0
        for op in program.body.block.ops:
            if isinstance(op, cisa.AllocOp):
                sizes[op.buf] = op.bytes.value.data
                tokens_of[op.buf] = op.tokens.get_values() if op.tokens is not None else ()
                live += sizes[op.buf]
                assert live <= system.sram_bytes.data
            elif isinstance(op, cisa.FreeOp):
                live -= sizes.pop(op.buf)
            elif isinstance(op, cisa.GemmOp):
                expert = op.expert.value.data
                assert slices_of.setdefault(expert, op.of.value.data) == op.of.value.data
                for token in op.tokens.get_values():
                    applied[(token, expert, op.slice.value.data)] += 1
            elif isinstance(op, cisa.SendOp):
                sends[(chiplet, op.to.value.data, op.tag.value.data, op.bytes.value.data)] += 1
            elif isinstance(op, cisa.RecvOp):
                recvs[(op.src.value.data, chiplet, op.tag.value.data, op.bytes.value.data)] += 1
            elif isinstance(op, cisa.OutputOp):
                outputs.update(tokens_of[op.buf])
    experts, shared = model.experts.data, model.shared.data
    expected = Counter(
        (token, expert, s)
        for token in range(len(routing))
        for expert in [*routing[token].tolist(), *range(experts, experts + shared)]
        for s in range(slices_of.get(expert, 0) or 1)
    )
    assert applied == expected
    assert sends == recvs and max(sends.values(), default=1) == 1
    assert outputs == Counter(range(len(routing)))
    assert layer.parent is module.body.block


@pytest.mark.parametrize("strategy", ["fsedp", "fsedp-paired"])
@SETTINGS
@given(case=layers(), extra=FSEDP_OPTIONS)
def test_fsedp_programs_cover_match_and_fit(strategy, case, extra) -> None:
    module, options = case
    compiled = _compile(module, strategy, options | extra)
    if compiled is not None:
        _check_programs(compiled)


@pytest.mark.parametrize("strategy", ["ep", "hydra"])
@SETTINGS
@given(case=layers(), extra=EP_OPTIONS)
def test_ep_programs_cover_match_and_fit(strategy, case, extra) -> None:
    module, options = case
    options.pop("slices")  # EP slices automatically: whole experts when two fit
    compiled = _compile(module, strategy, options | extra)
    if compiled is not None:
        _check_programs(compiled)


def test_every_strategy_is_tested() -> None:
    assert set(PIPELINES) == {"fsedp", "fsedp-paired", "ep", "hydra"}
