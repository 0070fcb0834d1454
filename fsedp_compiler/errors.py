"""The one exception type users see.

Every problem a user can cause (a bad option, a malformed file, an unknown preset) is raised as
`FsedpError`. The driver prints `error.format()` and exits non-zero; it never shows a traceback,
so the message alone must say what is wrong and, where known, where.
"""

from xdsl.utils.exceptions import DiagnosticException


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
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.source_line = source_line

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
            line = self.source_line.rstrip("\r\n")
            # Keep tabs so the caret lines up with the source as the terminal shows it.
            pad = "".join(c if c == "\t" else " " for c in line[: max(self.column - 1, 0)])
            text += f"\n{line}\n{pad}^"
        return text

    def __str__(self) -> str:
        return self.format()
