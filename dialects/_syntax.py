"""Shared custom-syntax helpers for the attribute printers and parsers of our dialects.

Our attributes print their fields as ``key value`` pairs separated by commas, for example
``#moe.model<"qwen3", hidden 2048, ffn 768>``. Keeping the key next to each value makes
the IR readable without a manual, and parsing by key keeps the order explicit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.ir import ParametrizedAttribute
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


def parse_fields(parser: AttrParser, readers: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Parse ``key value`` pairs, each key exactly once and in the order given by ``readers``."""
    values: dict[str, object] = {}
    for position, (key, read) in enumerate(readers.items()):
        if position:
            parser.parse_punctuation(",")
        parser.parse_keyword(key, f" (field {position + 1} of {len(readers)})")
        values[key] = read()
    return values


def print_fields(printer: Printer, fields: Sequence[tuple[str, str]]) -> None:
    printer.print_string(", ".join(f"{key} {text}" for key, text in fields))


def format_float(value: float) -> str:
    """Shortest text that parses back to the same float and always reads as a float."""
    text = repr(float(value))
    return text if ("." in text or "e" in text or "inf" in text or "nan" in text) else text + ".0"


def parse_positive_int(parser: AttrParser, what: str) -> int:
    return parser.parse_integer(
        allow_boolean=False, allow_negative=False, context_msg=f" for {what}"
    )


def parse_real(parser: AttrParser) -> float:
    """A float or an integer literal, as a float (``25`` and ``25.0`` both accepted)."""
    return float(parser.parse_number())


def checked_parameters(
    cls: type[ParametrizedAttribute], parser: AttrParser, start: int, params: tuple
) -> tuple:
    """Verify parsed attribute parameters now, so an error points at the attribute's text.

    xDSL verifies an attribute after its parser returns, and that error carries no location.
    The check is called here explicitly: `--disable-verify` turns off xDSL's own verification of
    attributes (for the rest of the process), but never the checks of the values read.
    """
    try:
        cls.new(params).verify()
    except VerifyException as error:
        parser.raise_error(str(error), start, end_of_parsed(parser, start))
    return params


def end_of_parsed(parser: AttrParser, start: int) -> int:
    """End of the text parsed since `start`: `parser.pos` less trailing blanks and comments."""
    text = parser.lexer.input.content[start : parser.pos]
    lines = text.split("\n")
    while len(lines) > 1 and (not lines[-1].strip() or lines[-1].strip().startswith("//")):
        lines.pop()
    return start + len("\n".join(lines).rstrip())
