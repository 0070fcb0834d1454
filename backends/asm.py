"""Readable assembly of the compiled per-chiplet programs.

`-t cisa-asm` prints every `cisa.program` of a compiled module; `--emit-programs DIR` writes one
`chipletN.s` file per chiplet plus `manifest.json` (system, model, per-program statistics).

Each instruction is one line: its index in the program (the index error messages of
`verify-programs` use), the mnemonic, its operands, and a comment naming the expert, slice and
tokens it concerns. Buffers are named `w<n>` (weights) and `a<n>` (activations), numbered in
allocation order within the program:

```
.program chiplet1 chiplet 1
     0  alloc    a0, act, 32                 ; tokens 2-3
     1  input    a0                          ; tokens 2-3
     4  recv     w2, from 2, tag 1, 192      ; expert 0 slice 0/2
     5  gemm     w2, a0, a1, ops 768         ; expert 0 slice 0/2, tokens 2-3
```
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target

from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.cisa import programs_of
from dialects.cisa_model import KIND_NAMES, MNEMONIC, OPCODES, WEIGHT, ModuleCode
from dialects.cisa_opcodes import ACC, ALLOC, FREE, GEMM, LOAD, RECV, SEND
from dialects.cisa_rules import transfer_partners
from dialects.moe import LayerOp
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.record import module_options, module_strategy

FORMAT = "fsedp-cisa-asm"
VERSION = 1


def token_ranges(tokens: tuple[int, ...] | list[int]) -> str:
    """`0-3,8,10-11`: sorted ids with runs collapsed."""
    values = sorted(tokens)
    parts: list[str] = []
    start = previous = None
    for token in values:
        if start is None:
            start = previous = token
        elif token == previous + 1:
            previous = token
        else:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = previous = token
    if start is not None:
        parts.append(str(start) if start == previous else f"{start}-{previous}")
    return ",".join(parts) or "none"


def weight_contents(code: ModuleCode) -> dict[int, tuple[int, int, int]]:
    """(expert, slice, of) held by each weight buffer: from its load, or from the buffer whose
    matching send filled it through a recv."""
    contents: dict[int, tuple[int, int, int]] = {}
    for g, opcode in enumerate(code.code):
        if opcode == LOAD:  # channel, seq, bytes, expert, slice, of
            contents[code.bufs[g][0]] = code.args[g][3:6]
    partner = transfer_partners(code).tolist()
    fills = [
        (code.bufs[send][0], code.bufs[recv][0])
        for recv, send in enumerate(partner)
        if send >= 0 and code.code[recv] == RECV
    ]
    changed = True
    while changed:
        changed = False
        for source, target in fills:
            if target not in contents and source in contents:
                contents[target] = contents[source]
                changed = True
    return contents


class _Writer:
    def __init__(self, code: ModuleCode):
        self.code = code
        self.contents = weight_contents(code)
        self.names: dict[int, str] = {}
        for chiplet, program in code.programs.items():
            first = code.first_buffer[chiplet]
            for k, kind in enumerate(program.buffer_kind):
                self.names[first + k] = f"{KIND_NAMES[kind][0]}{k}"

    def _slice(self, buf: int) -> str:
        held = self.contents.get(buf)
        return "expert {} slice {}/{}".format(*held) if held else "no weights"

    def _about(self, buf: int) -> str:
        if self.code.buffer_kind[buf] == WEIGHT:
            return self._slice(buf)
        return f"tokens {token_ranges(self.code.buffer_tokens[buf])}"

    def line(self, g: int, index: int) -> str:  # noqa: C901 - one case per instruction
        code = self.code
        opcode, bufs = code.code[g], code.bufs[g]
        p = dict(zip(OPCODES[opcode].fields, code.args[g], strict=True))
        names = [self.names[b] for b in bufs]
        kind = MNEMONIC[opcode]
        if opcode == ALLOC:
            buf = bufs[0]
            operands = f"{names[0]}, {KIND_NAMES[code.buffer_kind[buf]]}, {p['bytes']}"
            comment = self._about(buf)
        elif opcode == LOAD:
            operands = f"{names[0]}, ch{p['channel']}, seq {p['seq']}, {p['bytes']}"
            comment = f"expert {p['expert']} slice {p['slice']}/{p['of']}"
        elif opcode == SEND:
            operands = f"{names[0]}, to {p['to']}, tag {p['tag']}, {p['bytes']}"
            comment = self._about(bufs[0])
        elif opcode == RECV:
            operands = f"{names[0]}, from {p['from']}, tag {p['tag']}, {p['bytes']}"
            comment = self._about(bufs[0])
        elif opcode == GEMM:
            operands = f"{', '.join(names)}, ops {p['ops']}"
            comment = (
                f"expert {p['expert']} slice {p['slice']}/{p['of']}, "
                f"tokens {token_ranges(code.tokens[g])}"
            )
        elif opcode == ACC:
            operands = f"{names[0]} into {names[1]}, ops {p['ops']}"
            comment = f"tokens {token_ranges(code.tokens[g])}"
        elif bufs:
            operands = names[0]
            comment = self._about(bufs[0])
        else:
            operands, comment = "", ""
        text = f"{index:6d}  {kind:<11}{operands}".rstrip()
        return f"{text:<48} ; {comment}" if comment else text

    def program(self, chiplet: int, header: list[str]) -> str:
        lines = [*header, f".program chiplet{chiplet} chiplet {chiplet}"]
        span = self.code.spans[chiplet]
        lines.extend(self.line(g, g - span.start) for g in span)
        return "\n".join(lines) + "\n"


def _facts(module: ModuleOp) -> tuple[SystemAttr | None, LayerOp | None]:
    system = module.attributes.get(SYSTEM_ATTR_NAME)
    layer = next((op for op in module.body.block.ops if isinstance(op, LayerOp)), None)
    return (system if isinstance(system, SystemAttr) else None), layer


def _statistics(code: ModuleCode, chiplet: int) -> dict[str, object]:
    counts: dict[str, int] = {}
    live = peak = 0
    moved = {"load_bytes": 0, "send_bytes": 0, "gemm_ops": 0}
    for g in code.spans[chiplet]:
        opcode = code.code[g]
        counts[MNEMONIC[opcode]] = counts.get(MNEMONIC[opcode], 0) + 1
        if opcode == ALLOC:
            live += code.buffer_bytes[code.bufs[g][0]]
            peak = max(peak, live)
        elif opcode == FREE:
            live -= code.buffer_bytes[code.bufs[g][0]]
        elif opcode == LOAD:
            moved["load_bytes"] += code.field(g, "bytes")
        elif opcode == SEND:
            moved["send_bytes"] += code.field(g, "bytes")
        elif opcode == GEMM:
            moved["gemm_ops"] += code.field(g, "ops")
    return {
        "instructions": len(code.spans[chiplet]),
        "counts": counts,
        "peak_sram_bytes": peak,
        **moved,
    }


def _header(module: ModuleOp, programs: ModuleCode, chiplet: int) -> list[str]:
    system, layer = _facts(module)
    lines = []
    if system is not None:
        row, col = system.coords(chiplet)
        lines.append(
            f"; chiplet {chiplet} at row {row}, col {col} of {_quoted(system.system_name.data)} "
            f"({system.rows.data}x{system.cols.data} {system.spec.topology}, "
            f"{system.sram_bytes.data} B SRAM)"
        )
    if layer is not None:
        m = layer.model
        lines.append(
            f"; layer @{layer.sym_name.data}: model {_quoted(m.model_name.data)}, hidden "
            f"{m.hidden.data}, ffn {m.ffn.data}, {m.experts.data} routed + {m.shared.data} "
            f"shared experts, top-{m.top_k.data}, {layer.num_tokens} tokens"
        )
    stats = _statistics(programs, chiplet)
    lines.append(
        f"; {stats['instructions']} instructions, peak SRAM {stats['peak_sram_bytes']} B, "
        f"loads {stats['load_bytes']} B, sends {stats['send_bytes']} B, gemm ops "
        f"{stats['gemm_ops']}"
    )
    return lines


def _compiled(module: ModuleOp, who: str) -> ModuleCode:
    try:
        programs = ModuleCode.of(programs_of(module))
    except ValueError as error:
        raise FsedpError(f"{who}: {error}") from None
    if not programs.chiplets:
        raise FsedpError(
            f"{who}: the module has no cisa.program; compile it first, e.g. with -p fsedp"
        )
    return programs


def program_texts(module: ModuleOp, who: str = "cisa-asm") -> dict[int, str]:
    """Chiplet id -> the assembly text of its program."""
    programs = _compiled(module, who)
    writer = _Writer(programs)
    return {c: writer.program(c, _header(module, programs, c)) for c in programs.chiplets}


@dataclass(frozen=True)
class CisaAsmTarget(Target):
    """`-t cisa-asm`: every chiplet's program as readable assembly, one after the other."""

    name = "cisa-asm"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        output.write("\n".join(program_texts(module).values()))


