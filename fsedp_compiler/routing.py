"""Expert routing for one MoE layer: synthetic generators, trace loaders and validation.

A routing is an int64 array `[tokens, top_k]`: row t holds the distinct routed expert ids
(0-based) of token t. Shared experts are not part of it; every token uses them.

Sources (docs/design.md §6):
- synthetic: `uniform`, `zipf` (param s) or `dirichlet` (param alpha) expert popularity, seeded;
- the study's traces: one JSON object per layer, `{"<token position>": [expert ids]}`, as a single
  object, a list of objects or JSON Lines; shared expert ids, if listed, follow the routed ones;
- plain `[tokens x top_k]` arrays as JSON lists or `.npy` (optionally `[layers, tokens, top_k]`).
`model_from_hf_config` reads a model shape from a HuggingFace config.json.
"""

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dialects.moe import find_routing_error
from fsedp_compiler import limits
from fsedp_compiler.errors import FsedpError, decode_utf8, located, split_lines
from fsedp_compiler.nesting import JSON_STRING, char_offset, first_too_deep
from fsedp_compiler.presets import ModelSpec, is_int

ROUTING_KINDS = ("uniform", "zipf", "dirichlet")

# Small enough to lose every race against a real popularity; large enough that Exp(1) / p
# stays finite.
_MIN_POPULARITY = 1e-300
# Race keys drawn at a time (4M float64, 32 MiB): tokens x experts of them can be 2^28.
_RACE_CELLS = 2**22

PathLike = str | os.PathLike


# --- synthetic routing ------------------------------------------------------------------------


def _check_sizes(tokens: int, experts: int, top_k: int, seed: int) -> None:
    for label, value in (("tokens", tokens), ("experts", experts), ("top_k", top_k)):
        if not is_int(value) or value < 1:
            raise FsedpError(f"{label} must be a positive integer, got {value!r}")
    check_routing_size(tokens, top_k)
    if experts > limits.MAX_EXPERTS:
        raise FsedpError(
            f"experts = {experts} is more than the limit of {limits.MAX_EXPERTS} routed experts "
            "(README: Limits)"
        )
    if top_k > experts:
        raise FsedpError(
            f"top_k = {top_k} is more than experts = {experts}: a token needs distinct experts"
        )
    if not is_int(seed) or seed < 0:
        raise FsedpError(f"seed must be a non-negative integer, got {seed!r}")


def _check_param(kind: str, param: float | None) -> None:
    if kind not in ROUTING_KINDS:
        raise FsedpError(f"unknown routing kind '{kind}'; known: {', '.join(ROUTING_KINDS)}")
    name = {"zipf": "s", "dirichlet": "alpha"}.get(kind)
    if name is None:
        if param is not None:
            raise FsedpError(f"uniform routing takes no parameter, got {param!r}")
        return
    if param is None:
        raise FsedpError(f"{kind} routing needs its parameter {name} > 0")
    low, high = limits.ZIPF_S_RANGE if kind == "zipf" else limits.DIRICHLET_ALPHA_RANGE
    is_number = isinstance(param, int | float) and not isinstance(param, bool)
    # Compared as given: an int too large for a float is still out of range, not an overflow.
    if not is_number or param != param or not low < param <= high:
        raise FsedpError(
            f"{kind} parameter {name} must be a number > {low} and <= {high}, got {param!r} "
            "(README: Limits)"
        )


def _popularity(
    kind: str, experts: int, rng: np.random.Generator, param: float | None
) -> np.ndarray:
    if kind == "uniform":
        return np.full(experts, 1.0 / experts)
    if kind == "zipf":
        # Ranks go to a seeded permutation of ids, so the hot experts are not always 0, 1, 2.
        weights = 1.0 / np.arange(1, experts + 1, dtype=np.float64) ** param
        popularity = np.empty(experts)
        popularity[rng.permutation(experts)] = weights
        return popularity / popularity.sum()
    return rng.dirichlet(np.full(experts, float(param)))


