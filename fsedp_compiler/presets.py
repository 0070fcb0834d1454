"""Hardware and model presets, with the unit and provenance of every field.

A `SystemSpec` describes the multi-chiplet machine (DESIGN.md §4); a `ModelSpec` describes one MoE
layer shape and the number of such layers (DESIGN.md §5). Both are frozen dataclasses: a spec is a
value, and `with_overrides` makes a changed, validated copy. `SYSTEM_FIELDS` / `MODEL_FIELDS`
document every field (unit, meaning, source of the default) so help texts and reports never guess.
"""

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from fsedp_compiler import limits
from fsedp_compiler.errors import FsedpError

# Neither is given by the study: its simulator counts SRAM in slots (12 slice buffers) and prices
# every D2D move the same whatever the distance. 8 MiB holds the study's 12 buffers of a
# DeepSeek-MoE slice at 16 slices per expert (12 x 528 KiB) plus 64 tokens' activations;
# 8 cycles (10 ns at 0.8 GHz) per hop is our assumption for a D2D PHY plus router.
DEFAULT_SRAM_BYTES = 8 * 1024 * 1024
DEFAULT_HOP_LATENCY_CYCLES = 8

_STUDY = "MoeOpt simulator (github.com/Man0xbfc00380/MoeOpt); DESIGN.md §4"
_HF_CONFIG = "the model's HuggingFace config.json; DESIGN.md §5"


class FieldInfo(NamedTuple):
    """Documentation of one spec field: its unit, its meaning, where its default comes from."""

    unit: str
    doc: str
    source: str


