"""The program model (dialects/cisa_model.py, dialects/cisa.py): programs as data and as ops,
their text both ways, and the one set of rules the verifier and the simulator share."""

from __future__ import annotations

import io
import re

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer

from backends.sim import SimError, simulate
from dialects import cisa
from dialects.cisa_model import (
    OPCODES,
    NotCanonical,
    ProgramReader,
    instruction_text,
    program_lines,
)
from dialects.cisa_rules import module_violations, pair_transfers, program_violations
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.pipelines import compile_module, pipeline_passes
from fsedp_compiler.registry import context
from fsedp_compiler.testing import module_text, parse, workload_module
from passes.verify_programs import VerifyProgramsPass


def text_of(module: ModuleOp, generic: bool = False) -> str:
    stream = io.StringIO()
    Printer(stream=stream, print_generic_format=generic).print_op(module)
    return stream.getvalue()


def read(text: str) -> ModuleOp:
    return Parser(context(), text, "<test>").parse_module()


def programs(module: ModuleOp) -> list[cisa.ProgramOp]:
    return [op for op in module.walk() if isinstance(op, cisa.ProgramOp)]


@pytest.fixture(scope="module", params=["fsedp-paired", "ep"])
def compiled(request) -> ModuleOp:
    strategy = request.param
    return compile_module(workload_module("deepseek-moe-16b", 24, strategy=strategy), strategy)


def test_the_compiler_builds_programs_as_data(compiled) -> None:
    for op in programs(compiled):
        assert op.code is not None and not op.body.blocks


def test_text_reads_back_into_the_same_programs(compiled) -> None:
    text = text_of(compiled)
    again = read(text)
    assert [op.code.data for op in programs(again)] == [op.code.data for op in programs(compiled)]
    assert text_of(again) == text
    again.verify()


def test_the_generic_form_holds_the_data_and_reads_back(compiled) -> None:
    generic = text_of(compiled, generic=True)
    assert '"cisa.program"() <{' in generic and "code = #cisa.code<" in generic
    again = read(generic)
    assert [cisa.program_code(op) for op in programs(again)] == [
        cisa.program_code(op) for op in programs(compiled)
    ]


def test_ops_and_data_convert_losslessly(compiled) -> None:
    module = compiled.clone()
    before = text_of(module)
    codes = [cisa.program_code(op) for op in programs(module)]
    for op, code in zip(programs(module), codes, strict=True):
        cisa.materialize(op)
        assert op.code is None and len(list(op.body.block.ops)) == len(code)
    assert [cisa.program_code(op) for op in programs(module)] == codes
    assert text_of(module) == before  # both forms print alike
    module.verify()
    for op in programs(module):
        cisa.dematerialize(op)
    assert [op.code.data for op in programs(module)] == codes


def test_a_body_with_anything_else_is_read_as_ops_by_xdsl() -> None:
    body = (
        "    %x = cisa.alloc act bytes 2 tokens array<i32: 0, 1>\n"
        "    // a comment the fast reader leaves to xDSL\n"
        "    cisa.input %x\n"
        "    cisa.output %x"
    )
    module = parse(module_text({0: body}))
    (op,) = programs(module)
    assert op.code is None and op.body.blocks  # read as ops
    assert [OPCODES[c].mnemonic for c in cisa.program_code(op).code] == [
        "alloc",
        "input",
        "output",
        "end",
    ]


def test_the_reader_declines_what_it_cannot_read_exactly() -> None:
    reader = ProgramReader()
    for lines in (
        ["cisa.free %undefined"],
        ["%a = cisa.alloc act bytes 2"],  # an act buffer without tokens
        ["%w = cisa.alloc weight bytes 2 tokens array<i32: 0>"],
        ["%w = cisa.alloc weight bytes 99999999999999999999"],  # beyond i64
        ["cisa.load %w channel 0"],
        ["cisa.unknown"],
    ):
        with pytest.raises(NotCanonical):
            reader.read(lines)


