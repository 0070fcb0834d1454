"""`fsedp-opt`: the mlir-opt style driver, built on xDSL's `xDSLOptMain`.

It offers our dialects, passes, targets and the `.moe` front end (see `registry.py`) and turns
every user error into a message and a non-zero exit code instead of a Python traceback. Its
arguments, `--help` and the console script are in `opt_command.py`, which imports this module
only once the arguments parse; exit codes and file handling are shared with `fsedp-sim`
(`cli_common.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import time
from collections.abc import Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.xdsl_opt_main import xDSLOptMain

from fsedp_compiler import opt_command, perf, registry
from fsedp_compiler.cli_common import (  # noqa: F401 - re-exported for the tools and tests
    EXIT_INTERNAL_ERROR,
    EXIT_USAGE_ERROR,
    EXIT_USER_ERROR,
    STDIO,
    UsageError,
    check_output_folder,
    check_outputs,
    format_diagnostic,
    input_format,
    input_name,
    read_input,
    run_reporting_errors,
    write_output,
)
from fsedp_compiler.errors import FsedpError, decode_utf8
from fsedp_compiler.override_args import check_strategy_given_once


class FsedpOptMain(xDSLOptMain):
    def __init__(self, args: Sequence[str] | None = None):
        super().__init__(description=opt_command.DESCRIPTION, args=args)
        check_outputs([("-o", self.args.output_file)])
        if self.args.emit_programs is not None:
            check_output_folder(self.args.emit_programs, "--emit-programs")
        self._check_target()
        check_strategy_given_once(self.args.define, "-p", _strategies_in(self.args.passes))

    def _check_target(self) -> None:
        """-t and its options, before any work: each option known to the target, of its type,
        given once (xDSL's own check says so in Python's words, and only after compiling)."""
        import typing

        from xdsl.utils.arg_spec import parse_spec

        check_repeated_options(self.args.target, "-t", UsageError)
        spec = parse_spec(self.args.target).normalize_parameter_names()
        if spec.name == "mlir" and spec.parameters:
            raise UsageError(
                "-t mlir takes no options; its printing is set by flags (--print-op-generic, "
                "--print-no-properties, --print-debuginfo, --syntax-highlight)"
            )
        target_class = self.available_targets[spec.name]()
        types = {
            name: kind
            for name, kind in typing.get_type_hints(target_class).items()
            if name in {field.name for field in dataclasses.fields(target_class)}
        }
        for option, values in spec.parameters.items():
            if option not in types:
                known = f"its options: {', '.join(types)}" if types else "it takes no options"
                raise UsageError(f"-t {spec.name}: unknown option '{option}'; {known}")
            kind = types[option]
            if len(values) != 1 or type(values[0]) is not kind:
                shown = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
                shown = shown or "no value"
                expected = {bool: "true or false", int: "an integer", str: "a word"}[kind]
                raise UsageError(f"-t {spec.name}: option {option} takes {expected}, got {shown}")
        target = target_class.from_spec(spec)
        if hasattr(target, "check"):
            target.check(set(spec.parameters))

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
        check_repeated_options(self.args.passes)
        try:
            super().setup_pipeline()
        except ValueError as error:
            message = str(error)
            if message.startswith("Unrecognized passes"):
                known = ", ".join(sorted(self.available_passes))
                raise UsageError(f"{message}; known passes: {known}") from None
            raise FsedpError(message) from None

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        opt_command.configure(arg_parser)  # ours first, then xDSL's, each with its help

    # -- input and output: the rules of cli_common, shared with fsedp-sim --------------------

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        """The input (a file, or standard input for `-` or none) and its format (-f, else the
        file's extension), which xDSL calls the extension."""
        path, given = self.args.input_file, self.args.frontend
        file_format = input_format(path, given)
        return io.BytesIO(read_input(path, file_format)), file_format

    def get_input_name(self) -> str:
        return input_name(self.args.input_file)

    def run(self) -> None:
        super().run()
        if isinstance(self._output, _Held):
            write_output(self.args.output_file, self._output.getvalue())

    def prepare_output(self) -> IO[str]:
        """Standard output, or (-o FILE) the text held until the run succeeds, so that a failing
        run leaves an existing file alone (`write_output`)."""
        self._output = sys.stdout if self.args.output_file in (None, STDIO) else _Held()
        return self._output

    def output_resulting_program(self, prog: ModuleOp) -> str:
        if self._programs_only():
            return ""
        return super().output_resulting_program(prog)

    def _programs_only(self) -> bool:
        """--emit-programs without -o or -t: the program files are the output."""
        return (
            self.args.emit_programs is not None
            and self.args.output_file is None
            and isinstance(self.args.target, opt_command.DefaultTarget)
        )

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
        self._timer = PassTimer()
        with perf.paused_gc():
            PassPipeline(passes, self._between_passes).apply(self.ctx, prog)
        if self.args.time_passes and passes:
            sys.stderr.write(self._timer.table())
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
            try:
                emit_programs(prog, directory)
            except OSError as error:
                where = error.filename or directory
                message = f"cannot write {where} (--emit-programs): {error.strerror}"
                raise UsageError(message) from None

    def _between_passes(
        self, previous: ModulePass | None, module: ModuleOp, following: ModulePass | None
    ) -> None:
        """xDSL's callback (verification, --print-between-passes), without verifying again
        after a pass that does not change the module (on a lowered module that takes as long
        as the rest of the compile), and with our own timing (`PassTimer`)."""
        from fsedp_compiler.pipelines import changes_ir, resolved_options_of

        self._timer.pass_ended(previous)
        if previous is not None:
            self._resolved[id(previous)] = resolved_options_of(previous, module)
        disabled, timed = self.args.disable_verify, self.args.time_passes
        unchanged = previous is not None and not changes_ir(previous)
        self.args.disable_verify = disabled or unchanged  # the options xDSL's callback reads
        self.args.time_passes = False  # xDSL's timing prints to stdout, into the IR
        try:
            self.pipeline.callback(previous, module, following)
        finally:
            self.args.disable_verify, self.args.time_passes = disabled, timed
        self._timer.pass_starts()

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
            if (self.args.frontend or file_extension) == "moe":
                return super().parse_chunk(io.BytesIO(raw), file_extension, start_offset)
            from fsedp_compiler.frontend import check_limits, check_mlir_nesting, parse_mlir

            name = self.get_input_name()
            check_mlir_nesting(raw, name)
            module = parse_mlir(self.ctx, raw.decode(), name, not self.args.no_implicit_module)
            check_limits(module, name)  # the .moe front end checks its own
            return module
        except FsedpError as error:
            # --split-input-file hands the front end one chunk; report lines of the whole file.
            if error.line is not None:
                error.line += start_offset
            raise


class _Held(io.StringIO):
    """The output of -o FILE until the run succeeds; xDSL closes its output when done."""

    def close(self) -> None:
        pass


def _strategies_in(pipeline: str) -> list[str]:
    """The strategies (named pipelines) `-p` runs."""
    from xdsl.utils.arg_spec import parse_pipeline

    from fsedp_compiler.pipelines import PIPELINES

    return [spec.name for spec in parse_pipeline(pipeline) if spec.name in PIPELINES]


def check_repeated_options(
    pipeline: str, flag: str = "-p", error: type[FsedpError] = FsedpError
) -> None:
    """Refuse an option given twice to one pass of `-p` (`fsedp{slices=4 slices=8}`) or to the
    target of `-t`: xDSL's parser keeps the last one silently. (Two spellings of one option,
    `skip_idle` and `skip-idle`, are refused where pipeline options are mapped, `pipelines.py`.)"""
    from xdsl.utils.arg_spec import PipelineLexer, SpecTokenKind

    lexer, previous, seen = PipelineLexer(pipeline), None, set()
    name, inside = "", False
    while (token := lexer.lex()).kind is not SpecTokenKind.EOF:
        kind, text = token.kind, token.span.text
        if kind is SpecTokenKind.IDENT and not inside:
            name = text
        elif kind is SpecTokenKind.L_BRACE:
            inside, seen = True, set()
        elif kind is SpecTokenKind.R_BRACE:
            inside = False
        elif kind is SpecTokenKind.IDENT and previous in (
            SpecTokenKind.L_BRACE,
            SpecTokenKind.SPACE,
        ):
            if text in seen:
                raise error(f"{name}: option '{text}' is given twice in {flag}")
            seen.add(text)
        previous = kind


class PassTimer:
    """`--time-passes`: seconds per pass, the verification between passes, and the total, as
    a table for standard error (standard output carries the IR)."""

    def __init__(self) -> None:
        self.started = self.mark = time.perf_counter()
        self.passes: list[tuple[str, float]] = []

    def pass_ended(self, finished: ModulePass | None) -> None:
        now = time.perf_counter()
        if finished is not None:
            self.passes.append((finished.name, now - self.mark))
        self.mark = now

    def pass_starts(self) -> None:
        self.mark = time.perf_counter()

    def table(self) -> str:
        total = time.perf_counter() - self.started
        in_passes = sum(seconds for _, seconds in self.passes)
        rows = [*self.passes, ("(verification and printing between passes)", total - in_passes)]
        lines = ["--time-passes: seconds"]
        lines += [f"  {seconds:9.4f}  {name}" for name, seconds in rows]
        lines.append(f"  {total:9.4f}  total")
        return "\n".join(lines) + "\n"


def main(args: Sequence[str] | None = None) -> None:
    perf.one_shot_process()
    perf.exit_process(run(args))


def run(args: Sequence[str] | None = None) -> int:
    """Run the driver and return its exit code; user errors are printed, never raised."""
    return run_reporting_errors(lambda: FsedpOptMain(args).run())
