"""`dialects/cisa_text.py`: program bodies in the printer's form are read fast, into the same
IR the generic parser builds; anything else goes to the generic parser, errors included."""

from __future__ import annotations

import io

import pytest
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import ParseError

from backends.sim.testing import TEST_SYSTEM, workload_module
from dialects import cisa_text
from fsedp_compiler.pipelines import compile_module
from fsedp_compiler.registry import context


def text_of(module) -> str:
    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue()


def parse(text: str, *, fast: bool, monkeypatch, calls: list | None = None):
    real = cisa_text.parse_program_body

    def body(parser):
        region = real(parser) if fast else None
        if calls is not None:
            calls.append(region is not None)
        return region

    monkeypatch.setattr(cisa_text, "parse_program_body", body)
    return Parser(context(), text, "<test>").parse_module()


@pytest.mark.parametrize("strategy", ["fsedp", "fsedp-paired", "ep", "hydra"])
def test_printed_programs_read_fast_into_the_same_ir(strategy, monkeypatch):
    module = workload_module("deepseek-moe-16b", 24, strategy=strategy)
    text = text_of(compile_module(module, strategy=strategy))
    calls: list[bool] = []
    fast = parse(text, fast=True, monkeypatch=monkeypatch, calls=calls)
    generic = parse(text, fast=False, monkeypatch=monkeypatch)
    assert calls == [True] * 4  # every program's body took the fast path
    assert fast.is_structurally_equivalent(generic)
    assert text_of(fast) == text_of(generic) == text
    fast.verify()


PROGRAM = """builtin.module attributes {{chiplet.system = {system}}} {{
  cisa.program @chiplet0 chiplet 0 {{
    %x = cisa.alloc act bytes 2 tokens array<i32: 0, 1>
    cisa.input %x
    %0 = cisa.alloc act bytes 2 tokens array<i32: 0, 1>
    %w = cisa.alloc weight bytes 3200
    cisa.load %w channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1
    cisa.gemm %w, %x, %0 expert 0 slice 0 of 1 tokens array<i32: 0, 1> ops 400
    cisa.accumulate %x into %0 tokens array<i32: 1> ops 2
{line}    cisa.free %w
    cisa.output %0
    cisa.end
  }}
}}
"""


def program(line: str = "") -> str:
    return PROGRAM.format(system=TEST_SYSTEM.format(sram=1 << 20), line=line + "\n" * bool(line))


def test_names_are_kept_as_the_parser_keeps_them(monkeypatch):
    calls: list[bool] = []
    module = parse(program(), fast=True, monkeypatch=monkeypatch, calls=calls)
    assert calls == [True]
    names = [op.results[0].name_hint for op in module.walk() if op.name == "cisa.alloc"]
    assert names == ["x", None, "w"]
    assert text_of(module) == text_of(parse(program(), fast=False, monkeypatch=monkeypatch))


@pytest.mark.parametrize(
    "line",
    [
        "    // a comment",
        "    cisa.barrier {note = 1 : i64}",
        '    "cisa.barrier"() : () -> ()',
        "    cisa.send %w to 1 tag 0 bytes 3200 loc(unknown)",
        "    %y = cisa.alloc act bytes 1 tokens array<i32: 2147483648>",
        "    cisa.send %w to 1 tag 9223372036854775808 bytes 3200",
        "    cisa.send %v to 1 tag 0 bytes 3200",
        "    %w = cisa.alloc weight bytes 8",
        "    cisa.lod %w channel 0 seq 1 bytes 3200 expert 0 slice 0 of 1",
        "    cisa.send %w  to 1 tag 0 bytes 3200",
        "    ",
    ],
    ids=[
        "comment",
        "attribute dictionary",
        "generic syntax",
        "location",
        "token beyond i32",
        "tag beyond i64",
        "undefined name",
        "redefined name",
        "unknown op",
        "two spaces",
        "blank line",
    ],
)
def test_anything_else_goes_to_the_generic_parser(line, monkeypatch):
    calls: list[bool] = []
    outcomes = []
    for fast in (True, False):
        try:
            module = parse(program(line), fast=fast, monkeypatch=monkeypatch, calls=calls)
        except ParseError as error:
            outcomes.append(("error", str(error)))
        else:
            outcomes.append(("ir", text_of(module)))
    assert calls == [False, False]  # the fast path declined
    assert outcomes[0] == outcomes[1]


def _print_both(module, monkeypatch) -> tuple[str, str, list[bool]]:
    """The module's text through cisa_text and through the assembly formats alone, and
    whether cisa_text printed each instruction."""
    real = cisa_text.print_instruction
    used: list[bool] = []

    def spy(op, printer):
        done = real(op, printer)
        used.append(done)
        return done

    monkeypatch.setattr(cisa_text, "print_instruction", spy)
    fast = text_of(module)
    monkeypatch.setattr(cisa_text, "print_instruction", lambda op, printer: False)
    return fast, text_of(module), used


@pytest.mark.parametrize("strategy", ["fsedp", "fsedp-paired", "ep", "hydra"])
def test_instructions_print_as_their_assembly_formats(strategy, monkeypatch):
    module = workload_module("deepseek-moe-16b", 24, strategy=strategy)
    fast, formatted, used = _print_both(compile_module(module, strategy=strategy), monkeypatch)
    assert used and all(used)
    assert fast == formatted


def test_unusual_instructions_print_through_their_assembly_formats(monkeypatch):
    from xdsl.dialects.builtin import IntegerAttr, StringAttr, i32

    module = parse(program(), fast=True, monkeypatch=monkeypatch)
    ops = [op for op in module.walk() if op.name.startswith("cisa.") and op.name != "cisa.program"]
    load = next(op for op in ops if op.name == "cisa.load")
    load.attributes["note"] = StringAttr("x")  # attr-dict
    alloc = next(op for op in ops if op.name == "cisa.alloc")
    alloc.properties["bytes"] = IntegerAttr(2, i32)  # not i64
    gemm = next(op for op in ops if op.name == "cisa.gemm")
    gemm.properties["extra"] = IntegerAttr(1, i32)
    fast, formatted, used = _print_both(module, monkeypatch)
    assert used.count(False) == 3
    assert fast == formatted
    assert 'channel 0 seq 0 bytes 3200 expert 0 slice 0 of 1 {note = "x"}' in fast


def test_the_formats_are_the_ops_own():
    import re

    for cls, text in cisa_text.FORMATS.items():
        own = cls.get_irdl_definition().assembly_format
        own = own.replace("attr-dict", "").replace("qualified($tokens)", "$tokens")
        own = re.sub(r"`([^`]*)`", r"\1", own)
        assert " ".join(own.replace(" ,", ",").split()) == text, cls.name