def manifest(module: ModuleOp, programs: ModuleCode, files: dict[int, str]) -> dict[str, object]:
    system, layer = _facts(module)
    result: dict[str, object] = {"format": FORMAT, "version": VERSION}
    if system is not None:
        result["system"] = {
            "name": system.system_name.data,
            "mesh": [system.rows.data, system.cols.data],
            "sram_bytes": system.sram_bytes.data,
            "ddr": [{"gbps": g, "chiplet": c} for g, c in system.spec.ddr],
        }
    if layer is not None:
        m = layer.model
        result["model"] = {
            "name": m.model_name.data,
            "hidden": m.hidden.data,
            "ffn": m.ffn.data,
            "experts": m.experts.data,
            "shared": m.shared.data,
            "top_k": m.top_k.data,
            "bytes": m.bytes.data,
        }
        result["tokens"] = layer.num_tokens
    result["strategy"] = module_strategy(module)
    result["strategy_options"] = module_options(module)
    result["programs"] = [
        {"chiplet": c, "file": files[c], **_statistics(programs, c)} for c in programs.chiplets
    ]
    return result


def emit_programs(module: ModuleOp, directory: str) -> list[str]:
    """Write `chipletN.s` per program and `manifest.json` into `directory`; returns the paths."""
    programs = _compiled(module, "--emit-programs")
    writer = _Writer(programs)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise FsedpError(f"--emit-programs: cannot create {directory}: {error.strerror}") from None
    files = {c: f"chiplet{c}.s" for c in programs.chiplets}
    paths = []
    for chiplet, name in files.items():
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as out:
            out.write(writer.program(chiplet, _header(module, programs, chiplet)))
        paths.append(path)
    path = os.path.join(directory, "manifest.json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(manifest(module, programs, files), out, indent=2)
        out.write("\n")
    return [*paths, path]


def _quoted(name: str) -> str:
    """A name in a `;` comment, quoted and escaped as JSON: a line end in it (`"a\\nb"` is a
    valid .moe string) must not end the comment."""
    return json.dumps(name, ensure_ascii=False)
