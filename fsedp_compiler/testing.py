"""Helpers for tests and benchmarks: small machines, IR from text, and a plain slice-streaming
program generator that stands in for the compiler when a test wants many correct instructions.

`streaming_module` is deliberately simple (not the compiler's scheduler): tokens are split into
contiguous blocks per chiplet; every used expert (routed experts with tokens, then the shared
ones) is cut into `slices` slices; slice j is loaded through channel j mod C at the first chiplet
of its trajectory (the chiplets holding its tokens, in id order) and forwarded along it; each
chiplet keeps at most `window` slice buffers, freeing the oldest before taking a new one.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region
from xdsl.parser import Parser

from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import (
    AllocOp,
    BufferKind,
    EndOp,
    FreeOp,
    GemmOp,
    InputOp,
    LoadOp,
    OutputOp,
    ProgramOp,
    RecvOp,
    SendOp,
)
from dialects.machine import DdrChannel, SystemSpec
from dialects.moe import LayerOp, ModelAttr
from fsedp_compiler import registry

# 1 GHz, so GB/s are bytes per cycle: DDR 32 B/cycle, links 16 B/cycle, 100 ops/cycle, 5 cycles
# per hop. Hand-computed tests use it.
TEST_SYSTEM = (
    '#chiplet.system<"test-2x2", rows 2, cols 2, clock_ghz 1.0, ops_per_cycle 100, '
    "sram_bytes {sram}, ddr [32.0 at 0, 32.0 at 3], d2d_gbps 16.0, hop_latency_cycles 5, "
    "element_bytes 1, slice_buffers 4>"
)


# One slice loaded (6400 B at 32 B/cycle: 200 cycles) and applied to one token (10000 ops at
# 100 ops/cycle: 100 cycles) on chiplet 0 of TEST_SYSTEM: a 300-cycle run, for CLI tests.
ONE_SLICE_PROGRAM = """
    %x = cisa.alloc act bytes 100 tokens array<i32: 0>
    cisa.input %x
    %y = cisa.alloc act bytes 100 tokens array<i32: 0>
    %w = cisa.alloc weight bytes 6400
    cisa.load %w channel 0 seq 0 bytes 6400 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %y expert 0 slice 0 of 1 tokens array<i32: 0> ops 10000
    cisa.free %w
    cisa.output %y"""


def system_text(**fields) -> str:
    """TEST_SYSTEM's text (with 1 MiB of SRAM) with some fields changed, for tests on other
    shapes and topologies: `system_text(rows=1, cols=4, topology="ring")`."""
    spec = SystemSpec(
        name="test-2x2",
        rows=2,
        cols=2,
        clock_ghz=1.0,
        ops_per_cycle=100,
        sram_bytes=1 << 20,
        ddr=(DdrChannel(32.0, 0), DdrChannel(32.0, 3)),
        d2d_gbps=16.0,
        hop_latency_cycles=5,
        element_bytes=1,
        slice_buffers=4,
    )
    return str(SystemAttr(spec.replace(**fields)))


def parse(text: str, *, verify: bool = True) -> ModuleOp:
    """The module `text` holds; `verify=False` leaves checking to the caller (tests of the
    simulator's own checks)."""
    module = Parser(registry.context(), text, "<test>").parse_module()
    if verify:
        module.verify()
    return module


def module_text(
    programs: dict[int, str], *, sram: int = 1 << 20, extra: str = "", system: str = ""
) -> str:
    """A module on TEST_SYSTEM (or on `system`, an attribute's text) holding one program per
    entry (chiplet -> instruction lines)."""
    body = "".join(
        f"  cisa.program @chiplet{c} chiplet {c} {{\n{text}\n  cisa.end\n  }}\n"
        for c, text in sorted(programs.items())
    )
    system = system or TEST_SYSTEM.format(sram=sram)
    return f"builtin.module attributes {{chiplet.system = {system}}} {{\n{extra}{body}}}\n"


def streaming_module(
    system: SystemAttr,
    model: ModelAttr,
    routing: np.ndarray,
    *,
    slices: int = 2,
    window: int = 3,
) -> ModuleOp:
    """Correct slice-streaming programs for the layer (see the module docstring)."""
    chips = system.num_chiplets
    channels = len(system.ddr)
    tokens = routing.shape[0]
    d, f = model.hidden.data, model.ffn.data
    experts, shared = model.experts.data, model.shared.data
    owner = np.minimum(np.arange(tokens) * chips // tokens, chips - 1)
    local = [np.flatnonzero(owner == c).tolist() for c in range(chips)]
    users: list[tuple[int, dict[int, list[int]]]] = []
    for e in range(experts + shared):
        mask = np.ones(tokens, bool) if e >= experts else (routing == e).any(axis=1)
        by_chip = {c: [t for t in local[c] if mask[t]] for c in range(chips)}
        by_chip = {c: ts for c, ts in by_chip.items() if ts}
        if by_chip:
            users.append((e, by_chip))
    body: list[list[Operation]] = [[] for _ in range(chips)]
    act_bytes = d * model.bytes.data
    ys = []
    for c in range(chips):
        if local[c]:
            x = AllocOp(BufferKind.ACT, act_bytes * len(local[c]), local[c])
            y = AllocOp(BufferKind.ACT, act_bytes * len(local[c]), local[c])
            body[c] += [x, InputOp(x.buf), y]
            ys.append((x.buf, y.buf))
        else:
            ys.append(None)
    held: list[list] = [[] for _ in range(chips)]
    slice_bytes = 3 * d * (f // slices) * model.bytes.data
    seq = [0] * channels
    tag = 0
    j = 0
    for e, by_chip in users:
        stops = sorted(by_chip)
        for s in range(slices):
            channel = j % channels
            j += 1
            prev = None
            for k, c in enumerate(stops):
                if len(held[c]) >= window:
                    body[c].append(FreeOp(held[c].pop(0)))
                w = AllocOp(BufferKind.WEIGHT, slice_bytes)
                body[c].append(w)
                held[c].append(w.buf)
                if k == 0:
                    body[c].append(
                        LoadOp(
                            w.buf,
                            channel=channel,
                            seq=seq[channel],
                            bytes=slice_bytes,
                            expert=e,
                            slice=s,
                            of=slices,
                        )  # fmt: skip
                    )
                    seq[channel] += 1
                else:
                    body[c].append(RecvOp(w.buf, src=prev, tag=tag, bytes=slice_bytes))
                    tag += 1
                x, y = ys[c]
                ops = 2 * 3 * d * (f // slices) * len(by_chip[c])
                body[c].append(GemmOp(w.buf, x, y, expert=e, slice=s, of=slices,
                                      tokens=by_chip[c], ops=ops))  # fmt: skip
                if k + 1 < len(stops):
                    body[c].append(SendOp(w.buf, to=stops[k + 1], tag=tag, bytes=slice_bytes))
                prev = c
    programs = []
    for c in range(chips):
        for buf in held[c]:
            body[c].append(FreeOp(buf))
        if ys[c] is not None:
            body[c].append(OutputOp(ys[c][1]))
        body[c].append(EndOp())
        programs.append(ProgramOp(c, Region(Block(body[c]))))
    layer = LayerOp("layer0", model, routing)
    return ModuleOp([layer, *programs], attributes={SYSTEM_ATTR_NAME: system})


def workload_module(
    model: str,
    tokens: int,
    *,
    system: str = "paper-2x2",
    zipf_s: float = 1.2,
    seed: int = 7,
    strategy: str | None = None,
) -> ModuleOp:
    """The moe-level module of a preset model and machine with seeded Zipf routing (what a
    `.moe` file with `routing = zipf(s = ..., seed = ...)` gives)."""
    from fsedp_compiler import presets
    from fsedp_compiler import routing as routing_lib
    from fsedp_compiler.frontend import MoeProgram, build_module

    spec = presets.get_model(model)
    array = routing_lib.synthetic_routing(
        "zipf", tokens, spec.experts, spec.top_k, seed=seed, param=zipf_s
    )
    source = f"zipf(s = {zipf_s}, seed = {seed})"
    program = MoeProgram(presets.get_system(system), spec, array, source, strategy, {})
    return build_module(program)
