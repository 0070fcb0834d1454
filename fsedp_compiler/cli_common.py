"""What `fsedp-opt` and `fsedp-sim` share on the command line: exit codes, how errors are
printed, how input and output files are named, and the version line.

Imports nothing heavy (no xDSL, numpy or passes), so that `--help`, `--version` and usage
errors answer at once; the tools import the compiler only once their arguments parse.

Exit codes (README, "Errors", has the table):

- 0: success;
- 1: bad input: a file's content is malformed, out of range or too large; a strategy option
  that is wrong (in a `.moe` file or in `-p` alike); or the layer cannot be compiled or
  simulated as asked (it does not fit in SRAM, the programs deadlock);
- 2: bad usage: the command line is at fault: an unknown or malformed flag, pass-pipeline
  syntax, an unknown pass, strategy or target; an input file that cannot be read or whose
  format is unknown; an output file that cannot be written;
- 3: an internal error, a bug in fsedp, said as such (`FSEDP_TRACEBACK=1` shows the traceback);
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable

from fsedp_compiler.errors import FsedpError

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130

STDIO = "-"  # as an input: standard input; as an output file: standard output
FORMATS = ("moe", "mlir")  # input formats, by file extension or -f


class UsageError(FsedpError):
    """The command line is at fault (exit code 2), not the content of a file."""

    exit_code = EXIT_USAGE_ERROR


def run_reporting_errors(body: Callable[[], object]) -> int:
    """Call `body` and return an exit code: 0, or the code of the error it raised, printed.

    Shared by the command-line tools so they say errors the same way: user errors with their
    location, usage errors plainly, and internal bugs as such (with a traceback on request).
    """
    warnings.formatwarning = _format_warning
    try:
        body()
    except FsedpError as error:
        print(error.format(), file=sys.stderr)
        return getattr(error, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (SystemExit, GeneratorExit):
        raise  # argparse's --help and usage errors end the process on purpose
    except BaseException as error:  # noqa: BLE001 - xDSL's pipeline error is a BaseException
        return _report_other(error)
    return EXIT_OK


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the tools say everything else: `warning: ...`, no Python file and line."""
    return f"warning: {message}\n"


def _report_other(error: BaseException) -> int:
    """xDSL's own errors (parsing, verification, pass-pipeline syntax) as user or usage errors;
    anything else as an internal error. xDSL is imported only if it raised (it is loaded then)."""
    if "xdsl.utils.exceptions" in sys.modules:
        from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError

        if isinstance(error, ParseError):
            print(format_parse_error(error), file=sys.stderr)
            return EXIT_USER_ERROR
        if isinstance(error, DiagnosticException):
            located = getattr(error, "location", None)  # cisa.ProgramViolation, read from text
            if located:
                print(f"{located}: error: {error}", file=sys.stderr)
            else:
                print(format_diagnostic(error), file=sys.stderr)
            return EXIT_USER_ERROR
        if isinstance(error, ArgSpecParseError):
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE_ERROR
    if os.environ.get("FSEDP_TRACEBACK"):
        traceback.print_exception(error)
    print(
        f"internal error: {type(error).__name__}: {error}\n"
        "this is a bug in fsedp; set FSEDP_TRACEBACK=1 for the traceback",
        file=sys.stderr,
    )
    return EXIT_INTERNAL_ERROR


def format_parse_error(error) -> str:
    """xDSL's parse error as ours: `file:line:col: error: message`, the line and carets under
    the span. Lines are counted as everywhere else (`errors.position`: `\n`, `\r\n` or `\r`
    ends one); xDSL's own location counts `\n` only."""
    from fsedp_compiler.errors import position

    span = error.span
    text = span.input.content
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    line, column, source = position(text, min(span.start, len(text)))
    width = max(1, min(span.end - span.start, len(source) - column + 1))
    where = f"{span.input.name}:{line}:{column}"
    caret = " " * (column - 1) + "^" * width
    return "\n".join([f"{where}: error: {error.msg}", _shortened(source), _shortened(caret)])


