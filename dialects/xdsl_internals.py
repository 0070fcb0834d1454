"""Every use of an xDSL private name in the project, in one place, checked on xdsl 0.75.0 (the
pinned version; tests/test_cisa.py exercises each one).

- `Parser._resume_from(pos)`: continue parsing at a position. `cisa.program` bodies are read
  line by line with regular expressions (`cisa_model.ProgramReader`), ~50x faster than xDSL's
  token-by-token parsing of the declarative formats; the parser must then go on after the
  body's closing brace.
- `Parser.lexer.input.content`: the text being parsed, for that reader and for the look-ahead
  of `guard_dense_literals`.
- `AttrParser.parse_dense_int_or_fp_elements_attr` (public, but replaced here): xDSL reads a
  `dense<...>` literal before its type and then builds every element, so `dense<1> :
  tensor<1000000000x2xi32>` expands a splat to 2*10^9 Python ints before anything can check its
  shape, and a value beyond the element type is a ValueError (a complex one an
  AssertionError). `guard_dense_literals` reads the type first and reports both at the literal.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from xdsl.ir import Attribute
from xdsl.parser import AttrParser, Parser

if TYPE_CHECKING:
    from dialects.cisa_model import BodyLines, Program


def read_program_body(parser: Parser) -> tuple[Program, BodyLines] | None:
    """The `{ ... }` program body at the parser's position, read as data, and where its lines
    are, the parser going on after it; None, with the parser unmoved, when the body is not in
    the printed form (comments, attribute dictionaries, other ops, generic syntax): the caller
    parses a region then."""
    from dialects.cisa_model import BodyLines, NotCanonical, ProgramReader

    text = parser.lexer.input.content
    start = parser.pos
    if not isinstance(text, str) or text[start : start + 1] != "{":
        return None
    end = _closing_brace(text, start)
    found = _LINE_END.search(text, start)
    newline = found.start() if found else -1
    if end is None or not 0 <= newline < end or text[start + 1 : newline].strip():
        return None  # the printer ends the `{` line there
    reader = ProgramReader()
    try:
        program = reader.read(_LINE_END.split(text[start + 1 : end]))
    except NotCanonical:
        return None
    parser._resume_from(end + 1)  # noqa: SLF001 - see the module docstring
    line = _line_number(parser, text, start)
    column = start - max(text.rfind("\n", 0, start), text.rfind("\r", 0, start))
    where = BodyLines(
        parser.lexer.input.name,
        line,
        column,
        tuple(reader.blank),
        reader.indent or 0,
        reader.indents,
    )
    return program, where


# What ends a line: \n, \r\n or \r, as everywhere a line is counted (fsedp_compiler/errors.py).
_LINE_END = re.compile(r"\r\n|\r|\n")

# (the parser, an offset into its text, the line number there): bodies are read in order, so
# counting lines from the previous body keeps the cost linear in the size of the text.
_last_line: tuple[weakref.ref, int, int] | None = None


def _line_number(parser: Parser, text: str, offset: int) -> int:
    global _last_line
    seen, line = 0, 1
    if _last_line is not None and _last_line[0]() is parser and _last_line[1] <= offset:
        _, seen, line = _last_line
    # the line ends of _LINE_END, counted rather than matched one by one (a lowered module has
    # millions of lines)
    line += (
        text.count("\n", seen, offset)
        + text.count("\r", seen, offset)
        - text.count("\r\n", seen, offset)
    )
    _last_line = (weakref.ref(parser), offset, line)
    return line


def _closing_brace(text: str, start: int) -> int | None:
    """The `}` closing the body: instruction lines hold no braces."""
    end = text.find("}", start + 1)
    return end if end >= 0 else None


# A dense literal's body `<...>` up to its `>`: numbers, brackets, parentheses, or strings (hex).
_DENSE_BODY = re.compile(r'<(?:[^">]|"(?:[^"\\]|\\.)*")*>')
_dense_parse = AttrParser.parse_dense_int_or_fp_elements_attr


def guard_dense_literals(check: Callable[[Attribute], str | None]) -> None:
    """Make every parser read a `dense<...> : type` literal's type before its values, refusing
    the type where `check(type)` names a problem (its size), and report a value that does not
    fit the element type as a parse error at the literal instead of xDSL's ValueError or
    AssertionError. Idempotent."""

    def parse_dense(self: AttrParser, type=None):
        start, given = self.pos, type
        if type is None:
            given = _check_type_ahead(self, start, check)
        else:
            problem = check(type)
            if problem is not None:
                self.raise_error(problem, start)
        try:
            return _dense_parse(self, type)
        except (ValueError, AssertionError) as error:
            element = getattr(given, "element_type", None)
            reason = str(error) or f"its values do not fit its element type {element}"
            self.raise_error(f"dense literal: {reason}", start)

    parse_dense.guarded = True  # type: ignore[attr-defined]
    if not getattr(AttrParser.parse_dense_int_or_fp_elements_attr, "guarded", False):
        AttrParser.parse_dense_int_or_fp_elements_attr = parse_dense  # type: ignore[method-assign]


def _check_type_ahead(parser: AttrParser, start, check) -> Attribute | None:
    """Skip the literal at `start` (its `<`), read the type after its `:`, check it, go back to
    `start` and return the type; leave anything malformed to xDSL's own parse."""
    text = parser.lexer.input.content
    found = None
    if not isinstance(text, str):
        return None
    end = text.find(">", start)
    if end >= 0 and '"' in text[start:end]:
        match = _DENSE_BODY.match(text, start)
        end = match.end() - 1 if match else -1
    if end < 0:
        return None
    parser._resume_from(end + 1)  # noqa: SLF001 - see the module docstring
    if parser.parse_optional_punctuation(":") is not None:
        at = parser.pos
        found = parser.parse_optional_type()
        problem = check(found) if found is not None else None
        if problem is not None:
            parser.raise_error(problem, at, parser.pos)
    parser._resume_from(start)  # noqa: SLF001
    return found
