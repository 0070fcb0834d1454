"""The whole pipeline on random layers: `.moe` text -> front end -> compiler -> simulator.

Each case writes a random but valid `.moe` file (model shape, tokens, routing, a 1x1 to 4x4
machine of any topology, DDR channels anywhere, SRAM from far too small to plenty, every
strategy with random options) and runs `fsedp-sim FILE --check-numerics --json -` on it, twice.
It must

- exit 0, or exit 1 with a diagnostic, from the pass that found out, saying the layer does not
  fit in SRAM or a random option asks for what the layer or machine does not have (never the
  internal-error path, never another refusal: the input is valid);
- compute the layer: the numerics check passes (else the run is an error, caught above);
- take at least as long as both lower bounds, the program's and the workload's;
- stay within `sram_bytes` on every chiplet;
- print byte-identical reports on both runs, and in other processes with other hash seeds.

Profiles: `ci` (default, a few seconds) and `long` (`HYPOTHESIS_PROFILE=long pytest
tests/test_properties_pipeline.py --hypothesis-show-statistics`, 10,000 cases in process and
300 across processes, run on purpose).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fsedp_compiler import sim_cli

PROFILES = {
    "ci": settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck)),
    "long": settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck)),
}
PROFILE = PROFILES[os.environ.get("HYPOTHESIS_PROFILE", "ci")]
# Reruns in other processes, under other hash seeds (each a fresh interpreter: about 1 s).
PROCESS_PROFILE = {
    "ci": settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck)),
    "long": settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck)),
}[os.environ.get("HYPOTHESIS_PROFILE", "ci")]

# What a valid layer may be refused for, each by the pass that found out, with the numbers: it
# does not fit in the machine's SRAM, or a random option asks for what the layer or the machine
# does not have. Any other error fails the test.
REFUSALS = re.compile(
    r"error: (shard-experts|virtualize): .*SRAM"
    r"|error: shard-experts: slices=\d+ exceeds the FFN dimension"
    r"|error: virtualize: slice-buffers=\d+ (is more than the \d+ slice buffers|must be above)"
)

FSEDP_OPTIONS = {
    "slices": st.integers(0, 8),
    "min-slices": st.sampled_from([1, 2, 4, 16]),
    "policy": st.sampled_from(["block", "round-robin"]),
    "order": st.sampled_from(["id", "paired", "hot-first", "pairs"]),
    "mode": st.sampled_from(["even", "sequential", "per-expert"]),
    "shape": st.sampled_from(["tree", "tour", "spiral", "boustrophedon", "hilbert"]),
    "skip-idle": st.booleans(),
    "entry": st.sampled_from(["nearest-need", "attached", "max-free"]),
    "slice-buffers": st.integers(0, 6),
    "reserve": st.integers(0, 1),
}
EP_OPTIONS = {
    "min-slices": st.sampled_from([1, 2, 4, 16]),
    "partition-tokens-policy": st.sampled_from(["block", "round-robin"]),
    "schedule": st.sampled_from(["ring", "id"]),
    "round-bytes": st.sampled_from([0, 1, 64, 4096]),
    "order": st.sampled_from(["paired", "id", "hot-first", "pairs"]),
    "mode": st.sampled_from(["even", "sequential", "per-expert", "nearest"]),
    "slice-buffers": st.integers(0, 6),
}
PLACEMENT = st.sampled_from(["round-robin", "nearest-ddr", "hydra"])


@st.composite
def machines(draw) -> tuple[str, int]:
    """A `system { ... }` block with every field, and its number of chiplets."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    n = rows * cols
    topology = draw(st.sampled_from(["mesh", "torus", "ring", "custom"]))
    links = ""
    if topology == "custom" and n > 1:
        # a random spanning tree (every chiplet reachable), plus a few extra links
        order = draw(st.permutations(range(n)))
        pairs = {tuple(sorted((order[i], order[draw(st.integers(0, i - 1))]))) for i in range(1, n)}
        extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4))
        pairs |= {tuple(sorted(pair)) for pair in extra if pair[0] != pair[1]}
        speeds = st.sampled_from(["", " at 4", " at 64"])
        links = "links = [" + ", ".join(f"{a}-{b}{draw(speeds)}" for a, b in sorted(pairs)) + "]"
    elif topology == "custom":
        topology = "mesh"  # one chiplet has no links to list
    channels = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))
    ddr = ", ".join(f"{draw(st.sampled_from([1, 8, 25.6]))} at {c}" for c in channels)
    fields = {
        "rows": rows,
        "cols": cols,
        "topology": topology,
        "clock_ghz": draw(st.sampled_from([0.5, 1, 2])),
        "ops_per_cycle": draw(st.sampled_from([16, 256, 2048])),
        "sram_bytes": "SRAM",  # filled in by `layers`, which knows the sizes
        "ddr": f"[{ddr}]",
        "d2d_gbps": draw(st.sampled_from([2, 16, 288])),
        "hop_latency_cycles": draw(st.integers(0, 20)),
        "element_bytes": draw(st.integers(1, 2)),
        "slice_buffers": draw(st.integers(2, 24)),
    }
    body = "\n  ".join(f"{name} = {value}" for name, value in fields.items())
    return f'system {{\n  name = "random"\n  {body}\n  {links}\n}}\n', n


