"""What the passes share: a pass base class with friendly option errors, the layer being
compiled, reading and writing the compact plan (the `chiplet.*` ops), slice geometry and token
bookkeeping.

The plan is a handful of ops next to the `moe.layer` (see `dialects/chiplet.py` and
docs/compiler.md): `chiplet.partition`, one `chiplet.expert` per used expert (per-slice decisions
are attribute arrays on it), `chiplet.placement` and `chiplet.dispatch` for the EP baselines, and
`chiplet.buffers`. Every pass reads what it needs, checks that the passes it depends on ran, and
raises `FsedpError` (never a traceback) naming the pass and the numbers involved.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, TypeVar, get_type_hints

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    ModuleOp,
)
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.utils.arg_spec import ArgSpec

from dialects.chiplet import (
    SYSTEM_ATTR_NAME,
    DispatchOp,
    ExpertOp,
    PartitionOp,
    PlacementOp,
    SystemAttr,
)
from dialects.moe import LayerOp
from fsedp_compiler import limits
from fsedp_compiler.errors import FsedpError

_EXPECTED = {int: "an integer", bool: "true or false", str: "a name", float: "a number"}


def _matches(value: object, expected: type) -> bool:
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


@dataclass(frozen=True)
class FsedpPass(ModulePass):
    """Base of our passes: option errors name the pass, the option and what it accepts."""

    name: ClassVar[str]
    # A pass that only reads the module (a verifier): drivers need not verify the IR after it.
    reads_only: ClassVar[bool] = False

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name.replace("_", "-") for f in dataclasses.fields(cls)]

    @classmethod
    def option_types(cls) -> dict[str, type]:
        hints = get_type_hints(cls)
        return {f.name.replace("_", "-"): hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def from_spec(cls, spec: ArgSpec):
        types = cls.option_types()
        for key, values in spec.parameters.items():
            option = key.replace("_", "-")
            if option not in types:
                known = ", ".join(types) or "none"
                raise FsedpError(f"{cls.name}: unknown option '{key}'; options: {known}")
            expected = types[option]
            if len(values) != 1 or not _matches(values[0], expected):
                shown = ",".join(_shown(v) for v in values) or "nothing"
                raise FsedpError(
                    f"{cls.name}: option '{option}' expects {_EXPECTED[expected]}, got {shown}"
                )
        return super().from_spec(spec)

    def resolved_options(self, module: ModuleOp) -> dict[str, object]:
        """The options as they ran on `module` (after `apply`): a pass that chooses a value
        automatically (`slices=0`, ...) reports the value it chose."""
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in dataclasses.fields(self)}

    def error(self, message: str) -> FsedpError:
        return FsedpError(f"{self.name}: {message}")

    def check_choice(self, option: str, value: str, choices: Sequence[str]) -> None:
        if value not in choices:
            raise self.error(f"unknown {option} '{value}'; accepted: {', '.join(choices)}")

    def check_at_least(self, option: str, value: int, minimum: int, meaning: str = "") -> None:
        if value < minimum:
            note = f" ({meaning})" if meaning else ""
            raise self.error(f"{option} must be >= {minimum}{note}, got {value}")


# -- attribute helpers ----------------------------------------------------------------------


def int_array(op: Operation, name: str) -> tuple[int, ...] | None:
    attr = op.attributes.get(name)
    return attr.get_values() if isinstance(attr, DenseArrayBase) else None


def trajectories(op: ExpertOp) -> list[tuple[int, ...]] | None:
    attr = op.attributes.get("stops")
    if not isinstance(attr, ArrayAttr):
        return None
    return [stops.get_values() for stops in attr.data]


def trajectory_parents(op: ExpertOp) -> list[tuple[int, ...]] | None:
    """The chiplet each stop of each slice receives from (-1 for the entry): the `parents`
    array of a tree, or for a path the previous stop."""
    attr = op.attributes.get("parents")
    if isinstance(attr, ArrayAttr):
        return [parents.get_values() for parents in attr.data]
    paths = trajectories(op)
    return None if paths is None else [(-1, *stops[:-1]) for stops in paths]


def trajectory_depth(stops: Sequence[int], parents: Sequence[int]) -> int:
    """Forwarding steps from the entry to the farthest stop (a path of n stops: n - 1)."""
    depth = {stops[0]: 0}
    for stop, parent in zip(stops[1:], parents[1:], strict=True):
        depth[stop] = depth[parent] + 1
    return max(depth.values())


def buffers_needed(depth: int, balance: float) -> int:
    """Slice buffers per chiplet that keep DDR and the engines streaming: 4 + 2·depth + 4·balance,
    rounded up.

    `depth` is the deepest trajectory (forwarding steps from a slice's entry to its farthest
    stop); `balance` is min(ρ, 1/ρ) for ρ = the busiest chiplet's compute time over the layer's
    DDR time, 1 when the two are equal. A stop forwards a slice only once it has fully arrived,
    so a slice holds a buffer on every stop between its load and the farthest one while in
    transit (2 per step: the one arriving and the one leaving); when neither DDR nor compute
    dominates, the engines' backlog swings around the DDR stream and needs up to 4 more; 4 are
    the slice being loaded, the one computing and R4's reserve. The constants come from sweeping
    the buffer count for the four study models at 16-1024 tokens on 2x2 and 4x4 meshes with
    `paired` loading and tree trajectories (docs/compiler.md, "Buffers"): 8-9 buffers reach the
    bound on DDR-bound 2x2 layers, 12 at the balance point (256 tokens), 16-20 on 4x4.
    """
    return 4 + math.ceil(2 * depth + 4 * balance)


# -- the layer --------------------------------------------------------------------------------


@dataclass
class Layer:
    """The MoE layer being compiled and the machine it runs on."""

    module: ModuleOp
    op: LayerOp
    system: SystemAttr
    routing: np.ndarray

    @property
    def hidden(self) -> int:
        return self.op.model.hidden.data

    @property
    def ffn(self) -> int:
        return self.op.model.ffn.data

    @property
    def experts(self) -> int:
        return self.op.model.experts.data

    @property
    def shared(self) -> int:
        return self.op.model.shared.data

    @property
    def weight_bytes(self) -> int:
        return self.op.model.bytes.data

    @property
    def element_bytes(self) -> int:
        return self.system.element_bytes.data

    @property
    def tokens(self) -> int:
        return int(self.routing.shape[0])

    @property
    def chiplets(self) -> int:
        return self.system.num_chiplets

    @property
    def token_bytes(self) -> int:
        """Bytes of one token's activation vector."""
        return self.hidden * self.element_bytes

    def is_shared(self, expert: int) -> bool:
        return expert >= self.experts

    @cached_property
    def token_counts(self) -> np.ndarray:
        """Tokens per expert id (routed, then shared experts which every token uses)."""
        routed = np.bincount(self.routing.ravel(), minlength=self.experts)
        return np.concatenate([routed, np.full(self.shared, self.tokens, dtype=np.int64)])

    @cached_property
    def used_experts(self) -> list[int]:
        """Routed experts with at least one token, then every shared expert."""
        return [e for e in range(self.experts + self.shared) if self.token_counts[e] > 0]

    @cached_property
    def _routed_tokens(self) -> list[np.ndarray]:
        flat = self.routing.ravel()
        token_of = np.repeat(np.arange(self.tokens), self.routing.shape[1])
        order = np.argsort(flat, kind="stable")
        bounds = np.cumsum(np.bincount(flat, minlength=self.experts))
        return np.split(token_of[order], bounds[:-1])

    def expert_tokens(self, expert: int) -> np.ndarray:
        """Sorted ids of the tokens that use `expert`."""
        if self.is_shared(expert):
            return np.arange(self.tokens)
        return self._routed_tokens[expert]

    def experts_of_token(self, token: int) -> list[int]:
        return [*map(int, self.routing[token]), *range(self.experts, self.experts + self.shared)]

    # slice geometry: slice s of n holds FFN rows [s*F//n, (s+1)*F//n)

    def slice_rows(self, slices: int, index: int) -> tuple[int, int]:
        return index * self.ffn // slices, (index + 1) * self.ffn // slices

    def slice_bytes(self, slices: int, index: int) -> int:
        lo, hi = self.slice_rows(slices, index)
        return 3 * self.hidden * (hi - lo) * self.weight_bytes

    def max_slice_bytes(self, slices: int) -> int:
        return 3 * self.hidden * -(-self.ffn // slices) * self.weight_bytes

    def expert_name(self, expert: int) -> str:
        return f"shared expert {expert}" if self.is_shared(expert) else f"expert {expert}"


def read_layer(module: ModuleOp, who: str) -> Layer:
    layers = [op for op in module.body.block.ops if isinstance(op, LayerOp)]
    if not layers:
        raise FsedpError(f"{who}: the module has no moe.layer to compile")
    if len(layers) > 1:
        raise FsedpError(
            f"{who}: the module has {len(layers)} moe.layer ops; compile one layer per module"
        )
    system = module.attributes.get(SYSTEM_ATTR_NAME)
    if not isinstance(system, SystemAttr):
        raise FsedpError(
            f"{who}: the module has no '{SYSTEM_ATTR_NAME}' attribute describing the machine"
        )
    return Layer(module, layers[0], system, layers[0].routing_array())


# -- the plan ops -----------------------------------------------------------------------------

OpT = TypeVar("OpT", bound=Operation)


def find_ops(module: ModuleOp, cls: type[OpT]) -> list[OpT]:
    return [op for op in module.body.block.ops if isinstance(op, cls)]


def find_op(module: ModuleOp, cls: type[OpT]) -> OpT | None:
    return next((op for op in module.body.block.ops if isinstance(op, cls)), None)


def require_op(module: ModuleOp, cls: type[OpT], who: str, producer: str) -> OpT:
    op = find_op(module, cls)
    if op is None:
        raise FsedpError(f"{who}: no {cls.name} in the module; run {producer} first")
    return op


def _insertion_point(module: ModuleOp) -> Operation | None:
    """Plan ops go before the first cisa.program (if any), else at the end of the module."""
    return next((op for op in module.body.block.ops if op.name == "cisa.program"), None)


def insert_ops(module: ModuleOp, ops: Sequence[Operation]) -> None:
    block = module.body.block
    before = _insertion_point(module)
    if before is None:
        block.add_ops(ops)
    else:
        block.insert_ops_before(ops, before)


def replace_ops(module: ModuleOp, cls: type[Operation], new_ops: Sequence[Operation]) -> None:
    """Erase every op of class `cls` and insert `new_ops` where the first one was."""
    old = find_ops(module, cls)
    block = module.body.block
    if old:
        block.insert_ops_before(new_ops, old[0])
    else:
        insert_ops(module, new_ops)
    for op in old:
        op.detach()
        op.erase()


def require_experts(module: ModuleOp, layer: Layer, who: str) -> list[ExpertOp]:
    """The `chiplet.expert` ops by expert id, checked against the layer (`check_plan`): every
    pass that reads the plan reads it through here."""
    experts = sorted(find_ops(module, ExpertOp), key=lambda op: op.expert.value.data)
    if not experts:
        raise FsedpError(f"{who}: no chiplet.expert ops in the module; run shard-experts first")
    check_plan(module, layer, who)
    return experts


@dataclass(frozen=True)
class SliceRef:
    """Slice `index` of `expert` (an op), loaded in round `round` (expert parallelism with
    rounds; else 0), in the global load order. `item` indexes the expert's per-slice arrays."""

    op: ExpertOp
    expert: int
    index: int
    slices: int
    round: int = 0
    item: int = 0


def expert_rounds_of(op: ExpertOp) -> tuple[int, ...]:
    """The rounds an expert is loaded in (`rounds`; one, round 0, when absent)."""
    return int_array(op, "rounds") or (0,)


def slice_refs(op: ExpertOp) -> list[SliceRef]:
    """The expert's slices, round after round, in the order of its per-slice arrays."""
    count, expert = op.slices.value.data, op.expert.value.data
    return [
        SliceRef(op, expert, index, count, round_, k * count + index)
        for k, round_ in enumerate(expert_rounds_of(op))
        for index in range(count)
    ]


def load_order(experts: Sequence[ExpertOp]) -> list[SliceRef]:
    """Every slice in load order: by `order` (order-loads) when present, else by id (and round)."""
    refs: list[tuple[tuple[int, int], SliceRef]] = []
    have_order = all("order" in op.attributes for op in experts)
    position = 0
    for op in experts:
        order = int_array(op, "order") if have_order else None
        for ref in slice_refs(op):
            key = (0, order[ref.item]) if order is not None else (ref.round, position)
            refs.append((key, ref))
            position += 1
    refs.sort(key=lambda item: item[0])
    return [ref for _, ref in refs]


def block_owners(tokens: int, chiplets: int) -> list[int]:
    """Contiguous blocks; the first `tokens % chiplets` chiplets hold one extra token."""
    base, extra = divmod(tokens, chiplets)
    owners: list[int] = []
    for chiplet in range(chiplets):
        owners.extend([chiplet] * (base + (chiplet < extra)))
    return owners


def token_owners(module: ModuleOp, layer: Layer) -> list[int]:
    partition = find_op(module, PartitionOp)
    if partition is None:
        return block_owners(layer.tokens, layer.chiplets)
    return list(partition.owners.get_values())


def tokens_by_chiplet(owners: Sequence[int], chiplets: int) -> list[list[int]]:
    result: list[list[int]] = [[] for _ in range(chiplets)]
    for token, chiplet in enumerate(owners):
        result[chiplet].append(token)
    return result


def expert_chiplet_tokens(layer: Layer, owners: Sequence[int]) -> dict[int, list[list[int]]]:
    """For each used expert, the sorted tokens of each chiplet that use it."""
    owner_array = np.asarray(owners, dtype=np.int64)
    result: dict[int, list[list[int]]] = {}
    for expert in layer.used_experts:
        tokens = layer.expert_tokens(expert)
        per_chiplet: list[list[int]] = [[] for _ in range(layer.chiplets)]
        for token, chiplet in zip(tokens.tolist(), owner_array[tokens].tolist(), strict=True):
            per_chiplet[chiplet].append(token)
        result[expert] = per_chiplet
    return result


def check_plan(module: ModuleOp, layer: Layer, who: str) -> None:
    """Refuse plan ops that do not fit the layer (the dialect's verifiers check what each op
    says on its own and against the mesh): a pass reading a plan written or edited by hand
    says which op is wrong instead of failing inside."""
    partition = find_op(module, PartitionOp)
    if partition is not None and len(partition.owners) != layer.tokens:
        raise FsedpError(
            f"{who}: chiplet.partition lists owners of {len(partition.owners)} tokens; the "
            f"layer has {layer.tokens}"
        )
    used, seen = set(layer.used_experts), set()
    for op in find_ops(module, ExpertOp):
        e = op.expert.value.data
        if e not in used:
            raise FsedpError(
                f"{who}: chiplet.expert {e} is not an expert any token of the layer uses "
                f"(routed 0..{layer.experts - 1}, shared after them)"
            )
        if e in seen:
            raise FsedpError(f"{who}: chiplet.expert {e} is given twice")
        seen.add(e)
        slices = op.slices.value.data
        if slices > layer.ffn:  # a slice is at least one FFN row
            raise FsedpError(
                f"{who}: chiplet.expert {e} has {slices} slices; the FFN dimension is {layer.ffn}"
            )
    total = sum(
        op.slices.value.data * len(expert_rounds_of(op)) for op in find_ops(module, ExpertOp)
    )
    if total > limits.MAX_SLICES:
        raise FsedpError(
            f"{who}: the plan holds {total} slices, more than the limit of {limits.MAX_SLICES} "
            "per layer (README: Limits)"
        )
    homes = expert_homes(module)
    if homes is not None and len(homes) != layer.experts:
        raise FsedpError(
            f"{who}: chiplet.placement lists homes of {len(homes)} experts; the layer has "
            f"{layer.experts} routed experts"
        )
    for op in find_ops(module, DispatchOp):
        outside = [t for t in op.tokens.get_values() if not 0 <= t < layer.tokens]
        if outside:
            raise FsedpError(
                f"{who}: chiplet.dispatch from {op.src.value.data} to {op.dst.value.data} "
                f"lists token {outside[0]}; the layer has tokens 0..{layer.tokens - 1}"
            )


def expert_homes(module: ModuleOp) -> tuple[int, ...] | None:
    """`homes[e]` of every routed expert under expert parallelism (`place-experts`), or None."""
    placement = find_op(module, PlacementOp)
    return None if placement is None else placement.homes.get_values()


def computed_tokens(module: ModuleOp, layer: Layer) -> dict[int, list[int]]:
    """For each used expert, how many of its tokens each chiplet applies it to.

    Every chiplet computes its own tokens (FSE-DP, and shared experts under expert parallelism);
    under expert parallelism (`chiplet.placement`) a routed expert's home computes all of them.
    """
    counts: dict[int, list[int]] = {}
    for (expert, _), per_chiplet in round_tokens(module, layer).items():
        total = counts.setdefault(expert, [0] * layer.chiplets)
        for chiplet, count in enumerate(per_chiplet):
            total[chiplet] += count
    return counts


def round_tokens(module: ModuleOp, layer: Layer) -> dict[tuple[int, int], list[int]]:
    """`computed_tokens` per (expert, round): under expert parallelism a home serves its own
    tokens in round 0 and each received dispatch in that dispatch's round; otherwise every
    expert has round 0 only."""
    per_chiplet = expert_chiplet_tokens(layer, token_owners(module, layer))
    homes = expert_homes(module)
    rounds = dispatch_rounds(module)
    counts: dict[tuple[int, int], list[int]] = {}
    for expert, chiplets in per_chiplet.items():
        if homes is None or layer.is_shared(expert):
            counts[(expert, 0)] = [len(tokens) for tokens in chiplets]
            continue
        home = homes[expert]
        for source, tokens in enumerate(chiplets):
            if tokens:
                round_ = 0 if source == home else rounds.get((source, home), 0)
                counts.setdefault((expert, round_), [0] * layer.chiplets)[home] += len(tokens)
    return dict(sorted(counts.items()))


def dispatch_rounds(module: ModuleOp) -> dict[tuple[int, int], int]:
    """(source, home) -> the round of that dispatch."""
    return {
        (d.src.value.data, d.dst.value.data): d.round_index for d in find_ops(module, DispatchOp)
    }


def compute_balance(module: ModuleOp, layer: Layer) -> float:
    """min(ρ, 1/ρ) for ρ = the busiest chiplet's compute cycles over the layer's DDR cycles
    (every used expert's bytes once, over all channels' bandwidth): 1 when neither dominates."""
    system = layer.system
    counts = np.array(list(computed_tokens(module, layer).values()), dtype=np.float64)
    per_token = 2 * 3 * layer.hidden * layer.ffn / system.ops_per_cycle.data
    compute = float(counts.sum(axis=0).max()) * per_token
    ddr_bytes_per_cycle = sum(gbps for gbps, _ in system.spec.ddr) / system.clock_ghz.data
    ddr = len(counts) * 3 * layer.hidden * layer.ffn * layer.weight_bytes / ddr_bytes_per_cycle
    if compute <= 0 or ddr <= 0:
        return 0.0
    return min(compute / ddr, ddr / compute)


def activation_rows(module: ModuleOp, layer: Layer) -> list[int]:
    """Token vectors each chiplet keeps in SRAM at its peak, as lower-to-cisa lays them out.

    Every chiplet holds its own tokens' input and output (2 rows per token). Under expert
    parallelism (`chiplet.dispatch` ops) a source also holds, for each dispatch, the gathered
    tokens it sends and the buffer their returned outputs arrive in (2 rows per sent token),
    and a home holds the received inputs plus their partial outputs (2 rows per received
    token) of one round at a time.
    """
    owners = token_owners(module, layer)
    rows = [2 * n for n in np.bincount(owners, minlength=layer.chiplets).tolist()]
    received: dict[tuple[int, int], int] = {}  # (home, round) -> rows
    for dispatch in find_ops(module, DispatchOp):
        count = len(dispatch.tokens)
        rows[dispatch.src.value.data] += 2 * count
        key = (dispatch.dst.value.data, dispatch.round_index)
        received[key] = received.get(key, 0) + 2 * count
    busiest = [0] * layer.chiplets
    for (home, _), count in received.items():
        busiest[home] = max(busiest[home], count)
    return [own + held for own, held in zip(rows, busiest, strict=True)]


def activation_bytes(module: ModuleOp, layer: Layer) -> list[int]:
    return [rows * layer.token_bytes for rows in activation_rows(module, layer)]


def format_bytes(count: int) -> str:
    """`1048576 B (1.0 MiB)`: exact bytes for the record, a rounded size for reading."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count} B ({count / size:.1f} {unit})"
    return f"{count} B"


def _shown(value: object) -> str:
    """An option value as it is written (`true`, not Python's `True`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