def is_int(value: object) -> bool:
    """An integer, Python's or numpy's; not a bool (`rows=True` is a mistake, not a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return is_int(value) or isinstance(value, float)


def _require_int(
    kind: str, field: str, value: object, minimum: int, maximum: int | None = None
) -> None:
    if not is_int(value):
        raise FsedpError(f"{kind} field '{field}' must be an integer, got {value!r}")
    if value < minimum:  # type: ignore[operator]
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise FsedpError(f"{kind} field '{field}' must be {bound}, got {value}")
    if maximum is not None and value > maximum:  # type: ignore[operator]
        raise FsedpError(
            f"{kind} field '{field}' is {value}, more than the limit of {maximum}"
            f"{_unit(kind, field)} (README: Limits)"
        )


def _require_number(kind: str, field: str, value: object, bounds: tuple[float, float]) -> None:
    """A finite number within the inclusive `bounds`; ints compare exactly, however large."""
    if not _is_number(value):
        raise FsedpError(f"{kind} field '{field}' must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FsedpError(f"{kind} field '{field}' must be finite, got {value}")
    low, high = bounds
    if not low <= value <= high:  # type: ignore[operator]
        unit = _unit(kind, field)
        raise FsedpError(
            f"{kind} field '{field}' is {value}, outside the range {low} to {high}{unit} "
            "(README: Limits)"
        )


def _unit(kind: str, field: str) -> str:
    """' <unit>' of a field for messages ('ddr[2].gbps' is a DDR channel's 'gbps')."""
    table = {"system": SYSTEM_FIELDS, "model": MODEL_FIELDS}[kind]
    if field.startswith("ddr["):
        table, field = DDR_CHANNEL_FIELDS, field.rpartition(".")[2]
    info = table.get(field)
    return f" {info.unit}" if info else ""


def _require_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise FsedpError(f"{kind} field 'name' must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class DdrChannel:
    """One off-chip DDR channel.

    Attributes:
        gbps: sustained bandwidth in GB/s (1e9 bytes per second).
        chiplet: row-major id (row * cols + col) of the chiplet the channel is attached to; slices
            loaded through this channel enter the mesh there.
    """

    gbps: float
    chiplet: int


@dataclass(frozen=True)
class SystemSpec:
    """A 2D mesh of chiplets with DDR channels and D2D links (DESIGN.md §4).

    Chiplets are numbered row-major: id = row * cols + col. All sizes are in bytes, bandwidths in
    GB/s (1e9 bytes/s), latencies in cycles of the chiplet clock. See `SYSTEM_FIELDS` for the unit
    and provenance of each field. Call `validate()` before use; presets are valid.
    """

    name: str
    rows: int
    cols: int
    clock_ghz: float
    ops_per_cycle: int
    sram_bytes: int
    ddr: tuple[DdrChannel, ...]
    d2d_gbps: float
    hop_latency_cycles: int
    element_bytes: int
    slice_buffers: int

    @property
    def chiplets(self) -> int:
        """Number of chiplets in the mesh (rows * cols)."""
        return self.rows * self.cols

    @property
    def cycles_per_second(self) -> float:
        """Chiplet clock in Hz."""
        return self.clock_ghz * 1e9

    def validate(self) -> None:
        """Raise FsedpError naming the first field whose value cannot describe a machine."""
        kind = "system"
        _require_name(kind, self.name)
        _require_int(kind, "rows", self.rows, 1, limits.MAX_MESH_SIDE)
        _require_int(kind, "cols", self.cols, 1, limits.MAX_MESH_SIDE)
        _require_number(kind, "clock_ghz", self.clock_ghz, limits.CLOCK_GHZ_RANGE)
        _require_int(kind, "ops_per_cycle", self.ops_per_cycle, 1, limits.MAX_OPS_PER_CYCLE)
        _require_int(kind, "sram_bytes", self.sram_bytes, 1, limits.MAX_SRAM_BYTES)
        self._validate_ddr()
        _require_number(kind, "d2d_gbps", self.d2d_gbps, limits.BANDWIDTH_GBPS_RANGE)
        _require_int(
            kind, "hop_latency_cycles", self.hop_latency_cycles, 0, limits.MAX_HOP_LATENCY_CYCLES
        )
        _require_int(kind, "element_bytes", self.element_bytes, 1, limits.MAX_ELEMENT_BYTES)
        # Rule R4 admits a DDR load only while one buffer stays free for D2D arrivals,
        # so a chiplet needs at least two buffers to make progress.
        _require_int(kind, "slice_buffers", self.slice_buffers, 2, limits.MAX_SLICE_BUFFERS)

    def _validate_ddr(self) -> None:
        if not isinstance(self.ddr, tuple) or not self.ddr:
            raise FsedpError(
                f"system field 'ddr' must be a non-empty tuple of DdrChannel, got {self.ddr!r}"
            )
        if len(self.ddr) > limits.MAX_DDR_CHANNELS:
            raise FsedpError(
                f"system field 'ddr' has {len(self.ddr)} channels, more than the limit of "
                f"{limits.MAX_DDR_CHANNELS} (README: Limits)"
            )
        for index, channel in enumerate(self.ddr):
            field = f"ddr[{index}]"
            if not isinstance(channel, DdrChannel):
                raise FsedpError(f"system field '{field}' must be a DdrChannel, got {channel!r}")
            _require_number("system", f"{field}.gbps", channel.gbps, limits.BANDWIDTH_GBPS_RANGE)
            _require_int("system", f"{field}.chiplet", channel.chiplet, 0)
            if channel.chiplet >= self.chiplets:
                raise FsedpError(
                    f"system field '{field}.chiplet' is {channel.chiplet}, outside the "
                    f"{self.rows}x{self.cols} mesh (chiplet ids 0..{self.chiplets - 1})"
                )


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a Mixture-of-Experts model's MoE layers (DESIGN.md §5).

    Each routed or shared expert is a SwiGLU FFN with three matrices of hidden x ffn weights.
    `layers` counts MoE layers only (dense layers are not simulated). See `MODEL_FIELDS`.
    """

    name: str
    hidden: int
    ffn: int
    experts: int
    shared: int
    top_k: int
    layers: int
    element_bytes: int = 1

    @property
    def expert_bytes(self) -> int:
        """Bytes of one expert's weights: gate, up and down matrices, each hidden x ffn."""
        return 3 * self.hidden * self.ffn * self.element_bytes

    def validate(self) -> None:
        """Raise FsedpError naming the first field whose value cannot describe an MoE layer."""
        kind = "model"
        _require_name(kind, self.name)
        _require_int(kind, "hidden", self.hidden, 1, limits.MAX_DIMENSION)
        _require_int(kind, "ffn", self.ffn, 1, limits.MAX_DIMENSION)
        _require_int(kind, "experts", self.experts, 1, limits.MAX_EXPERTS)
        _require_int(kind, "shared", self.shared, 0, limits.MAX_SHARED)
        _require_int(kind, "top_k", self.top_k, 1)
        if self.top_k > self.experts:
            raise FsedpError(
                f"model field 'top_k' is {self.top_k}, more than experts = {self.experts}"
            )
        _require_int(kind, "layers", self.layers, 1, limits.MAX_LAYERS)
        _require_int(kind, "element_bytes", self.element_bytes, 1, limits.MAX_ELEMENT_BYTES)


DDR_CHANNEL_FIELDS: dict[str, FieldInfo] = {
    "gbps": FieldInfo("GB/s (1e9 B/s)", "sustained bandwidth of the channel", _STUDY),
    "chiplet": FieldInfo(
        "chiplet id", "row-major id of the chiplet the channel attaches to", _STUDY
    ),
}

SYSTEM_FIELDS: dict[str, FieldInfo] = {
    "name": FieldInfo("-", "preset name, used in reports", "this file"),
    "rows": FieldInfo("chiplets", "mesh rows", _STUDY),
    "cols": FieldInfo("chiplets", "mesh columns", _STUDY),
    "clock_ghz": FieldInfo("GHz", "chiplet clock; every latency in cycles uses it", _STUDY),
    "ops_per_cycle": FieldInfo(
        "ops/cycle", "matrix-engine throughput per chiplet (a multiply-add counts as 2 ops)", _STUDY
    ),
    "sram_bytes": FieldInfo(
        "bytes",
        "on-chip SRAM per chiplet for weights and activations",
        "assumption: the study counts SRAM in slots, not bytes; 8 MiB holds its 12 slice "
        "buffers of DeepSeek-MoE at 16 slices per expert plus 64 tokens' activations",
    ),
    "ddr": FieldInfo(
        "channels",
        "off-chip DDR channels, each a bandwidth and an attached chiplet (see DDR_CHANNEL_FIELDS)",
        _STUDY,
    ),
    "d2d_gbps": FieldInfo(
        "GB/s (1e9 B/s)", "bandwidth of one die-to-die link between mesh neighbours", _STUDY
    ),
    "hop_latency_cycles": FieldInfo(
        "cycles",
        "fixed latency added per D2D hop",
        "assumption: the study prices every D2D move the same; 10 ns (8 cycles) per hop",
    ),
    "element_bytes": FieldInfo(
        "bytes", "size of one weight or activation element (1 = int8)", _STUDY
    ),
    "slice_buffers": FieldInfo(
        "slices", "micro-slice buffers per chiplet for FSE-DP streaming (>= 2, rule R4)", _STUDY
    ),
}

MODEL_FIELDS: dict[str, FieldInfo] = {
    "name": FieldInfo("-", "preset name, used in reports", "this file"),
    "hidden": FieldInfo("elements", "model (hidden) dimension D", _HF_CONFIG),
    "ffn": FieldInfo(
        "elements", "expert FFN (intermediate) dimension F, the one micro-slicing cuts", _HF_CONFIG
    ),
    "experts": FieldInfo("experts", "routed experts per MoE layer", _HF_CONFIG),
    "shared": FieldInfo(
        "experts", "shared experts per MoE layer, applied to every token", _HF_CONFIG
    ),
    "top_k": FieldInfo("experts/token", "routed experts selected per token", _HF_CONFIG),
    "layers": FieldInfo("layers", "MoE layers (dense-FFN layers excluded)", _HF_CONFIG),
    "element_bytes": FieldInfo(
        "bytes", "size of one weight element (1 = int8, as in the study)", _STUDY
    ),
}


def _corner_chiplets(rows: int, cols: int) -> tuple[int, ...]:
    return (0, cols - 1, (rows - 1) * cols, rows * cols - 1)


def _paper_mesh(size: int, channel_gbps: float, slice_buffers: int) -> SystemSpec:
    # The study keeps four corner DDR channels at every mesh size and scales their bandwidth.
    return SystemSpec(
        name=f"paper-{size}x{size}",
        rows=size,
        cols=size,
        clock_ghz=0.8,
        ops_per_cycle=2048,
        sram_bytes=DEFAULT_SRAM_BYTES,
        ddr=tuple(DdrChannel(channel_gbps, chiplet) for chiplet in _corner_chiplets(size, size)),
        d2d_gbps=288.0,
        hop_latency_cycles=DEFAULT_HOP_LATENCY_CYCLES,
        element_bytes=1,
        slice_buffers=slice_buffers,
    )


_BASE_DDR_GBPS = 25.6

SYSTEM_PRESETS: dict[str, SystemSpec] = {
    # The study's 12 slice buffers are for its 2x2 mesh. A slice in transit holds a buffer on
    # every stop it has reached, and trajectories on larger meshes are deeper: 2 more buffers per
    # extra hop of mesh diameter (an assumption; docs/compiler.md, "Buffers").
    "paper-2x2": _paper_mesh(2, _BASE_DDR_GBPS, 12),
    # 1.5 x 25.6, written out: 1.5 * 25.6 is 38.400000000000006
    "paper-3x3": _paper_mesh(3, 38.4, 16),
    "paper-4x4": _paper_mesh(4, 51.2, 20),  # 2 x 25.6
}

# hidden / expert FFN / routed experts / shared / top-k / MoE layers, from each model's config.json.
MODEL_PRESETS: dict[str, ModelSpec] = {
    # Qwen/Qwen3-30B-A3B: moe_intermediate_size 768, num_experts 128, 48 layers, mlp_only_layers []
    "qwen3-30b-a3b": ModelSpec("qwen3-30b-a3b", 2048, 768, 128, 0, 8, 48),
    # deepseek-ai/deepseek-moe-16b-base: 28 layers, first_k_dense_replace 1
    "deepseek-moe-16b": ModelSpec("deepseek-moe-16b", 2048, 1408, 64, 2, 6, 27),
    # microsoft/Phi-3.5-MoE-instruct: num_local_experts 16
    "phi-3.5-moe": ModelSpec("phi-3.5-moe", 4096, 6400, 16, 0, 2, 32),
    # IEITYuan/Yuan2-M32-hf: 32 experts, top-2, every one of 24 layers MoE
    "yuan2.0-m32": ModelSpec("yuan2.0-m32", 2048, 8192, 32, 0, 2, 24),
    # mistralai/Mixtral-8x7B-v0.1: num_local_experts 8
    "mixtral-8x7b": ModelSpec("mixtral-8x7b", 4096, 14336, 8, 0, 2, 32),
    # allenai/OLMoE-1B-7B-0924: num_experts 64, every layer MoE
    "olmoe-1b-7b": ModelSpec("olmoe-1b-7b", 2048, 1024, 64, 0, 8, 16),
    # deepseek-ai/DeepSeek-V2-Lite: 27 layers, first_k_dense_replace 1
    "deepseek-v2-lite": ModelSpec("deepseek-v2-lite", 2048, 1408, 64, 2, 6, 26),
    # deepseek-ai/DeepSeek-V3: 61 layers, first_k_dense_replace 3
    "deepseek-v3": ModelSpec("deepseek-v3", 7168, 2048, 256, 1, 8, 58),
}


def _lookup(kind: str, presets: dict, name: str):
    if name not in presets:
        known = ", ".join(sorted(presets))
        raise FsedpError(f"unknown {kind} preset '{name}'; known: {known}")
    return presets[name]


def get_system(name: str) -> SystemSpec:
    """The system preset called `name`, or FsedpError listing the known names."""
    return _lookup("system", SYSTEM_PRESETS, name)


def get_model(name: str) -> ModelSpec:
    """The model preset called `name`, or FsedpError listing the known names."""
    return _lookup("model", MODEL_PRESETS, name)


Spec = TypeVar("Spec", SystemSpec, ModelSpec)


def _coerce(field: dataclasses.Field, value: object) -> object:
    # Overrides often come from the command line as text; convert only the unambiguous scalar cases
    # and leave everything else to validate(), which names the field.
    if isinstance(value, str) and field.type in (int, float):
        try:
            return field.type(value)
        except ValueError:
            raise FsedpError(
                f"field '{field.name}' expects {field.type.__name__}, got {value!r}"
            ) from None
    return value


def with_overrides(spec: Spec, fields: dict) -> Spec:
    """A validated copy of `spec` with `fields` replaced; unknown field names raise FsedpError.

    String values for int/float fields are converted (so `{"sram_bytes": "1048576"}` works).
    """
    by_name = {field.name: field for field in dataclasses.fields(spec)}
    unknown = sorted(name for name in fields if name not in by_name)
    if unknown:
        kind = "system" if isinstance(spec, SystemSpec) else "model"
        valid = ", ".join(by_name)
        raise FsedpError(f"unknown {kind} field '{unknown[0]}'; valid fields: {valid}")
    changes = {name: _coerce(by_name[name], value) for name, value in fields.items()}
    result = dataclasses.replace(spec, **changes)
    result.validate()
    return result
