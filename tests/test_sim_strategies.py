"""The four compiled strategies through the simulator: numerics on random small layers, the
examples, determinism and the `.moe` path of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.sim import simulate
from fsedp_compiler import presets, sim_cli
from fsedp_compiler.frontend import MoeProgram, build_module
from fsedp_compiler.pipelines import compile_module

STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def compiled(system, model, routing, strategy):
    program = MoeProgram(system, model, routing, "test", strategy, {})
    return compile_module(build_module(program), strategy=strategy)


@st.composite
def layers(draw):
    experts = draw(st.integers(2, 8))
    top_k = draw(st.integers(1, min(3, experts)))
    tokens = draw(st.integers(1, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    routing = np.stack([rng.choice(experts, top_k, replace=False) for _ in range(tokens)])
    model = presets.ModelSpec(
        "random",
        hidden=draw(st.integers(4, 32)),
        ffn=draw(st.sampled_from([8, 16, 24, 64])),
        experts=experts,
        shared=draw(st.integers(0, 2)),
        top_k=top_k,
        layers=1,
    )
    system = presets.get_system(draw(st.sampled_from(["paper-2x2", "paper-3x3"])))
    return system, model, routing


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers())
def test_every_strategy_computes_the_layer(case):
    system, model, routing = case
    for strategy in STRATEGIES:
        report = simulate(compiled(system, model, routing, strategy), check_numerics=True).report
        assert report["strategy"] == strategy
        numerics = report["numerics"]
        assert numerics["ok"], (strategy, numerics)
        assert not numerics["scaled"]
        assert report["latency_cycles"] > 0
        assert report["latency_over_workload_lower_bound"] >= 1.0 - 1e-9


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_example_through_the_cli(capsys, strategy, tmp_path):
    out = tmp_path / "report.json"
    code = sim_cli.run(
        [str(EXAMPLES / "deepseek_trace_8.moe"), "--strategy", strategy, "--check-numerics",
         "--json", str(out), "-q"]
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert (code, err) == (0, "")
    report = json.loads(out.read_text())
    assert report["strategy"] == strategy
    assert report["numerics"]["ok"] and report["numerics"]["scaled"]
    assert report["latency_over_lower_bound"] >= 1.0 - 1e-9


def test_compiled_runs_are_byte_identical():
    system, model = presets.get_system("paper-2x2"), presets.get_model("deepseek-moe-16b")
    routing = np.array([np.random.default_rng(t).choice(64, 6, replace=False) for t in range(16)])
    first = simulate(compiled(system, model, routing, "fsedp-paired")).json()
    second = simulate(compiled(system, model, routing, "fsedp-paired")).json()
    assert first == second