def format_diagnostic(error: Exception, context_lines: int = 3) -> str:
    """An xDSL diagnostic: the message, and the offending op from xDSL's annotated IR dump
    (not all of it)."""
    lines = [f"error: {error}"]
    for note in getattr(error, "__notes__", []):
        lines.extend(_excerpt_around_marker(note.splitlines(), context_lines))
    return "\n".join(lines)


def _excerpt_around_marker(note: list[str], context: int) -> list[str]:
    marked = [i for i, line in enumerate(note) if line.lstrip().startswith("^")]
    if not marked or len(note) <= 4 * context + 8:
        return [_shortened(line) for line in note]
    first = max(0, marked[0] - 1 - context)
    last = min(len(note), marked[-1] + 2 + context)
    excerpt = [_shortened(line) for line in note[first:last]]
    return ["..."] * (first > 0) + excerpt + ["..."] * (last < len(note))


def _shortened(line: str, limit: int = 300) -> str:
    """A line of the IR dump, cut: one attribute (a routing table, a program's code in generic
    form) can run to megabytes."""
    return (
        line if len(line) <= limit else f"{line[:limit]}... ({len(line) - limit} more characters)"
    )


# -- input -------------------------------------------------------------------------------------


def format_argument(text: str) -> str:
    """`-f`'s value, checked while the arguments are parsed (so both tools say it alike)."""
    import argparse

    if text.split("{", 1)[0] not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"unknown input format '{text}'; use one of: {', '.join(FORMATS)}"
        )
    return text


def input_format(path: str | None, given: str | None) -> str:
    """The input format of `path`: `given` (-f) if any, else its extension; standard input
    (`-` or no file) is MLIR unless -f says otherwise."""
    if given is not None:
        return format_argument(given).split("{", 1)[0]
    if path is None or path == STDIO:
        return "mlir"
    extension = os.path.splitext(path)[1].lstrip(".")
    if extension not in FORMATS:
        why = f" from its extension '.{extension}'" if extension else ", which has no extension"
        raise UsageError(
            f"cannot tell the format of {path}{why}; name it .moe or .mlir, "
            "or give -f moe or -f mlir"
        )
    return extension


def input_name(path: str | None) -> str:
    """How errors name the input: its path, or `<stdin>`."""
    return "<stdin>" if path is None or path == STDIO else path


def read_input(path: str | None) -> bytes:
    """The bytes of the input file, or of standard input (`-` or no file)."""
    if path is None or path == STDIO:
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None


# -- output ------------------------------------------------------------------------------------


def check_outputs(outputs: Iterable[tuple[str, str | None]], *, stdout_taken: bool = False) -> None:
    """Refuse, before any work is done, output files that cannot be written: `(flag, path)`
    pairs, `-` meaning standard output (at most one flag may take it, and none if the tool
    already writes there). A directory that does not exist is not created."""
    to_stdout = [flag for flag, path in outputs if path == STDIO]
    if len(to_stdout) > 1 or (to_stdout and stdout_taken):
        raise UsageError(f"only one output can go to standard output (-): {', '.join(to_stdout)}")
    for flag, path in outputs:
        if path is None or path == STDIO:
            continue
        folder = os.path.dirname(path) or "."
        if os.path.isdir(path):
            raise UsageError(f"cannot write {path} ({flag}): it is a directory")
        if not os.path.isdir(folder):
            raise UsageError(f"cannot write {path} ({flag}): no directory {folder}")


def write_output(path: str, text: str) -> None:
    """Write `text` to the file `path`, or to standard output for `-`."""
    if path == STDIO:
        sys.stdout.write(text)
        return
    try:
        with open(path, "w") as stream:
            stream.write(text)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


# -- version -----------------------------------------------------------------------------------


def version_line(tool: str, extra: str = "") -> str:
    """`fsedp-opt 0.1.0 (xDSL 0.75.0)`: the tool, fsedp's and xDSL's versions as installed."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "(not installed)"

    details = "; ".join(part for part in (f"xDSL {installed('xdsl')}", extra) if part)
    return f"{tool} {installed('fsedp')} ({details})"
