"""The numerics check: correct programs pass on random layers, wrong ones are caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.sim import SimError, simulate
from dialects.chiplet import SystemAttr
from dialects.machine import DdrChannel, SystemSpec
from dialects.moe import ModelAttr
from fsedp_compiler.testing import module_text, parse, streaming_module

LAYER = (
    '  moe.layer @layer0 model #moe.model<"tiny", hidden 8, ffn 4, experts 2, shared 0, '
    "top_k 1, bytes 1> routing dense<[[0], [1]]> : tensor<2x1xi32>\n"
)

GOOD = """
    %x = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
    cisa.input %x
    %y = cisa.alloc act bytes 16 tokens array<i32: 0, 1>
    %w0 = cisa.alloc weight bytes 96
    cisa.load %w0 channel 0 seq 0 bytes 96 expert 0 slice 0 of 1
    %w1 = cisa.alloc weight bytes 96
    cisa.load %w1 channel 0 seq 1 bytes 96 expert 1 slice 0 of 1
    cisa.gemm %w0, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 192
    cisa.gemm %w1, %x, %y expert 1 slice 0 of 1 tokens array<i32: 1> ops 192
    cisa.output %y"""


def check(program: str, **kwargs):
    return simulate(parse(module_text({0: program}, extra=LAYER)), check_numerics=True, **kwargs)


def test_hand_written_program_passes_at_full_size():
    numerics = check(GOOD).report["numerics"]
    assert numerics["ok"]
    assert numerics["max_rel_error"] < 1e-12
    assert not numerics["scaled"]
    assert (numerics["hidden"], numerics["ffn"], numerics["gemms"]) == (8, 4, 2)


def test_scaled_run_says_so():
    sim = check(GOOD, numerics_scale=2)
    numerics = sim.report["numerics"]
    assert numerics["scaled"] and numerics["scale"] == 2
    assert (numerics["hidden"], numerics["ffn"]) == (4, 2)
    assert "scaled down by 2" in sim.text()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "cisa.gemm %w0, %x, %y expert 0",
            "cisa.gemm %w1, %x, %y expert 0",
            "the weight buffer holds expert 1 slice 0 of 1",
        ),
        ("tokens array<i32: 1> ops", "tokens array<i32: 0> ops", "token 0 is not routed to expert 1"),
        (
            "    cisa.gemm %w1, %x, %y expert 1 slice 0 of 1 tokens array<i32: 1> ops 192\n",
            "",
            "numerics mismatch",
        ),
        ("cisa.output %y", "cisa.output %y\n    cisa.output %y", "token 0 is output a second time"),
        ("cisa.output %y", "", "no cisa.output covers tokens 0, 1"),
        ("cisa.input %x", "", "does not hold token 0's layer input"),
        (
            "cisa.gemm %w0, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0>",
            "cisa.gemm %w0, %y, %y expert 0 slice 0 of 1 tokens array<i32: 0>",
            "does not hold token 0's layer input",
        ),
    ],
)  # fmt: skip
def test_wrong_programs_are_caught(old, new, message):
    assert old in GOOD
    with pytest.raises(SimError, match=message):
        check(GOOD.replace(old, new))


def test_numerics_needs_the_layer():
    with pytest.raises(SimError, match="needs the moe.layer"):
        simulate(parse(module_text({0: GOOD})), check_numerics=True)


def _system(rows: int, cols: int, channels: int) -> SystemAttr:
    corners = [0, cols - 1, rows * cols - cols, rows * cols - 1][:channels]
    spec = SystemSpec(
        name="small",
        rows=rows,
        cols=cols,
        clock_ghz=1.0,
        ops_per_cycle=64,
        sram_bytes=1 << 30,
        ddr=tuple(DdrChannel(8.0, c) for c in corners),
        d2d_gbps=32.0,
        hop_latency_cycles=3,
        element_bytes=1,
        slice_buffers=4,
    )
    return SystemAttr(spec)


@st.composite
def layers(draw):
    experts = draw(st.integers(2, 6))
    top_k = draw(st.integers(1, min(3, experts)))
    tokens = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    routing = np.stack([rng.choice(experts, top_k, replace=False) for _ in range(tokens)])
    model = ModelAttr(
        "random",
        hidden=draw(st.integers(2, 16)),
        ffn=draw(st.sampled_from([4, 8, 12])),
        experts=experts,
        shared=draw(st.integers(0, 2)),
        top_k=top_k,
    )
    mesh = draw(st.sampled_from([(1, 2), (2, 2), (2, 3)]))
    return model, routing, mesh, draw(st.integers(1, 4)), draw(st.integers(1, 4))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_streaming_programs_match_the_dense_reference(case):
    model, routing, (rows, cols), slices, window = case
    module = streaming_module(
        _system(rows, cols, min(2, rows * cols)), model, routing, slices=slices, window=window
    )
    report = simulate(module, check_numerics=True).report
    assert report["numerics"]["ok"]
    assert report["numerics"]["tokens"] == routing.shape[0]
