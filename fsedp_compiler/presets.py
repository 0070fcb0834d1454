"""Hardware and model presets, with the unit and provenance of every field.

A `SystemSpec` describes the multi-chiplet machine (docs/design.md §5); its fields, their units,
defaults, ranges and sources are the table `SYSTEM_FIELDS` of `dialects/machine.py`, which this
module re-exports: the presets are that table's defaults (`paper-2x2`) with the few fields that
change with the mesh size. A `ModelSpec` describes one MoE layer shape and the number of such
layers (docs/design.md §6); `MODEL_FIELDS` documents its fields. Both are frozen dataclasses: a spec
is a value, and `with_overrides` makes a changed, validated copy.
"""

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from dialects.machine import (
    SYSTEM_FIELDS,
    DdrChannel,
    Link,
    MachineError,
    SystemSpec,
    check_int,
    default_system,
    is_int,
    validate_system,
)
from fsedp_compiler import limits
from fsedp_compiler.errors import FsedpError

__all__ = ["SYSTEM_FIELDS", "DdrChannel", "Link", "MachineError", "SystemSpec", "is_int"]

# Neither is given by the study (SYSTEM_FIELDS says why each default is what it is).
DEFAULT_SRAM_BYTES = SYSTEM_FIELDS["sram_bytes"].default
DEFAULT_HOP_LATENCY_CYCLES = SYSTEM_FIELDS["hop_latency_cycles"].default

_STUDY = "MoeOpt simulator (github.com/Man0xbfc00380/MoeOpt); docs/design.md §5"
_HF_CONFIG = "the model's HuggingFace config.json; docs/design.md §6"


class FieldInfo(NamedTuple):
    """Documentation of one model field: its unit, its meaning, where its default comes from."""

    unit: str
    doc: str
    source: str


def check_system(spec: SystemSpec) -> None:
    """`validate_system` with the error users see: FsedpError naming the field."""
    try:
        validate_system(spec)
    except MachineError as error:
        raise FsedpError(str(error)) from None


def _require_int(field: str, value: object, minimum: int, maximum: int | None = None) -> None:
    info = MODEL_FIELDS.get(field)
    try:
        check_int(field, value, minimum, maximum, info.unit if info else "", what="model")
    except MachineError as error:
        raise FsedpError(str(error)) from None


def _require_name(kind: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise FsedpError(f"{kind} field 'name' must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class ModelSpec:
    """The shape of a Mixture-of-Experts model's MoE layers (docs/design.md §6).

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
        _require_name("model", self.name)
        _require_int("hidden", self.hidden, 1, limits.MAX_DIMENSION)
        _require_int("ffn", self.ffn, 1, limits.MAX_DIMENSION)
        _require_int("experts", self.experts, 1, limits.MAX_EXPERTS)
        _require_int("shared", self.shared, 0, limits.MAX_SHARED)
        _require_int("top_k", self.top_k, 1)
        if self.top_k > self.experts:
            raise FsedpError(
                f"model field 'top_k' is {self.top_k}, more than experts = {self.experts}"
            )
        _require_int("layers", self.layers, 1, limits.MAX_LAYERS)
        _require_int("element_bytes", self.element_bytes, 1, limits.MAX_ELEMENT_BYTES)


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


def paper_mesh(size: int, channel_gbps: float, slice_buffers: int) -> SystemSpec:
    """The study's `size x size` mesh: the table's defaults, four corner DDR channels of
    `channel_gbps` (the study keeps four at every size and scales their bandwidth)."""
    return default_system(f"paper-{size}x{size}").replace(
        rows=size,
        cols=size,
        ddr=tuple(DdrChannel(channel_gbps, c) for c in _corner_chiplets(size, size)),
        slice_buffers=slice_buffers,
    )


SYSTEM_PRESETS: dict[str, SystemSpec] = {
    # Every field at the table's default (which is paper_mesh(2, 25.6, 12)).
    "paper-2x2": default_system("paper-2x2"),
    # The study's 12 slice buffers are for its 2x2 mesh. A slice in transit holds a buffer on
    # every stop it has reached, and trajectories on larger meshes are deeper: 2 more buffers per
    # extra hop of mesh diameter (an assumption; docs/compiler.md, "Buffers").
    # 1.5 x 25.6, written out: 1.5 * 25.6 is 38.400000000000006
    "paper-3x3": paper_mesh(3, 38.4, 16),
    "paper-4x4": paper_mesh(4, 51.2, 20),  # 2 x 25.6
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
    # (and a list of channels or links to the tuple a spec holds) and leave everything else to
    # validation, which names the field.
    if isinstance(value, list) and field.type is tuple:
        return tuple(value)
    if isinstance(value, str) and field.type in (int, float):
        try:
            return field.type(value)
        except ValueError:
            kind = "an integer" if field.type is int else "a number"
            raise FsedpError(f"field '{field.name}' expects {kind}, got {value!r}") from None
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
    if isinstance(result, SystemSpec):
        check_system(result)
    else:
        result.validate()
    return result
