"""Every use of an xDSL private name in the project, in one place, checked on xdsl 0.75.0 (the
pinned version; tests/test_cisa.py exercises each one).

- `Parser._resume_from(pos)`: continue parsing at a position. `cisa.program` bodies are read
  line by line with regular expressions (`cisa_model.ProgramReader`), ~50x faster than xDSL's
  token-by-token parsing of the declarative formats; the parser must then go on after the
  body's closing brace.
- `Parser.lexer.input.content`: the text being parsed, for that reader.
"""

from __future__ import annotations

import weakref

from xdsl.parser import Parser

from dialects.cisa_model import BodyLines, NotCanonical, Program, ProgramReader


def read_program_body(parser: Parser) -> tuple[Program, BodyLines] | None:
    """The `{ ... }` program body at the parser's position, read as data, and where its lines
    are, the parser going on after it; None, with the parser unmoved, when the body is not in
    the printed form (comments, attribute dictionaries, other ops, generic syntax): the caller
    parses a region then."""
    text = parser.lexer.input.content
    start = parser.pos
    if not isinstance(text, str) or text[start : start + 1] != "{":
        return None
    end = _closing_brace(text, start)
    newline = text.find("\n", start)
    if end is None or not 0 <= newline < end or text[start + 1 : newline].strip():
        return None  # the printer ends the `{` line there
    reader = ProgramReader()
    try:
        program = reader.read(text[start + 1 : end].split("\n"))
    except NotCanonical:
        return None
    parser._resume_from(end + 1)  # noqa: SLF001 - see the module docstring
    line = _line_number(parser, text, start)
    column = start - text.rfind("\n", 0, start)
    where = BodyLines(
        parser.lexer.input.name,
        line,
        column,
        tuple(reader.blank),
        reader.indent or 0,
        reader.indents,
    )
    return program, where


# (the parser, an offset into its text, the line number there): bodies are read in order, so
# counting lines from the previous body keeps the cost linear in the size of the text.
_last_line: tuple[weakref.ref, int, int] | None = None


def _line_number(parser: Parser, text: str, offset: int) -> int:
    global _last_line
    seen, line = 0, 1
    if _last_line is not None and _last_line[0]() is parser and _last_line[1] <= offset:
        _, seen, line = _last_line
    line += text.count("\n", seen, offset)
    _last_line = (weakref.ref(parser), offset, line)
    return line


def _closing_brace(text: str, start: int) -> int | None:
    """The `}` closing the body: instruction lines hold no braces."""
    end = text.find("}", start + 1)
    return end if end >= 0 else None
