"""`-D` overrides: set a `.moe` field from the command line, as if the file said it.

    fsedp-sim layer.moe -D system.sram_bytes=4MiB -D workload.tokens=128
    fsedp-opt layer.moe -D model=phi-3.5-moe -D strategy=ep -D strategy.slices=8

`KEY=VALUE`; KEY is one of

- `system`, `model`, `strategy`: the preset, model preset (or `"config.json"`, a path from the
  current folder) or pipeline name of that block; the block's fields still apply;
- `BLOCK.FIELD`: one field of a block (`system.d2d_gbps`, `model.top_k`, `workload.tokens`,
  `workload.routing`, `strategy.slices`), replacing the file's;
- `workload.routing.ARG`: one argument of the routing call (`workload.routing.seed=3`,
  `workload.routing.s=1.2`);
- `system.ddr_gbps`: the bandwidth of every DDR channel of the machine (their chiplets kept).

VALUE is written as in a `.moe` file (`zipf(s = 1.2, seed = 7)`, `[25.6 at 0, 25.6 at 3]`,
`paired`), and a bare number may carry a unit where the field has one: bytes (`B`, `KB`, `MB`,
`GB`, `TB`, `KiB`, `MiB`, `GiB`, `TiB`) for `sram_bytes`, `GB/s` (`MB/s`, `TB/s`) for `d2d_gbps`
and `ddr_gbps`, `GHz` (`MHz`) for `clock_ghz`.

A malformed KEY (no `=`, no such block) is a usage error (`parse_override` raises ValueError,
exit 2). The value is checked exactly as the field in a file would be, by the front end's own
validation, and its errors are located in the `-D` text (`-D:1:19: error: ...`, exit 1).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from decimal import Decimal

from fsedp_compiler import frontend as fe
from fsedp_compiler import pipelines
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.override_args import (  # noqa: F401 - the -D argument, re-exported
    BLOCKS,
    DDR_GBPS,
    NAMED_BLOCKS,
    Override,
    add_define_argument,
    check_moe_input,
    parse_override,
)
from fsedp_compiler.presets import DdrChannel, is_int

DEFINE_FILE = "-D"  # the "file" an error in a -D value is reported in

# Units a bare number may carry, by the field they fit: multiplier to the field's own unit.
_BYTES = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}  # fmt: skip
_GBPS = {"GB/s": Decimal(1), "MB/s": Decimal("0.001"), "TB/s": Decimal(1000)}
_GHZ = {"GHz": Decimal(1), "MHz": Decimal("0.001")}
FIELD_UNITS = {
    ("system", "sram_bytes"): _BYTES,
    ("system", "d2d_gbps"): _GBPS,
    ("system", DDR_GBPS): _GBPS,
    ("system", "clock_ghz"): _GHZ,
}
# ASCII digits and spaces only, as the .moe grammar: `４MiB` is a syntax error, not 4 MiB.
_WITH_UNIT = re.compile(
    r"(?P<lead>\s*)(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[A-Za-z/]+)\s*$",
    re.ASCII,
)
# A number with a unit may be at most about the largest float (as a number without one).
_LARGEST_EXPONENT = 308


def apply_overrides(blocks: list, overrides: Sequence[Override], resolver) -> list:
    """The front end's blocks with `overrides` applied (frontend.parse_moe calls this)."""
    by_kind = {block.kind: block for block in blocks}
    set_by_define: dict[tuple[str, ...], Override] = {}
    for item in sorted(overrides, key=lambda o: o.rank):
        if item.path in set_by_define:
            raise fe._located(
                f"-D {'.'.join(item.path)} given twice (also '{set_by_define[item.path].text}')",
                _loc(item, 0),
            )
        set_by_define[item.path] = item
        by_kind[item.block] = _apply(by_kind.get(item.block), item, resolver)
    return [by_kind[kind] for kind in BLOCKS if kind in by_kind]


def _apply(block, item: Override, resolver):
    if block is None:
        if item.block == "strategy" and len(item.path) > 1:
            raise fe._located(
                "the input has no strategy block to set an option of; add -D strategy=NAME",
                _loc(item, 0),
            )
        block = fe.Block(item.block, None, [], _loc(item, 0))
    if len(item.path) == 1:
        return dataclasses.replace(block, source=_source(item))
    if item.path == ("system", DDR_GBPS):
        return _with_field(block, "ddr", _ddr_value(block, item, resolver))
    if len(item.path) == 3:
        return _with_field(block, "routing", _routing_value(block, item))
    return _with_field(block, item.path[1], _value(item), _loc(item, len(item.block) + 1))


def _with_field(block, name: str, value, name_loc=None):
    """`block` with field `name` set to `value`, replacing the file's (however a strategy
    option is spelled)."""
    same = _same_field(block, name)
    fields = [f for f in block.fields if not same(f.name)]
    field = fe.Field(name, value, name_loc or value.loc)
    return dataclasses.replace(block, fields=[*fields, field])


