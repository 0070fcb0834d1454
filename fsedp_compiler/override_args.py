"""The `-D KEY=VALUE` argument of fsedp-opt and fsedp-sim: its definition and the check of
KEY, with nothing heavy imported, so that parsing the command line stays fast. What a `-D`
does to the `.moe` input is `overrides.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fsedp_compiler.cli_common import UsageError

BLOCKS = ("system", "model", "workload", "strategy")
NAMED_BLOCKS = ("system", "model", "strategy")  # blocks that take a preset or pipeline name
DDR_GBPS = "ddr_gbps"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class Override:
    """One `-D KEY=VALUE`: `path` is KEY split at its dots; VALUE starts at `value_start`."""

    text: str
    path: tuple[str, ...]
    value_start: int

    @property
    def block(self) -> str:
        return self.path[0]

    @property
    def value_text(self) -> str:
        return self.text[self.value_start :]

    @property
    def rank(self) -> int:
        """Order of application: names, then fields, routing arguments, then ddr_gbps (which
        reads the machine the others give)."""
        if self.path == ("system", DDR_GBPS):
            return 3
        return len(self.path) - 1


def add_define_argument(parser) -> None:
    """The `-D KEY=VALUE` option of fsedp-opt and fsedp-sim (argparse)."""
    parser.add_argument(
        "-D",
        dest="define",
        action="append",
        default=[],
        type=_define,
        metavar="KEY=VALUE",
        help="set a field of the .moe input, as if the file said it (repeatable): "
        "-D system.sram_bytes=4MiB, -D workload.tokens=128, -D model=phi-3.5-moe, "
        "-D strategy.slices=8 (README: Overrides)",
    )


def _define(text: str) -> Override:
    import argparse

    try:
        return parse_override(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_moe_input(overrides: Sequence[Override], is_moe: bool) -> None:
    """-D sets fields of a .moe file; on other input it is a usage error (exit 2)."""
    if overrides and not is_moe:
        raise UsageError("-D sets fields of a .moe input; this input is not a .moe file")


def parse_override(text: str) -> Override:
    """Split `KEY=VALUE`; a ValueError (a usage error) for a malformed key."""
    key, equals, value = text.partition("=")
    path = tuple(key.strip().split("."))
    if not equals or not key.strip():
        raise ValueError(f"-D '{text}': expected KEY=VALUE, e.g. system.sram_bytes=4MiB")
    if path[0] not in BLOCKS:
        raise ValueError(
            f"-D '{text}': unknown block '{path[0]}'; KEY starts with one of: {', '.join(BLOCKS)}"
        )
    if not all(_KEY.fullmatch(part) for part in path):
        raise ValueError(f"-D '{text}': malformed key '{key.strip()}'")
    routing_arg = path[:2] == ("workload", "routing") and len(path) == 3
    if len(path) > 2 and not routing_arg:
        raise ValueError(f"-D '{text}': KEY is BLOCK, BLOCK.FIELD or workload.routing.ARG")
    if len(path) == 1 and path[0] not in NAMED_BLOCKS:
        raise ValueError(f"-D '{text}': the workload has no name; set a field (workload.tokens)")
    if not value.strip():
        raise ValueError(f"-D '{text}': no value after '='")
    return Override(text, path, len(key) + 1)


def check_strategy_given_once(
    overrides: Sequence[Override], flag: str, strategies: Sequence[str]
) -> None:
    """A strategy named both by a flag (`--strategy`, a strategy in `-p`) and by
    `-D strategy=NAME`: the flag would win and the -D be dropped, so it is a usage error."""
    named = [item for item in overrides if item.path == ("strategy",)]
    if named and strategies:
        raise UsageError(
            f"{flag} {strategies[0]} and -D {named[0].text} both name the strategy; give one"
        )