def expert_popularity(kind: str, experts: int, seed: int, param: float | None = None) -> np.ndarray:
    """Per-expert popularity (sums to 1) that `synthetic_routing` with these arguments samples."""
    _check_sizes(1, experts, 1, seed)
    _check_param(kind, param)
    return _popularity(kind, experts, np.random.default_rng(seed), param)


def synthetic_routing(
    kind: str, tokens: int, experts: int, top_k: int, seed: int, param: float | None = None
) -> np.ndarray:
    """A seeded `[tokens, top_k]` int64 routing: top_k distinct experts per token, by popularity.

    kind: `uniform`; `zipf` with param s > 0 (the expert of rank r has popularity ∝ 1/r^s, ranks
    assigned by a seeded permutation of ids); `dirichlet` with param alpha > 0 (popularity drawn
    from Dirichlet(alpha, ..., alpha)). Per token, experts are drawn without replacement with
    probability proportional to popularity, and listed in draw order.
    """
    _check_sizes(tokens, experts, top_k, seed)
    _check_param(kind, param)
    rng = np.random.default_rng(seed)
    popularity = _popularity(kind, experts, rng, param)
    # A token's races take `experts` draws; drawing a block of tokens at a time bounds memory
    # and gives the same draws, in the same order, as drawing all tokens at once.
    block = max(1, _RACE_CELLS // experts)
    return np.concatenate(
        [
            _race(rng, popularity, min(block, tokens - first), top_k)
            for first in range(0, tokens, block)
        ]
    )


def _race(rng: np.random.Generator, popularity: np.ndarray, tokens: int, top_k: int) -> np.ndarray:
    """The routing of `tokens` tokens: top_k experts each, drawn by exponential races."""
    experts = len(popularity)
    # Exponential races (the Gumbel-top-k trick without logs): the k smallest Exp(1) / p are a
    # weighted draw without replacement, in draw order. Flooring p keeps zero-popularity experts
    # (tiny Dirichlet alpha) behind every positive one yet randomly ordered among themselves.
    races = rng.standard_exponential(size=(tokens, experts))
    keys = races / np.maximum(popularity, _MIN_POPULARITY)
    if top_k < experts:
        chosen = np.argpartition(keys, top_k - 1, axis=1)[:, :top_k]
    else:
        chosen = np.broadcast_to(np.arange(experts), (tokens, experts))
    order = np.argsort(np.take_along_axis(keys, chosen, axis=1), axis=1)
    return np.take_along_axis(chosen, order, axis=1).astype(np.int64)


# --- validation -------------------------------------------------------------------------------


def check_routing_size(tokens: int, top_k: int) -> None:
    """Refuse a routing larger than the limits before anything that size is built."""
    if tokens > limits.MAX_TOKENS:
        raise FsedpError(
            f"{tokens} tokens is more than the limit of {limits.MAX_TOKENS} tokens per layer "
            "(README: Limits)"
        )
    if tokens * top_k > limits.MAX_ROUTED_IDS:
        raise FsedpError(
            f"{tokens} tokens x top_k {top_k} = {tokens * top_k} expert ids is more than the "
            f"limit of {limits.MAX_ROUTED_IDS} per layer (README: Limits)"
        )


def validate_routing(routing: np.ndarray, experts: int, top_k: int) -> None:
    """Raise FsedpError naming the first bad token unless `routing` is a valid routing."""
    routing = np.asarray(routing)
    if routing.ndim != 2:
        raise FsedpError(f"routing must be a [tokens, top_k] array, got shape {routing.shape}")
    if routing.shape[0] == 0:
        raise FsedpError("routing has no tokens")
    if routing.shape[1] != top_k:
        raise FsedpError(f"token 0 has {routing.shape[1]} expert ids, expected top_k = {top_k}")
    check_routing_size(routing.shape[0], top_k)
    if routing.dtype.kind not in "iu":
        raise FsedpError(f"expert ids must be integers, got dtype {routing.dtype}")
    problem = find_routing_error(routing, experts)
    if problem is not None:
        raise FsedpError(problem)


# --- file loaders -----------------------------------------------------------------------------


@contextmanager
def _errors_in(path: PathLike | None) -> Iterator[None]:
    """Attach `path` (if any) to any FsedpError raised inside that does not name a file yet."""
    try:
        yield
    except FsedpError as error:
        if path is None or error.file is not None:
            raise
        raise FsedpError(
            error.message,
            file=str(path),
            line=error.line,
            column=error.column,
            source_line=error.source_line,
        ) from None


def _unreadable(error: OSError) -> FsedpError:
    return FsedpError(f"cannot read file: {error.strerror or error}")


def _read_text(path: PathLike, limit: int) -> str:
    """The text of a trace or config file, refused past `limit` bytes (README: Limits) before
    more than that is read: a device (/dev/zero) or a sparse file of terabytes has no end."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise FsedpError(
                f"file is larger than the limit of {limit // 2**20} MiB for this kind of file "
                "(README: Limits)"
            )
    except OSError as error:
        raise _unreadable(error) from None
    except ValueError as error:  # a path with a NUL character
        raise FsedpError(f"cannot read file: {error}") from None
    # Line ends are kept as written: errors count \n, \r\n and \r alike (errors.position).
    return decode_utf8(raw)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    # json.loads would silently keep the last of two equal keys, hiding a corrupt trace.
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise FsedpError(f"key '{key}' appears twice in one JSON object")
        result[key] = value
    return result


def _parse_json(text: str, first_line: int = 1) -> object:
    _check_json_nesting(text, first_line)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as error:
        raise _json_error(f"invalid JSON: {error.msg}", text, error.pos, first_line) from None
    except ValueError:  # an integer beyond the digits Python converts; json does not say where
        most = sys.get_int_max_str_digits()
        long = re.search(f"[0-9]{{{most + 1},}}", text)
        message = f"number with more than {most} digits is too long"
        raise _json_error(message, text, long.start() if long else 0, first_line) from None


def _json_error(message: str, text: str, offset: int, first_line: int) -> FsedpError:
    # Located here rather than by json's lineno, which counts only \n as a line end.
    error = located(message, text, offset)
    error.line += first_line - 1
    return error


def _check_json_nesting(text: str, first_line: int) -> None:
    """Refuse JSON nested deeper than the limit before the (recursive) json reader sees it."""
    data = text.encode("utf-8", errors="surrogatepass")
    offset = first_too_deep(data, b"[{", b"]}", limits.MAX_JSON_NESTING, JSON_STRING)
    if offset is not None:
        message = (
            f"JSON nested deeper than the limit of {limits.MAX_JSON_NESTING} levels "
            "(README: Limits)"
        )
        raise _json_error(message, text, char_offset(data, offset), first_line)


def _parse_json_lines(text: str) -> list:
    return [
        _parse_json(line, number)
        for number, line in enumerate(split_lines(text), 1)
        if line.strip()
    ]


def _parse_document(text: str, json_lines: bool) -> object:
    """A JSON document, or the list of JSON Lines values (one layer per line)."""
    if json_lines:
        return _parse_json_lines(text)
    try:
        return _parse_json(text)
    except FsedpError as error:
        # "Extra data" after a complete first value: the file is JSON Lines under a .json name.
        if "Extra data" not in error.message:
            raise
        return _parse_json_lines(text)


def _is_layer(item: object) -> bool:
    return isinstance(item, dict) or (
        isinstance(item, list) and len(item) > 0 and all(isinstance(row, list) for row in item)
    )


def _json_layers(document: object) -> list:
    """Split a parsed document into per-layer items (trace objects or [tokens x k] lists)."""
    if isinstance(document, dict):
        return [document]
    if not isinstance(document, list) or not document:
        raise FsedpError(
            'expected a JSON object {"<token>": [expert ids]}, a list of them (one per layer) '
            f"or a [tokens x top_k] list, got {json.dumps(document)[:40]}"
        )
    if all(_is_layer(item) for item in document):
        return document
    return [document]  # a single [tokens x top_k] list; its rows are checked later


def _select_layer(layers: list | np.ndarray, layer: int | None):
    count = len(layers)
    if layer is None:
        if count != 1:
            raise FsedpError(f"file holds {count} layers; choose one with layer = 0..{count - 1}")
        return layers[0]
    if not is_int(layer) or not 0 <= layer < count:
        raise FsedpError(
            f"layer {layer!r} is out of range: file holds {count} layer(s), 0..{count - 1}"
        )
    return layers[layer]


def _trace_rows(trace: dict) -> list:
    """The rows of a `{"<token position>": [ids]}` object, ordered by position 0..T-1."""
    by_position = {}
    for key, ids in trace.items():
        shown = key if len(key) <= 40 else f"{key[:40]}... ({len(key)} characters)"
        if not re.fullmatch(r"[0-9]+", key):
            raise FsedpError(
                f"token key '{shown}' is not a token position (a non-negative integer)"
            )
        if len(key.lstrip("0")) > len(str(limits.MAX_TOKENS)):  # and more than int() converts
            raise FsedpError(
                f"token key '{shown}' is beyond the limit of {limits.MAX_TOKENS} tokens per layer "
                "(README: Limits)"
            )
        position = int(key)
        if position in by_position:
            raise FsedpError(f"token position {position} appears twice (as '{key}')")
        by_position[position] = ids
    if not by_position:
        raise FsedpError("routing has no tokens")
    missing = sorted(set(range(len(by_position))) - by_position.keys())
    if missing:
        raise FsedpError(
            f"token positions must be 0..{len(by_position) - 1} with none missing; "
            f"missing {missing[0]}, largest is {max(by_position)}"
        )
    return [by_position[position] for position in range(len(by_position))]


def _width_error(token: int, width: int, top_k: int, shared: int) -> FsedpError:
    expected = f"top_k = {top_k}"
    if shared:
        expected += f" or top_k + shared = {top_k + shared}"
    return FsedpError(f"token {token} has {width} expert ids, expected {expected}")


def _routed_ids(token: int, row: object, top_k: int, shared: int) -> list:
    if not isinstance(row, list):
        raise FsedpError(
            f"token {token}: expected a list of expert ids, got {json.dumps(row)[:40]}"
        )
    if len(row) not in (top_k, top_k + shared):
        raise _width_error(token, len(row), top_k, shared)
    for value in row:
        if not is_int(value):
            raise FsedpError(f"token {token}: expert id {json.dumps(value)} is not an integer")
    return row[:top_k]  # shared expert ids, if listed, follow the routed ones


def _rows_to_routing(rows: list, experts: int, top_k: int, shared: int) -> np.ndarray:
    if not rows:
        raise FsedpError("routing has no tokens")
    routed = [_routed_ids(token, row, top_k, shared) for token, row in enumerate(rows)]
    try:
        routing = np.array(routed, dtype=np.int64)
    except OverflowError:
        raise FsedpError(
            f"an expert id does not fit in 64 bits (experts are 0..{experts - 1})"
        ) from None
    validate_routing(routing, experts, top_k)
    return routing


def load_trace_json(
    path: PathLike, experts: int, top_k: int, shared: int = 0, layer: int | None = None
) -> np.ndarray:
    """Load a routing from the study's JSON trace format or a JSON `[tokens x top_k]` list.

    Accepts one `{"<token position>": [expert ids]}` object, a list of them or JSON Lines (one per
    layer; `layer` picks one and is required when there are several), or a list of id lists (a list
    of such lists is again one per layer). Token positions must be 0..T-1. A row may list top_k ids
    or top_k + shared ids; the trailing shared ids are dropped.
    """
    with _errors_in(path):
        text = _read_text(path, limits.MAX_TRACE_FILE_BYTES)
        document = _parse_document(text, json_lines=Path(path).suffix == ".jsonl")
        chosen = _select_layer(_json_layers(document), layer)
        check_routing_size(len(chosen), top_k)
        rows = _trace_rows(chosen) if isinstance(chosen, dict) else chosen
        return _rows_to_routing(rows, experts, top_k, shared)


_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _npy_header(file) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape and dtype from a .npy header, and how many bytes of data follow it."""
    # Checked here because numpy reports any other content as "pickled data".
    if file.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
        raise FsedpError("not a .npy file: it does not start with the .npy header")
    file.seek(0)
    version = np.lib.format.read_magic(file)
    if version not in _NPY_HEADER_READERS:
        raise FsedpError(f"unsupported .npy format version {version[0]}.{version[1]}")
    shape, _, dtype = _NPY_HEADER_READERS[version](file)
    return shape, dtype, os.fstat(file.fileno()).st_size - file.tell()


def _check_npy_header(
    shape: tuple[int, ...], dtype: np.dtype, held: int, top_k: int, shared: int
) -> None:
    """Refuse from the header alone an array that is not a routing, is beyond the limits or
    is more than the file holds."""
    if not all(type(size) is int and size >= 0 for size in shape):  # (True, 2) parses too
        raise FsedpError(f"not a readable .npy array: shape {shape} is not valid")
    if len(shape) not in (2, 3):
        raise FsedpError(
            f"expected a [tokens, top_k] or [layers, tokens, top_k] array, got shape {shape}"
        )
    if dtype.kind not in "iu":  # numpy counts timedelta64 among its integers; we do not
        raise FsedpError(f"expert ids must be integers, got dtype {dtype}")
    if len(shape) == 3 and shape[0] > limits.MAX_LAYERS:
        raise FsedpError(
            f"array of shape {shape} holds {shape[0]} layers, more than the limit of "
            f"{limits.MAX_LAYERS} (README: Limits)"
        )
    tokens, width = shape[-2:]
    if tokens > 0 and width not in (top_k, top_k + shared):
        raise _width_error(0, width, top_k, shared)
    check_routing_size(tokens, top_k)
    promised = math.prod(shape) * dtype.itemsize
    if promised > held:
        raise FsedpError(
            f"not a readable .npy array: its header promises shape {shape} of {dtype} "
            f"({promised} bytes), the file holds {held} bytes of data"
        )


def _load_npy(path: PathLike, top_k: int, shared: int) -> np.ndarray:
    """The array of a .npy file, memory-mapped: only the layer picked from it is read."""
    try:
        with open(path, "rb") as file:
            header = _npy_header(file)
        _check_npy_header(*header, top_k, shared)
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as error:
        raise _unreadable(error) from None
    except (ValueError, EOFError, TypeError) as error:  # numpy's words for a broken header
        raise FsedpError(f"not a readable .npy array: {error}") from None


def load_routing_npy(
    path: PathLike, experts: int, top_k: int, shared: int = 0, layer: int | None = None
) -> np.ndarray:
    """Load a routing from a `.npy` integer array `[tokens, top_k]` or `[layers, tokens, top_k]`.

    As in traces, the array may carry top_k + shared columns; the trailing shared ones are dropped.
    The header is checked against the limits before any data is read.
    """
    with _errors_in(path):
        array = _load_npy(path, top_k, shared)
        routing = _select_layer(array if array.ndim == 3 else [array], layer)
        routing = routing[:, :top_k]
        validate_routing(routing, experts, top_k)
        return np.array(routing, dtype=np.int64)


def load_routing_file(
    path: PathLike, experts: int, top_k: int, shared: int = 0, layer: int | None = None
) -> np.ndarray:
    """Load a routing, choosing the reader by extension: .json, .jsonl or .npy."""
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".jsonl"):
        return load_trace_json(path, experts, top_k, shared, layer)
    if suffix == ".npy":
        return load_routing_npy(path, experts, top_k, shared, layer)
    raise FsedpError(
        f"unsupported routing file extension '{suffix}'; expected .json, .jsonl or .npy",
        file=str(path),
    )


