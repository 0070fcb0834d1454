"""Numeric verification: run the programs' data semantics on seeded random values with numpy and
compare every token's output with a dense MoE reference.

Values (seeded by `seed`): inputs x ~ N(0, 1) of shape tokens x D; per expert (routed ids
0..E-1, shared ids E..E+S-1) W_gate, W_up ~ N(0, 1/D) (F x D) and W_down ~ N(0, 1/F) (D x F);
router gates g(t, e) = softmax over seeded N(0, 1) logits of token t's top-k slots, and 1 for
every shared expert.

Data semantics, replayed in the order the timing run started the instructions (so a value is
read only after its producer has finished, exactly as the engine ran them):

- `input %x` fills x's rows with the layer input of its tokens;
- `load %w ... expert e slice s of n` makes w hold that slice; `send`/`recv` copy contents
  (weight identity, or act rows matched by token id);
- `gemm %w, %x, %y expert e slice s of n tokens T`: for t in T,
  y[t] += g(t, e) · W_down[:, r] · (silu(W_gate[r] · x[t]) * (W_up[r] · x[t])) with FFN rows
  r = [s·F/n, (s+1)·F/n); w must hold that slice, x must hold t's input, t must route to e;
- `accumulate %a into %b tokens T` adds a's rows of T into b's;
- `output %y` declares the final output of y's tokens: every token exactly once.

Full-size weights do not fit in memory (DeepSeek-MoE-16B's 66 experts are 4.6 GB as float64),
so hidden and FFN sizes can be divided by `scale` (D' = D / scale, F' = max(F / scale, largest
slice count)): the same routing, slices, trajectories and programs run on smaller vectors. The
default scale is the smallest power of two that keeps the weights under 256 MiB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.sim.program import FlatProgram, SimError
from dialects.cisa_model import WEIGHT
from dialects.cisa_opcodes import ACC, GEMM, INPUT, LOAD, OUTPUT, RECV

WEIGHT_BUDGET_BYTES = 256 * 2**20
REL_TOLERANCE = 1e-9
_ZERO, _INPUT, _PARTIAL = 0, 1, 2


def _silu(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + np.exp(-z))


def choose_scale(flat: FlatProgram, scale: int | None) -> tuple[int, int, int]:
    """(scale, D', F') for the layer; `None` picks the default scale."""
    model = flat.layer.model
    hidden, ffn = model.hidden.data, model.ffn.data
    slices = max(
        (flat.field(i, "of") for i, code in enumerate(flat.op) if code == GEMM),
        default=1,
    )
    experts = model.experts.data + model.shared.data

    def dims(k: int) -> tuple[int, int]:
        return max(1, hidden // k), max(ffn // k, slices)

    if scale is None:
        scale = 1
        while scale < max(hidden, ffn):
            d, f = dims(scale)
            if experts * 3 * d * f * 8 <= WEIGHT_BUDGET_BYTES:
                break
            scale *= 2
    else:
        check_scale(scale, hidden)
    return (scale, *dims(scale))


def check_scale(scale: int, hidden: int, name: str = "numerics scale") -> None:
    """A scale the user gave: from 1 to the hidden size (beyond it the hidden vectors would be
    rounded up to one element, a silent change); a usage error (exit 2) otherwise."""
    from fsedp_compiler.cli_common import UsageError

    if scale < 1:
        raise UsageError(f"{name} must be a positive integer, got {scale}")
    if scale > hidden:
        raise UsageError(
            f"{name} {scale} is larger than the layer's hidden size {hidden}; "
            f"the largest allowed is {hidden}"
        )


class _Weights:
    """Per-expert weights, made on first use from (seed, expert)."""

    def __init__(self, seed: int, hidden: int, ffn: int):
        self.seed, self.hidden, self.ffn = seed, hidden, ffn
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __getitem__(self, expert: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w = self.cache.get(expert)
        if w is None:
            rng = np.random.default_rng([self.seed, 1, expert])
            d, f = self.hidden, self.ffn
            w = (
                rng.standard_normal((f, d)) / np.sqrt(d),
                rng.standard_normal((f, d)) / np.sqrt(d),
                rng.standard_normal((d, f)) / np.sqrt(f),
            )
            self.cache[expert] = w
        return w


def _partial(weights, expert: int, rows: slice, x: np.ndarray) -> np.ndarray:
    gate, up, down = weights[expert]
    h = _silu(x @ gate[rows].T) * (x @ up[rows].T)
    return h @ down[:, rows].T


def check_numerics(flat: FlatProgram, order: list[int], *, scale: int | None = None,
                   seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Replay the data semantics; return the numerics report, or raise SimError."""
    layer = flat.layer
    if layer is None:
        raise SimError(
            "the numerics check needs the moe.layer (model shape and routing) in the module"
        )
    model = layer.model
    experts, shared, top_k = model.experts.data, model.shared.data, model.top_k.data
    routing = layer.routing_array()
    tokens = routing.shape[0]
    scale, hidden, ffn = choose_scale(flat, scale)

    rng = np.random.default_rng([seed, 0])
    x_in = rng.standard_normal((tokens, hidden))
    logits = rng.standard_normal((tokens, top_k))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    gates = np.zeros((tokens, experts + shared))
    gates[np.arange(tokens)[:, None], routing] = probs
    gates[:, experts:] = 1.0
    weights = _Weights(seed, hidden, ffn)

    reference = np.zeros((tokens, hidden))
    for e in range(experts + shared):
        users = np.flatnonzero(gates[:, e])
        if len(users):
            out = _partial(weights, e, slice(0, ffn), x_in[users])
            reference[users] += gates[users, e, None] * out

    run = _Replay(flat, x_in, gates, weights, ffn, experts + shared)
    for i in order:
        run.apply(i)
    output = run.final_output(tokens)

    error = np.abs(output - reference)
    max_abs = float(error.max())
    magnitude = float(np.abs(reference).max()) or 1.0
    max_rel = max_abs / magnitude
    worst = int(np.unravel_index(int(error.argmax()), error.shape)[0])
    result = {
        "ok": max_rel <= REL_TOLERANCE,
        "tokens": tokens,
        "max_abs_error": float(f"{max_abs:.6g}"),
        "max_rel_error": float(f"{max_rel:.6g}"),
        "rel_tolerance": REL_TOLERANCE,
        "seed": seed,
        "scaled": scale != 1,
        "scale": scale,
        "hidden": hidden,
        "ffn": ffn,
        "full_hidden": model.hidden.data,
        "full_ffn": model.ffn.data,
        "gemms": run.gemms,
    }
    if not result["ok"]:
        raise SimError(
            f"numerics mismatch: max abs error {max_abs:.3g} (max rel error {max_rel:.3g}, "
            f"tolerance {REL_TOLERANCE:g}), worst at token {worst}; the programs do not compute "
            "the MoE layer"
        )
    return result


