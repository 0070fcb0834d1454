"""The one exception type users see.

Every problem a user can cause (a bad option, a malformed file, an unknown preset) is raised as
`FsedpError`. The driver prints `error.format()` and exits non-zero; it never shows a traceback,
so the message alone must say what is wrong and, where known, where.
"""

import re

from xdsl.utils.exceptions import DiagnosticException

# What ends a line, everywhere a line or column is reported: \n, \r\n and \r. Not the other
# characters Python's splitlines() breaks at (\v, \f, U+2028, ...), so that a line number, its
# column and the source line printed under the message always agree.
_LINE_END = re.compile(r"\r\n|\r|\n")
# Characters a terminal may show as a line break, shown as a space in a quoted source line.
_BREAKS_IN_DISPLAY = str.maketrans(dict.fromkeys("\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


class FsedpError(DiagnosticException):
    """A user-facing error, never shown as a traceback.

    Printed as 'file:line:col: error: message'; each location part is optional.
    `line` and `column` are 1-based. When both `source_line` and `column` are given, `format()`
    adds the offending source line and a caret under the column, like a compiler diagnostic.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        source_line: str | None = None,
        width: int = 1,
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line
        self.width = width  # carets under the column: the span of the text at fault

    def location(self) -> str:
        """'file:line:col', 'file:line', 'file' or '' depending on what is known."""
        if self.file is None and self.line is None:
            return ""
        parts = [self.file if self.file is not None else "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def format(self) -> str:
        """The full diagnostic text, without a trailing newline."""
        where = self.location()
        text = f"{where}: error: {self.message}" if where else f"error: {self.message}"
        if self.source_line is not None and self.column is not None:
            line = self.source_line.rstrip("\r\n").translate(_BREAKS_IN_DISPLAY)
            line, column = _window(line, max(self.column - 1, 0))
            # Keep tabs so the caret lines up with the source as the terminal shows it.
            pad = "".join(c if c == "\t" else " " for c in line[:column])
            text += f"\n{line}\n{pad}" + "^" * max(1, min(self.width, len(line) - column))
        return text

    def __str__(self) -> str:
        return self.format()


def _window(line: str, column: int, width: int = 80) -> tuple[str, int]:
    """At most `width` characters each side of `column` of a long line (a routing table, a
    module's attributes), cut with `...`; and where the column is in what is shown."""
    if len(line) <= 2 * width + 40:
        return line, column
    start, end = max(column - width, 0), column + width
    shown = ("..." if start else "") + line[start:end] + ("..." if end < len(line) else "")
    return shown, column - start + (3 if start else 0)


def split_lines(text: str) -> list[str]:
    """The lines of `text`, split where line numbers count one (see _LINE_END)."""
    return _LINE_END.split(text)


def position(text: str, offset: int) -> tuple[int, int, str]:
    """1-based line and column of character `offset` in `text`, and the text of that line."""
    if text[offset - 1 : offset + 1] == "\r\n":
        offset -= 1  # the \n of a \r\n: the line end, not a line of its own
    starts = [match.end() for match in _LINE_END.finditer(text, 0, offset)]
    start = starts[-1] if starts else 0
    end = _LINE_END.search(text, offset)
    return len(starts) + 1, offset - start + 1, text[start : end.start() if end else len(text)]


def located(
    message: str, text: str, offset: int, file: str | None = None, width: int = 1
) -> FsedpError:
    """An FsedpError at character `offset` of `text`, with its line and `width` carets."""
    line, column, source = position(text, offset)
    return FsedpError(message, file=file, line=line, column=column, source_line=source, width=width)


def decode_utf8(raw: bytes, file: str | None = None) -> str:
    """`raw` as UTF-8 text, or an FsedpError at the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        # The bytes before the bad one are valid, so they decode to the same characters.
        offset = len(raw[: error.start].decode("utf-8"))
        shown = raw.decode("utf-8", errors="replace")
        message = f"not UTF-8 text: byte 0x{raw[error.start]:02x} ({error.reason})"
        raise located(message, shown, offset, file) from None