# --- HuggingFace config.json ------------------------------------------------------------------

# Key names differ by family; the first present wins, so MoE-specific keys shadow dense ones.
# FFN: Qwen3-MoE and DeepSeek / Mixtral, PhiMoE and OLMoE.
_FFN_KEYS = ("moe_intermediate_size", "intermediate_size")
# Routed experts: Qwen3-MoE and OLMoE / DeepSeek / Mixtral and PhiMoE.
_EXPERT_KEYS = ("num_experts", "n_routed_experts", "num_local_experts")


def _config_int(config: dict, *keys: str, minimum: int = 0, maximum: int | None = None) -> int:
    for key in keys:
        if key in config:
            value = config[key]
            if not is_int(value):
                raise FsedpError(f"config key '{key}' must be an integer, got {json.dumps(value)}")
            if value < minimum:
                raise FsedpError(f"config key '{key}' must be >= {minimum}, got {value}")
            if maximum is not None and value > maximum:
                raise FsedpError(
                    f"config key '{key}' is {value}, more than the limit of {maximum} "
                    "(README: Limits)"
                )
            return int(value)
    names = " or ".join(f"'{key}'" for key in keys)
    raise FsedpError(f"config is missing key {names}")


def _moe_layer_count(config: dict) -> int:
    """How many decoder layers are MoE layers, following each family's layer rule."""
    # Checked before counting: the count walks every layer index.
    total = _config_int(config, "num_hidden_layers", minimum=1, maximum=limits.MAX_LAYERS)
    if "first_k_dense_replace" in config:  # DeepSeek: dense first, then every moe_layer_freq-th
        first = _config_int(config, "first_k_dense_replace")
        every = (
            _config_int(config, "moe_layer_freq", minimum=1) if "moe_layer_freq" in config else 1
        )
        return sum(1 for index in range(first, total) if index % every == 0)
    if "mlp_only_layers" in config or "decoder_sparse_step" in config:  # Qwen-MoE
        dense = config.get("mlp_only_layers") or []
        if not isinstance(dense, list) or not all(is_int(index) for index in dense):
            raise FsedpError("config key 'mlp_only_layers' must be a list of layer indices")
        step = (
            _config_int(config, "decoder_sparse_step", minimum=1)
            if "decoder_sparse_step" in config
            else 1
        )
        return sum(1 for index in range(total) if index not in dense and (index + 1) % step == 0)
    return total


