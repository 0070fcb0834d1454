"""`fsedp-opt`: the mlir-opt style driver, built on xDSL's `xDSLOptMain`.

It offers our dialects, passes, targets and the `.moe` front end (see `registry.py`) and turns
every user error into a message and a non-zero exit code instead of a Python traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from fsedp_compiler import perf, registry
from fsedp_compiler.errors import FsedpError, decode_utf8

EXIT_USER_ERROR = 1
EXIT_USAGE_ERROR = 2


class FsedpOptMain(xDSLOptMain):
    version_format = "fsedp-opt built on xdsl {xdsl_version}"

    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description="FSE-DP MoE compiler driver", args=args)

    def register_all_dialects(self) -> None:
        # A curated set instead of xDSL's whole multiverse keeps start-up fast.
        for name, factory in registry.get_all_dialects().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        for name, factory in registry.get_all_passes().items():
            self.register_pass(name, factory)

    def register_all_targets(self) -> None:
        self.available_targets.update(registry.get_all_targets())

    def register_all_frontends(self) -> None:
        self.available_frontends.update(registry.get_all_frontends())

    def setup_pipeline(self) -> None:
        try:
            super().setup_pipeline()
        except ValueError as error:
            message = str(error)
            if message.startswith("Unrecognized passes"):
                known = ", ".join(sorted(self.available_passes))
                message = f"{message}; known passes: {known}"
            raise FsedpError(message) from None

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--emit-programs",
            metavar="DIR",
            help="write each chiplet's compiled program as assembly (chipletN.s) plus "
            "manifest.json into DIR; the input must be compiled, e.g. with -p fsedp",
        )
        self.register_define_argument(arg_parser)

    def register_define_argument(self, arg_parser: argparse.ArgumentParser) -> None:
        from fsedp_compiler.overrides import add_define_argument

        add_define_argument(arg_parser)

    def parse_moe_with_overrides(self, raw: bytes, file_extension: str) -> ModuleOp:
        """The .moe input with the -D overrides applied (xDSL's frontends take no options)."""
        from fsedp_compiler.frontend import MoeFrontend
        from fsedp_compiler.overrides import check_moe_input

        check_moe_input(self.args.define, (self.args.frontend or file_extension) == "moe")
        frontend = MoeFrontend(overrides=tuple(self.args.define))
        return frontend.parse(self.ctx, io.BytesIO(raw), self.get_input_name())

    def apply_passes(self, prog: ModuleOp) -> None:
        # Named pipelines (-p fsedp) run as their individual passes, so --time-passes and
        # --print-between-passes see each one; they read the module's strategy options.
        from fsedp_compiler.pipelines import expand_pipelines, record_strategy

        groups = expand_pipelines(self.pipeline.passes, prog)
        passes = tuple(p for _, group in groups for p in group)
        self._resolved: dict[int, dict[str, object]] = {}
        with perf.paused_gc():
            PassPipeline(passes, self._between_passes).apply(self.ctx, prog)
        for name, group in groups:
            if name is not None:
                resolved = [self._resolved[id(p)] for p in group]
                record_strategy(prog, name, group, resolved)
        if self.args.emit_programs:
            from backends.asm import emit_programs

            self.emitted_modules = getattr(self, "emitted_modules", 0) + 1
            directory = self.args.emit_programs
            if self.args.split_input_file:
                directory = os.path.join(directory, f"chunk{self.emitted_modules - 1}")
            emit_programs(prog, directory)

    def _between_passes(
        self, previous: ModulePass | None, module: ModuleOp, following: ModulePass | None
    ) -> None:
        """xDSL's callback (timing, verification, --print-between-passes), without verifying
        again after a pass that does not change the module: on a lowered module that takes
        as long as the rest of the compile."""
        from fsedp_compiler.pipelines import changes_ir, resolved_options_of

        if previous is not None:
            self._resolved[id(previous)] = resolved_options_of(previous, module)
        disabled = self.args.disable_verify
        unchanged = previous is not None and not changes_ir(previous)
        self.args.disable_verify = disabled or unchanged  # the option xDSL's callback reads
        try:
            self.pipeline.callback(previous, module, following)
        finally:
            self.args.disable_verify = disabled

    def parse_chunk(
        self, chunk: IO[bytes], file_extension: str, start_offset: int = 0
    ) -> ModuleOp | None:
        if start_offset:  # --split-input-file: the previous chunk is done with
            perf.collect_between_inputs()
        try:
            # Checked here for every input format: xDSL's own decoding error has no location.
            raw = chunk.read()
            decode_utf8(raw, self.get_input_name())
            if self.args.define:
                return self.parse_moe_with_overrides(raw, file_extension)
            module = super().parse_chunk(io.BytesIO(raw), file_extension, start_offset)
            if module is not None and (self.args.frontend or file_extension) != "moe":
                from fsedp_compiler.frontend import check_limits

                check_limits(module, self.get_input_name())  # the .moe front end checks its own
            return module
        except FsedpError as error:
            # --split-input-file hands the front end one chunk; report lines of the whole file.
            if error.line is not None:
                error.line += start_offset
            raise


def main(args: Sequence[str] | None = None) -> None:
    perf.one_shot_process()
    sys.exit(run(args))


def run(args: Sequence[str] | None = None) -> int:
    """Run the driver and return its exit code; user errors are printed, never raised."""
    return run_reporting_errors(lambda: FsedpOptMain(args).run())


def run_reporting_errors(body: Callable[[], object]) -> int:
    """Call `body` and return an exit code: 0, or the code of the error it raised, printed.

    Shared by the command-line tools so they say errors the same way: user errors with their
    location, usage errors plainly, and internal bugs as such (with a traceback on request).
    """
    try:
        body()
    except FsedpError as error:
        print(error.format(), file=sys.stderr)
        return EXIT_USER_ERROR
    except ParseError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USER_ERROR
    except DiagnosticException as error:
        print(format_diagnostic(error), file=sys.stderr)
        return EXIT_USER_ERROR
    except ArgSpecParseError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - last resort: an internal bug, said as such
        if os.environ.get("FSEDP_TRACEBACK"):
            traceback.print_exc()
        print(
            f"internal error: {type(error).__name__}: {error}\n"
            "this is a bug in fsedp; set FSEDP_TRACEBACK=1 for the traceback",
            file=sys.stderr,
        )
        return 3
    return 0


def format_diagnostic(error: DiagnosticException, context_lines: int = 3) -> str:
    """The error message and the offending op from xDSL's annotated IR dump (not all of it)."""
    lines = [f"error: {error}"]
    for note in getattr(error, "__notes__", []):
        lines.extend(_excerpt_around_marker(note.splitlines(), context_lines))
    return "\n".join(lines)


def _excerpt_around_marker(note: list[str], context: int) -> list[str]:
    marked = [i for i, line in enumerate(note) if line.lstrip().startswith("^")]
    if not marked or len(note) <= 4 * context + 8:
        return note
    first = max(0, marked[0] - 1 - context)
    last = min(len(note), marked[-1] + 2 + context)
    return ["..."] * (first > 0) + note[first:last] + ["..."] * (last < len(note))