def _same_field(block, name: str):
    if block.kind != "strategy" or block.source is None:
        return lambda other: other == name

    def target(key: str):
        try:
            return pipelines.option_target(block.source.data.text, key)
        except FsedpError:
            return key  # unknown: the front end reports it where it was written

    mine = target(name)
    return lambda other: target(other) == mine


def _source(item: Override):
    """The Value of a preset, model config or pipeline name."""
    value = _value(item)
    if item.block == "model" and isinstance(value.data, str):
        return fe.Value(("from", os.path.abspath(value.data)), value.loc)
    if not isinstance(value.data, fe.Name):
        what = "a model preset or a config.json path" if item.block == "model" else "a name"
        raise fe._located(f"-D {item.block} expects {what}, got {fe._show(value.data)}", value.loc)
    return value


def _routing_value(block, item: Override):
    """The workload's routing call with one argument replaced."""
    routing = next((f.value for f in block.fields if f.name == "routing"), None)
    if routing is None or not isinstance(routing.data, fe.Call):
        raise fe._located(
            "workload.routing is not a call such as zipf(s = 1.2, seed = 7) to set an argument of",
            _loc(item, 0),
        )
    call, arg, value = routing.data, item.path[2], _value(item)
    positional = {"zipf": "s", "dirichlet": "alpha", "trace": "path"}.get(call.func)
    args = [] if arg == positional else call.args
    kwargs = {**call.kwargs, arg: value}
    # Located at the -D: a problem with the routing is now the override's.
    return fe.Value(fe.Call(call.func, args, kwargs), value.loc)


def _ddr_value(block, item: Override, resolver):
    """`ddr` of the block's machine with every channel at the given bandwidth."""
    value = _value(item)
    if isinstance(value.data, bool) or not (is_int(value.data) or isinstance(value.data, float)):
        raise fe._located(
            f"system.{DDR_GBPS} expects a number (GB/s), got {fe._show(value.data)}", value.loc
        )
    machine = resolver.system(block)
    channels = [fe.Value(DdrChannel(value.data, c.chiplet), value.loc) for c in machine.ddr]
    return fe.Value(channels, value.loc)


def _value(item: Override):
    """The override's VALUE as the front end's located Value, its units converted."""
    text = item.value_text
    match = _WITH_UNIT.match(text)
    if match:
        start = item.value_start + match.start("number")
        return fe.Value(_with_unit(item, match), _loc(item, start))
    try:
        fe._NESTING.depth = 0
        tree = fe._parser("value").parse(text)
    except fe.lark.exceptions.UnexpectedInput as error:
        located = fe._syntax_error(error, text)
        loc = located.loc or fe.Loc(1, len(text) + 1)
        raise fe._located(located.message, _shifted(item, loc)) from None
    except fe._LocatedError as error:  # nesting too deep
        raise fe._located(error.message, _shifted(item, error.loc)) from None
    try:
        return _relocated(fe._ToBlocks().transform(tree), item)
    except fe.lark.exceptions.VisitError as error:  # a bad escape or number, located
        if isinstance(error.orig_exc, fe._LocatedError):
            raise fe._located(error.orig_exc.message, _shifted(item, error.orig_exc.loc)) from None
        raise


def _with_unit(item: Override, match: re.Match) -> int | float:
    field = tuple(item.path[:2])
    units = FIELD_UNITS.get(field, {})
    unit = match.group("unit")
    if unit not in units:
        where = _loc(item, item.value_start + match.start("unit"))
        if not units:
            raise fe._located(f"{'.'.join(item.path)} takes no unit, got '{unit}'", where)
        raise fe._located(
            f"{'.'.join(item.path)}: unknown unit '{unit}'; use one of: {', '.join(units)}", where
        )
    number = Decimal(match.group("number"))
    if number and not -_LARGEST_EXPONENT <= number.adjusted() <= _LARGEST_EXPONENT:
        where = _loc(item, item.value_start + match.start("number"))
        raise fe._located(
            f"number {match.group('number')} is out of range: a number with a unit is at most "
            f"about 1e{_LARGEST_EXPONENT} and at least about 1e-{_LARGEST_EXPONENT}",
            where,
        )
    amount = number * units[unit]
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _loc(item: Override, offset: int):
    """The location of character `offset` of the -D text (one line)."""
    return fe.Loc(1, offset + 1, item.text)


def _shifted(item: Override, loc):
    """A location in VALUE as one in the whole -D text."""
    column = loc.column + item.value_start if loc.line == 1 else loc.column
    return fe.Loc(loc.line, column, item.text)


def _relocated(value, item: Override):
    """`value` (parsed from VALUE alone) with every location moved into the -D text."""
    data = value.data
    if isinstance(data, list):
        data = [_relocated(v, item) for v in data]
    elif isinstance(data, fe.Call):
        args = [_relocated(v, item) for v in data.args]
        kwargs = {k: _relocated(v, item) for k, v in data.kwargs.items()}
        data = fe.Call(data.func, args, kwargs)
    elif isinstance(data, fe.IntLists):
        data = fe.IntLists(data.text, _shifted(item, data.loc))
    return fe.Value(data, _shifted(item, value.loc))