def _load_config(path_or_dict: PathLike | dict) -> dict:
    if isinstance(path_or_dict, dict):
        return path_or_dict
    config = _parse_json(_read_text(path_or_dict, limits.MAX_CONFIG_FILE_BYTES))
    if not isinstance(config, dict):
        raise FsedpError("a config.json must hold a JSON object")
    return config


def model_from_hf_config(path_or_dict: PathLike | dict, name: str | None = None) -> ModelSpec:
    """A ModelSpec from a HuggingFace config.json.

    Knows the key names of Qwen3-MoE, DeepSeek, Mixtral, PhiMoE and OLMoE.

    `layers` counts MoE layers only: DeepSeek's first_k_dense_replace and Qwen's mlp_only_layers
    (and decoder_sparse_step) dense layers are excluded. The name defaults to `_name_or_path`,
    then `model_type`.
    """
    with _errors_in(None if isinstance(path_or_dict, dict) else path_or_dict):
        config = _load_config(path_or_dict)
        # Absent outside DeepSeek, and null in DeepSeek configs without shared experts.
        shared = config.get("n_shared_experts") or 0
        spec = ModelSpec(
            name=name or config.get("_name_or_path") or config.get("model_type") or "hf-config",
            hidden=_config_int(config, "hidden_size"),
            ffn=_config_int(config, *_FFN_KEYS),
            experts=_config_int(config, *_EXPERT_KEYS),
            shared=shared,
            top_k=_config_int(config, "num_experts_per_tok"),
            layers=_moe_layer_count(config),
        )
        spec.validate()
        return spec
