"""A study file (TOML) and the runs it describes.

```toml
[study]
name = "mixtral"                 # names the results (default: the file's stem)
base = "layer.moe"               # a .moe file, relative to this one; or moe = \"\"\"...\"\"\"
min_sram = true                  # also search each run's needed SRAM (fsedp-sim --min-sram)

[axes]                           # the product of every axis (and every zip group)
strategy = ["fsedp-paired", "ep", "hydra"]
"workload.tokens" = [64, 128]
seeds = [1, 2, 3]                # short for "workload.routing.seed"

[[zip]]                          # these vary together: (2x2, 12), (4x4, 20)
system = ["paper-2x2", "paper-4x4"]
"system.slice_buffers" = [12, 20]
```

An axis is any `-D` key (README, "Overrides"): a field, a block's preset or pipeline, a routing
argument, `system.ddr_gbps`. Its values are written as in a `.moe` file: TOML numbers and
booleans as they are, a TOML string as `.moe` text (a name such as `paper-4x4`, a call such as
`"zipf(s = 1.2, seed = 7)"`). Two inline tables name files, relative to the study file:
`{ file = "config.json" }` (a model's config, or with `workload.routing` a routing trace) and
`{ glob = "traces/*.json" }` (one value per matching file, in name order).

Every run is the base `.moe` with its axis values applied as `-D` overrides, so a run is checked
and reported exactly as `fsedp-sim BASE -D ...` would be.
"""

from __future__ import annotations

import glob as globbing
import itertools
import math
import os
import tomllib
from dataclasses import dataclass, field
from typing import Any

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.overrides import parse_override

SEEDS = "seeds"
SEED_KEY = "workload.routing.seed"
STUDY_KEYS = ("name", "base", "moe", "min_sram")
MAX_RUNS = 100_000  # a typo in an axis should not start a million runs


@dataclass(frozen=True)
class Run:
    """One point of the study: its axis values (for the results) and the -D texts."""

    index: int
    settings: tuple[tuple[str, Any], ...]  # (axis key, value as the study gave it)
    defines: tuple[str, ...]


@dataclass
class Study:
    name: str
    path: str
    moe_text: str
    moe_name: str  # the base file's path (for relative paths in it and error messages)
    min_sram: bool
    axes: list[str]  # axis keys, in the file's order
    runs: list[Run] = field(default_factory=list)


def load_study(path: str) -> Study:
    """Read and expand a study file; FsedpError (exit 1) with the file and the key at fault."""
    try:
        with open(path, "rb") as stream:
            data = tomllib.load(stream)
    except OSError as error:
        raise FsedpError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise FsedpError(f"invalid TOML: {error}", file=path) from None
    except UnicodeDecodeError as error:
        raise FsedpError(f"not UTF-8 text: {error.reason}", file=path) from None
    return _study(data, path)


def _study(data: dict[str, Any], path: str) -> Study:
    unknown = sorted(set(data) - {"study", "axes", "zip"})
    if unknown:
        raise _error(path, f"unknown table '{unknown[0]}'; a study has [study], [axes], [[zip]]")
    head = _table(data.get("study", {}), path, "study")
    for key in head:
        if key not in STUDY_KEYS:
            raise _error(path, f"unknown [study] key '{key}'; keys: {', '.join(STUDY_KEYS)}")
    folder = os.path.dirname(os.path.abspath(path))
    moe_text, moe_name = _base(head, folder, path)
    min_sram = head.get("min_sram", False)
    if not isinstance(min_sram, bool):
        raise _error(path, f"[study] min_sram must be true or false, got {min_sram!r}")
    name = head.get("name", os.path.splitext(os.path.basename(path))[0])
    if not isinstance(name, str) or not name:
        raise _error(path, "[study] name must be a non-empty string")
    groups = [_axes(_table(data.get("axes", {}), path, "axes"), folder, path, zipped=False)]
    zips = data.get("zip", [])
    if not isinstance(zips, list):
        raise _error(path, "zip groups are written [[zip]], one table per group")
    groups += [_axes(_table(z, path, "zip"), folder, path, zipped=True) for z in zips]
    study = Study(name, path, moe_text, moe_name, min_sram, [])
    _expand(study, [g for group in groups for g in group], path)
    return study