class _Replay:
    def __init__(self, flat, x_in, gates, weights, ffn, num_experts):
        self.flat = flat
        self.x_in, self.gates, self.weights = x_in, gates, weights
        self.ffn, self.num_experts = ffn, num_experts
        self.hidden = x_in.shape[1]
        self.slice_of: dict[int, tuple[int, int, int]] = {}  # weight buffer -> (e, s, n)
        self.values: dict[int, np.ndarray] = {}  # act buffer -> rows
        # What each act row holds: _ZERO (as allocated), _INPUT (its token's layer input, or a
        # copy or zero-plus-copy of it) or _PARTIAL (anything computed).
        self.state: dict[int, np.ndarray] = {}
        self.rows: dict[int, dict[int, int]] = {}  # act buffer -> token -> row
        self.token_list: dict[int, list[int]] = {}
        self.outputs: dict[int, np.ndarray] = {}
        self.gemms = 0

    def fail(self, i: int, message: str) -> SimError:
        f = self.flat
        return SimError(f"numerics: chiplet {f.chiplet[f.prog[i]]}, {f.describe(i)}: {message}")

    def act(self, b: int) -> np.ndarray:
        values = self.values.get(b)
        if values is None:
            tokens = list(self.flat.buf_tokens[b])
            self.token_list[b] = tokens
            self.rows[b] = {t: r for r, t in enumerate(tokens)}
            values = np.zeros((len(tokens), self.hidden))
            self.values[b] = values
            self.state[b] = np.full(len(tokens), _ZERO, dtype=np.int8)
        return values

    def row_index(self, i: int, b: int, tokens, what: str) -> np.ndarray:
        self.act(b)
        rows = self.rows[b]
        try:
            return np.fromiter((rows[t] for t in tokens), dtype=np.int64, count=len(tokens))
        except KeyError as missing:
            raise self.fail(i, f"token {missing.args[0]} is not in its {what} buffer") from None

    def apply(self, i: int) -> None:
        f = self.flat
        code = f.op[i]
        if code == GEMM:
            self.gemm(i)
        elif code == INPUT:
            b = f.bufs[i][0]
            values = self.act(b)
            values[:] = self.x_in[self.token_list[b]]
            self.state[b][:] = _INPUT
        elif code == LOAD:
            expert = f.field(i, "expert")
            if expert >= self.num_experts:
                raise self.fail(i, f"expert {expert} does not exist")
            self.slice_of[f.bufs[i][0]] = (expert, f.field(i, "slice"), f.field(i, "of"))
        elif code == RECV:
            self.transfer(i, f.bufs[f.pair[i]][0], f.bufs[i][0])
        elif code == ACC:
            src, dst = f.bufs[i]
            tokens = f.code.tokens[i]
            rows_src = self.row_index(i, src, tokens, "source")
            rows_dst = self.row_index(i, dst, tokens, "destination")
            self.values[dst][rows_dst] += self.values[src][rows_src]
            before, added = self.state[dst][rows_dst], self.state[src][rows_src]
            self.state[dst][rows_dst] = np.where(
                before == _ZERO, added, np.where(added == _ZERO, before, _PARTIAL)
            )
        elif code == OUTPUT:
            b = f.bufs[i][0]
            values = self.act(b)
            for row, t in enumerate(self.token_list[b]):
                if t in self.outputs:
                    raise self.fail(i, f"token {t} is output a second time")
                self.outputs[t] = values[row].copy()

    def transfer(self, i: int, src: int, dst: int) -> None:
        kind = self.flat.buf_kind
        if kind[src] != kind[dst]:
            raise self.fail(i, "receives a weight buffer into an act buffer, or the reverse")
        if kind[src] == WEIGHT:
            self.slice_of[dst] = self.slice_of[src]
            return
        self.act(src)
        tokens = self.token_list[src]
        rows = self.row_index(i, dst, tokens, "receiving")
        self.values[dst][rows] = self.values[src]
        self.state[dst][rows] = self.state[src]

    def gemm(self, i: int) -> None:
        f = self.flat
        expert, index, count = (f.field(i, k) for k in ("expert", "slice", "of"))
        w, x, y = self.flat.bufs[i]
        held = self.slice_of.get(w)
        if held != (expert, index, count):
            holds = "nothing" if held is None else "expert {} slice {} of {}".format(*held)
            raise self.fail(i, f"the weight buffer holds {holds}")
        if expert >= self.num_experts:
            raise self.fail(i, f"expert {expert} does not exist")
        tokens = f.code.tokens[i]
        gate = self.gates[list(tokens), expert]
        if not gate.all():
            t = tokens[int(np.flatnonzero(gate == 0)[0])]
            raise self.fail(i, f"token {t} is not routed to expert {expert}")
        rows_x = self.row_index(i, x, tokens, "input")
        held = self.state[x][rows_x] != _INPUT
        if held.any():
            t = tokens[int(np.flatnonzero(held)[0])]
            raise self.fail(i, f"the input buffer does not hold token {t}'s layer input")
        rows_y = self.row_index(i, y, tokens, "output")
        ffn_rows = slice(index * self.ffn // count, (index + 1) * self.ffn // count)
        out = _partial(self.weights, expert, ffn_rows, self.values[x][rows_x])
        self.values[y][rows_y] += gate[:, None] * out
        self.state[y][rows_y] = _PARTIAL
        self.gemms += 1

    def final_output(self, tokens: int) -> np.ndarray:
        missing = [t for t in range(tokens) if t not in self.outputs]
        if missing:
            shown = ", ".join(map(str, missing[:8])) + (", ..." if len(missing) > 8 else "")
            raise SimError(f"numerics: no cisa.output covers tokens {shown}")
        extra = sorted(t for t in self.outputs if not 0 <= t < tokens)
        if extra:
            raise SimError(f"numerics: output of token {extra[0]}, which the layer does not have")
        return np.stack([self.outputs[t] for t in range(tokens)])
