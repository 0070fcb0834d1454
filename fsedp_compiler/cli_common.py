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
  syntax, an unknown pass, strategy or target, a target option that is unknown, ill-typed or
  given twice; an input file (or standard input) that cannot be read or whose format is
  unknown; an output file (or standard output) that cannot be written, two outputs to one file;
- 3: an internal error, a bug in fsedp, said as such (`FSEDP_TRACEBACK=1` shows the traceback);
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import io
import os
import stat
import sys
import tempfile
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
    stdout, sys.stdout = sys.stdout, StandardOutput(sys.stdout)
    try:
        body()
        sys.stdout.flush()
    except FsedpError as error:
        print(error.format(), file=sys.stderr)
        return getattr(error, "exit_code", EXIT_USER_ERROR)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (SystemExit, GeneratorExit):
        raise  # argparse's --help and usage errors end the process on purpose
    except BaseException as error:  # noqa: BLE001 - xDSL's pipeline error is a BaseException
        return _report_other(error)
    finally:
        sys.stdout = stdout
    return EXIT_OK


class StandardOutput:
    """Standard output while a tool runs: a write that fails (a full disk, a closed pipe, a
    stream closed before the tool started) is a usage error, `cannot write standard output: ...`,
    as for any output file, never an internal error."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self._do(lambda stream: stream.write(text))

    def flush(self) -> None:
        self._do(lambda stream: stream.flush())

    def _do(self, action):
        if self.stream is None:
            raise UsageError("cannot write standard output: it is closed")
        try:
            return action(self.stream)
        except OSError as error:
            self._discard()
            raise UsageError(f"cannot write standard output: {error.strerror}") from None

    def _discard(self) -> None:
        """What is still buffered goes nowhere, so that Python's flush at exit does not fail a
        second time (and print its own complaint)."""
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass  # not a file descriptor (a test's capture): nothing is flushed at exit

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


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
    """xDSL's parse error as ours (`errors.located`): `file:line:col: error: message`, the line
    and carets under the span, lines counted as everywhere else (`\n`, `\r\n` or `\r` ends
    one; xDSL's own location counts `\n` only) and a long line shown around the column."""
    from fsedp_compiler.errors import located

    span = error.span
    text = span.input.content
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    width = span.end - span.start
    return located(error.msg, text, min(span.start, len(text)), span.input.name, width).format()


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

    name, brace, _ = text.partition("{")
    if name not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"unknown input format '{text}'; use one of: {', '.join(FORMATS)}"
        )
    if brace:
        raise argparse.ArgumentTypeError(f"the input format {name} takes no options, got '{text}'")
    return text


def input_format(path: str | None, given: str | None) -> str:
    """The input format of `path`: `given` (-f) if any, else its extension; standard input
    (`-` or no file) is MLIR unless -f says otherwise."""
    if given is not None:
        return format_argument(given)
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


def read_input(path: str | None, file_format: str) -> bytes:
    """The bytes of the input file, or of standard input (`-` or no file), refused past the
    size limit of its format (README: Limits) before more than that is read."""
    from fsedp_compiler.limits import MAX_INPUT_BYTES  # not for --help: it reads the machine

    limit = MAX_INPUT_BYTES[file_format]
    if path is None or path == STDIO:
        if sys.stdin is None:
            raise UsageError("cannot read standard input: it is closed")
        try:
            raw = sys.stdin.buffer.read(limit + 1)
        except OSError as error:
            raise UsageError(f"cannot read standard input: {error.strerror}") from None
    else:
        try:
            with open(path, "rb") as stream:
                raw = stream.read(limit + 1)
        except OSError as error:
            raise UsageError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > limit:
        raise FsedpError(
            f"{input_name(path)}: input is larger than the limit of {limit // 2**20} MiB for "
            f"{file_format} text (README: Limits)"
        )
    return raw


# -- output ------------------------------------------------------------------------------------


def check_outputs(outputs: Iterable[tuple[str, str | None]], *, stdout_taken: bool = False) -> None:
    """Refuse, before any work is done, output files that cannot be written: `(flag, path)`
    pairs, `-` meaning standard output (at most one flag may take it, and none if the tool
    already writes there). Two flags may not name one file. A directory that does not exist is
    not created; whether the folder takes a new file is tried (`write_output` writes a file
    beside the output and renames it, so a failing run leaves an existing output alone)."""
    outputs = list(outputs)
    to_stdout = [flag for flag, path in outputs if path == STDIO]
    if len(to_stdout) > 1 or (to_stdout and stdout_taken):
        raise UsageError(f"only one output can go to standard output (-): {', '.join(to_stdout)}")
    written: dict[str, str] = {}
    for flag, path in outputs:
        if path is None or path == STDIO:
            continue
        same = written.setdefault(os.path.realpath(path), flag)
        if same != flag:
            raise UsageError(f"{same} and {flag} both write {path}; give each its own file")
        _check_writable(path, flag)


def _check_writable(path: str, flag: str) -> None:
    folder = os.path.dirname(path) or "."
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path} ({flag}): it is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path} ({flag}): no directory {folder}")
    if not _replaceable(path):
        return  # a device or a pipe (/dev/null, /dev/stdout): written in place, at the end
    try:
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise PermissionError(13, os.strerror(13))
        descriptor, probe = tempfile.mkstemp(dir=os.path.dirname(os.path.realpath(path)))
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"cannot write {path} ({flag}): {error.strerror}") from None


def check_output_folder(path: str, flag: str) -> None:
    """An output folder (`--emit-programs DIR`), before any work: a folder or a path that can
    become one, in a folder that takes new files."""
    if path == STDIO:
        raise UsageError(f"{flag} takes a directory, not - (standard output)")
    existing = path
    while existing and not os.path.exists(existing):
        existing = os.path.dirname(existing.rstrip(os.sep))
    existing = existing or "."
    if not os.path.isdir(existing):
        raise UsageError(f"cannot write {path} ({flag}): {existing} is not a directory")
    try:
        descriptor, probe = tempfile.mkstemp(dir=existing)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as error:
        raise UsageError(f"cannot write {path} ({flag}): {error.strerror}") from None


def _replaceable(path: str) -> bool:
    """Whether `path` is a regular file or none yet (written by renaming a new file onto it)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True


def replace_output(path: str, write: Callable[[str], object]) -> None:
    """Write the output file `path` by `write(name)`: into a new file beside it, renamed onto
    `path` once complete, so that a failure leaves what was there; a device or a pipe is
    written in place. OSError passes on."""
    target = os.path.realpath(path)
    if not _replaceable(target):
        write(target)
        return
    descriptor, temporary = tempfile.mkstemp(
        dir=os.path.dirname(target), prefix=".fsedp-", suffix=os.path.splitext(path)[1]
    )
    os.close(descriptor)
    try:
        write(temporary)
        os.chmod(temporary, _new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def _new_file_mode(target: str) -> int:
    """The mode the output gets: the existing file's, else that of a file made by open()."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_output(path: str, text: str) -> None:
    """Write `text` to the file `path` (`replace_output`), or to standard output for `-`."""
    if path == STDIO:
        sys.stdout.write(text)
        return

    def write(name: str) -> None:
        with open(name, "w") as stream:
            stream.write(text)

    try:
        replace_output(path, write)
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