def _base(head: dict[str, Any], folder: str, path: str) -> tuple[str, str]:
    if ("base" in head) == ("moe" in head):
        raise _error(path, "[study] needs exactly one of base = (a .moe file) or moe = (its text)")
    if "moe" in head:
        if not isinstance(head["moe"], str):
            raise _error(path, "[study] moe must be the text of a .moe file")
        return head["moe"], os.path.join(folder, f"{os.path.basename(path)}[moe]")
    base = head["base"]
    if not isinstance(base, str):
        raise _error(path, "[study] base must be a path string")
    base_path = os.path.join(folder, base)
    try:
        with open(base_path, encoding="utf-8") as stream:
            return stream.read(), base_path
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise _error(path, f"cannot read base {base}: {reason}") from None


def _table(value: Any, path: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(path, f"[{name}] must be a table")
    return value


# An axis group: the keys that vary together, and their rows of values.
_Group = tuple[list[str], list[tuple[Any, ...]]]


def _axes(table: dict[str, Any], folder: str, path: str, zipped: bool) -> list[_Group]:
    """The table's axes as groups: each axis its own group, or one group if `zipped`."""
    columns: dict[str, list[Any]] = {}
    for key, values in table.items():
        name = SEED_KEY if key == SEEDS else key
        if name in columns:
            raise _error(path, f"axis '{key}' is given twice (seeds is {SEED_KEY})")
        try:
            parse_override(f"{name}=0")
        except ValueError as error:
            raise _error(path, f"axis '{key}': {str(error).split(': ', 1)[1]}") from None
        if not isinstance(values, list) or not values:
            raise _error(path, f"axis '{key}' must be a non-empty list of values")
        columns[name] = [v for value in values for v in _values(name, value, folder, path)]
    if not columns:
        return []
    if not zipped:
        return [([key], [(v,) for v in values]) for key, values in columns.items()]
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
        raise _error(path, f"a [[zip]] group's axes must have as many values each; {shown}")
    return [(list(columns), list(zip(*columns.values(), strict=True)))]


def _values(key: str, value: Any, folder: str, path: str) -> list[Any]:
    """One study value as the values it stands for (a glob: several)."""
    if isinstance(value, dict):
        if set(value) == {"file"} and isinstance(value["file"], str):
            return [_file_value(key, os.path.join(folder, value["file"]), path)]
        if set(value) == {"glob"} and isinstance(value["glob"], str):
            matches = sorted(globbing.glob(os.path.join(folder, value["glob"])))
            if not matches:
                raise _error(path, f"axis '{key}': glob '{value['glob']}' matches no file")
            return [_file_value(key, match, path) for match in matches]
        raise _error(path, f"axis '{key}': a table value is {{file = ...}} or {{glob = ...}}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(path, f"axis '{key}': {value} is not a finite number")
    if isinstance(value, list | dict) or not isinstance(value, str | int | float | bool):
        raise _error(path, f"axis '{key}': values are numbers, booleans or .moe text strings")
    return [value]


def _file_value(key: str, file: str, path: str) -> str:
    if key == "workload.routing":
        return f"trace({_moe_string(file)})"
    if key == "model":
        return _moe_string(file)
    raise _error(path, f"axis '{key}' takes no file; files are model configs or routing traces")


def _moe_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def define_text(key: str, value: Any) -> str:
    """The -D text that sets axis `key` to a study value."""
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, float):
        return f"{key}={value!r}"
    return f"{key}={value}"


def _expand(study: Study, groups: list[_Group], path: str) -> None:
    study.axes = [key for keys, _ in groups for key in keys]
    if len(set(study.axes)) != len(study.axes):
        twice = next(k for k in study.axes if study.axes.count(k) > 1)
        raise _error(path, f"axis '{twice}' is given in two groups")
    total = math.prod(len(rows) for _, rows in groups)
    if total > MAX_RUNS:
        raise _error(path, f"the study has {total} runs, more than the limit of {MAX_RUNS}")
    for index, choice in enumerate(itertools.product(*(rows for _, rows in groups))):
        settings = tuple(
            (key, value)
            for (keys, _), row in zip(groups, choice, strict=True)
            for key, value in zip(keys, row, strict=True)
        )
        defines = tuple(define_text(key, value) for key, value in settings)
        study.runs.append(Run(index, settings, defines))


def _error(path: str, message: str) -> FsedpError:
    return FsedpError(message, file=path)