def test_every_instruction_prints_as_its_xdsl_assembly_format() -> None:
    # The ops' assembly formats are made from cisa_model.SYNTAX: xDSL prints each materialised
    # instruction as the model's text does, names aside.
    module = compile_module(workload_module("deepseek-moe-16b", 24, strategy="ep"), "ep")
    module.body.block.add_op(cisa.ProgramOp(9, ProgramReader().read(["cisa.barrier"])))
    names = re.compile(r"%[\w$.\-]+")
    seen = set()
    for op in programs(module):
        code = cisa.program_code(op)
        cisa.materialize(op)
        for index, instruction in enumerate(op.body.block.ops):
            stream = io.StringIO()
            Printer(stream=stream).print_op(instruction)
            expected = instruction_text(code, index)
            assert names.sub("%_", stream.getvalue()) == names.sub("%_", expected)
            seen.add(code.code[index])
    assert seen == {op.code for op in OPCODES}  # every instruction was compared


# -- one tag rule for the verifier and the simulator ------------------------------------------


def _retag(module: ModuleOp) -> tuple[int, int]:
    """Give two transfers between one pair of chiplets the same tag; returns the pair."""
    ops = {op.chiplet.value.data: op for op in programs(module)}
    for op in ops.values():
        cisa.materialize(op)
    sends: dict[tuple[int, int], list] = {}
    for chiplet, op in ops.items():
        for instruction in op.body.block.ops:
            if isinstance(instruction, cisa.SendOp):
                sends.setdefault((chiplet, instruction.to.value.data), []).append(instruction)
    (src, dst), pair = next((key, s) for key, s in sends.items() if len(s) >= 2)
    first, second = pair[0], pair[1]
    recv = {
        op.tag.value.data: op
        for op in ops[dst].body.block.ops
        if isinstance(op, cisa.RecvOp) and op.src.value.data == src
    }
    tag = first.properties["tag"]
    recv[second.tag.value.data].properties["tag"] = tag
    second.properties["tag"] = tag
    return src, dst


def test_a_reused_tag_pairs_in_order_for_the_verifier_and_the_simulator() -> None:
    strategy = "fsedp-paired"
    reference = compile_module(workload_module("deepseek-moe-16b", 24, strategy=strategy))
    module = reference.clone()
    _retag(module)
    module.verify()  # xDSL's verifier: the rules
    VerifyProgramsPass().apply(context(), module)  # the rules, coverage, data, deadlock
    assert simulate(module).report["latency_cycles"] == simulate(reference).report["latency_cycles"]


def test_a_reused_tag_pairing_unequal_transfers_is_rejected_by_both() -> None:
    # Two sends of 1 and 2 B with one tag, received as 2 then 1 B: in order, they do not match.
    body = {
        0: "    %a = cisa.alloc act bytes 2 tokens array<i32: 0, 1>\n    cisa.input %a\n"
        "    cisa.send %a to 1 tag 5 bytes 1\n    cisa.send %a to 1 tag 5 bytes 2",
        1: "    %a = cisa.alloc act bytes 2 tokens array<i32: 0, 1>\n"
        "    cisa.recv %a from 0 tag 5 bytes 2\n    cisa.recv %a from 0 tag 5 bytes 1",
    }
    module = parse(module_text(body), verify=False)
    codes = {op.chiplet.value.data: cisa.program_code(op) for op in programs(module)}
    problems = module_violations(codes)
    assert problems and "sends 1 B but the matching recv on chiplet 1" in str(problems[0])
    with pytest.raises(SimError, match="sends 1 B but the matching recv on chiplet 1"):
        simulate(module)
    pairs, _ = pair_transfers(codes)
    assert pairs[(0, 2)] == (1, 1) and pairs[(0, 3)] == (1, 2)  # the k-th with the k-th


def test_the_rules_find_nothing_in_compiled_programs(compiled) -> None:
    codes = {op.chiplet.value.data: op.code.data for op in programs(compiled)}
    assert not module_violations(codes)
    assert not any(program_violations(code, c) for c, code in codes.items())


def test_verify_programs_reports_the_rules_with_the_instruction_text() -> None:
    module = compile_module(workload_module("deepseek-moe-16b", 8, strategy="fsedp"), "fsedp")
    op = programs(module)[0]
    code = op.code.data
    lines = program_lines(code)
    load = next(i for i, line in enumerate(lines) if line.startswith("cisa.load"))
    lines[load] = lines[load].replace("seq 0", "seq 7")
    op.properties["code"] = cisa.ProgramCodeAttr(ProgramReader().read(lines))
    passes = [p for p in pipeline_passes("fsedp") if p.name == "verify-programs"]
    expected = r"chiplet 0, instruction \d+ \(cisa\.load %w\d+ channel \d+ seq \d+ .*\): DDR"
    with pytest.raises(FsedpError, match=expected):
        passes[0].apply(context(), module)