@st.composite
def layers(draw) -> str:
    """A valid `.moe` file, SRAM anywhere from not enough to plenty."""
    system, chiplets = draw(machines())
    experts = draw(st.integers(1, 12))
    top_k = draw(st.integers(1, min(4, experts)))
    hidden, ffn = draw(st.integers(1, 48)), draw(st.integers(1, 40))
    shared = draw(st.integers(0, 2))
    element_bytes = draw(st.integers(1, 2))
    tokens = draw(st.integers(1, 48))
    routing = draw(
        st.sampled_from(["uniform(seed = {})", "zipf(s = 1.2, seed = {})", "inline"])
        | st.builds("dirichlet(alpha = {}, seed = {{}})".format, st.sampled_from([0.1, 1, 50]))
    )
    if routing == "inline":
        rows = [draw(st.permutations(range(experts)))[:top_k] for _ in range(tokens)]
        routing = "[" + ", ".join(str(list(row)) for row in rows) + "]"
    else:
        routing = routing.format(draw(st.integers(0, 1000)))
    # The SRAM one chiplet needs, roughly: its tokens' activations in and out, and two one-row
    # slices; scaled from a fifth of that (always refused) to 64 times (ample).
    act = 2 * -(-tokens // chiplets) * hidden * 2
    need = act + 2 * 3 * hidden * element_bytes
    sram = max(1, int(need * draw(st.sampled_from([0.2, 0.9, 1, 1.1, 1.5, 2, 4, 64]))))
    strategy = draw(st.sampled_from(["fsedp", "fsedp-paired", "ep", "hydra"]))
    pool = FSEDP_OPTIONS if strategy.startswith("fsedp") else EP_OPTIONS
    chosen = draw(st.lists(st.sampled_from(sorted(pool)), unique=True, max_size=5))
    options = {name: draw(pool[name]) for name in chosen}
    if not strategy.startswith("fsedp") and draw(st.booleans()):
        options["place-experts-policy"] = draw(PLACEMENT)
    written = " ".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    return (
        system.replace("SRAM", str(sram))
        + f'model {{ name = "random" hidden = {hidden} ffn = {ffn} experts = {experts} '
        f"shared = {shared} top_k = {top_k} element_bytes = {element_bytes} }}\n"
        + f"workload {{ tokens = {tokens} routing = {routing} }}\n"
        + f"strategy {strategy} {{ {written} }}\n"
    )


def _simulate(path: Path, capsys) -> tuple[int, str, str]:
    code = sim_cli.run([str(path), "--check-numerics", "--json", "-"])
    out, err = capsys.readouterr()
    return code, out, err


def check_layer(text: str, path: Path, capsys) -> int:
    """Run the checks above on `text`; return the exit code."""
    path.write_text(text)
    code, out, err = _simulate(path, capsys)
    assert code in (0, 1), err
    if code == 1:
        assert "internal error" not in err and "Traceback" not in err, err
        assert REFUSALS.search(err), err
        return code
    assert err == "", err
    report = json.loads(out)
    latency = report["latency_cycles"]
    assert report["numerics"]["ok"]
    # the bounds are rounded to 3 decimals in the report
    assert latency >= report["lower_bound"]["cycles"] - 1e-3
    assert latency >= report["workload_lower_bound"]["cycles"] - 1e-3
    sram = report["system"]["sram_bytes"]
    assert max(c["sram_peak_bytes"] for c in report["chiplets"]) <= sram
    assert report["peak_sram_bytes"] <= sram
    assert _simulate(path, capsys) == (0, out, ""), "a second run printed another report"
    return code


@PROFILE
@given(text=layers())
def test_random_layer_compiles_and_simulates(text: str, tmp_path_factory, capsys) -> None:
    code = check_layer(text, tmp_path_factory.mktemp("layer") / "layer.moe", capsys)
    event("ran" if code == 0 else "refused")  # shown by --hypothesis-show-statistics


@PROCESS_PROFILE
@given(text=layers())
def test_reports_do_not_depend_on_the_process(text: str, tmp_path_factory) -> None:
    """The same report from two interpreters with different hash seeds (set and dict order)."""
    path = tmp_path_factory.mktemp("layer") / "layer.moe"
    path.write_text(text)
    script = Path(sys.executable).with_name("fsedp-sim")
    runs = [
        subprocess.run(
            [str(script), str(path), "--json", "-"],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ | {"PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2")
    ]
    assert runs[0].returncode in (0, 1), runs[0].stderr
    assert [(r.returncode, r.stdout, r.stderr) for r in runs[1:]] == [
        (runs[0].returncode, runs[0].stdout, runs[0].stderr)
    ]


@pytest.mark.parametrize("sram", [1, 10**9])
def test_the_checks_see_both_outcomes(tmp_path: Path, capsys, sram: int) -> None:
    """One layer refused for SRAM and one that runs, each passing the checks above."""
    text = (
        f"system paper-2x2 {{ sram_bytes = {sram} }}\n"
        'model { name = "t" hidden = 8 ffn = 8 experts = 4 shared = 1 top_k = 2 }\n'
        "workload { tokens = 6 routing = uniform(seed = 3) }\nstrategy ep\n"
    )
    assert check_layer(text, tmp_path / "layer.moe", capsys) == (1 if sram == 1 else 0)
