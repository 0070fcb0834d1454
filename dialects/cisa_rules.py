"""The well-formedness rules of lowered programs, each written once.

`program_violations` checks one program on its own, `module_violations` the programs together.
Each returns a list of `Violation`s (empty: the programs are well formed); the xDSL verifier of
`cisa.program`, `verify-programs` and the simulator all use them, and so agree. What they do not
check needs the MoE layer or a run: coverage, slice sizes against the model, SRAM capacity and
deadlock freedom (`verify-programs`), timing (the simulator).

The rules:

- operands: every buffer an instruction names was allocated earlier in the same program, and
  not freed before; each operand is of the kind its opcode takes (`cisa_model.OPCODES`); a
  weight buffer is filled (`load` or `recv`) before it is read (`gemm`, `send`);
- fields: bytes, ops and slice counts are positive, `0 <= slice < of`, expert ids, seq numbers
  and tags are not negative, DDR channels exist, peers are other chiplets of the mesh;
- tokens: a `gemm` or `accumulate` lists at least one token, no token twice, none negative,
  and only tokens its act buffers hold; an act buffer lists distinct, non-negative tokens;
- ends: a program ends with its one `cisa.end`;
- channels: each DDR channel's loads carry seq 0, 1, 2, ... each once, over all programs;
- transfers (the tag rule): a `send` on chiplet a `to b tag t` and a `recv` on chiplet b
  `from a tag t` pair in program order, the k-th send with the k-th recv of that (a, b, t), as
  messages on one ordered channel do; every send and recv has its partner, with the same
  bytes, between buffers of the same kind (act ones holding the same tokens);
- barriers: every program holds as many `cisa.barrier`s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dialects.cisa_model import (
    ACT,
    ANY,
    KIND_NAMES,
    OPCODES,
    READ,
    UPDATE,
    WEIGHT,
    Program,
    describe,
)
from dialects.cisa_opcodes import ALLOC, BARRIER, END, FREE, LOAD, RECV, SEND


@dataclass(frozen=True)
class Machine:
    """What the rules need of the machine: its chiplets and DDR channels."""

    chiplets: int
    channels: int


@dataclass(frozen=True)
class Violation:
    chiplet: int
    index: int | None  # the instruction, or None for the program as a whole
    message: str
    where: str = ""  # the instruction's text, `describe`d

    def __str__(self) -> str:
        if self.index is None:
            return f"chiplet {self.chiplet}: {self.message}"
        return f"chiplet {self.chiplet}, {self.where}: {self.message}"


def _at(program: Program, chiplet: int, index: int, message: str) -> Violation:
    return Violation(chiplet, index, message, describe(program, index))


_POSITIVE = ("bytes", "ops", "of")
_NOT_NEGATIVE = ("expert", "slice", "seq", "tag", "channel")


def program_violations(  # noqa: C901 - one pass over the instructions
    program: Program, chiplet: int, machine: Machine | None = None
) -> list[Violation]:
    """What is wrong with one program on its own."""
    out: list[Violation] = []
    freed: dict[int, int] = {}
    filled = [False] * len(program.buffer_kind)
    kinds, held = program.buffer_kind, program.buffer_tokens
    for b, tokens in enumerate(held):
        problem = _token_list_problem(tokens, "act buffer") if kinds[b] == ACT else None
        if problem:
            out.append(_at(program, chiplet, program.buffer_alloc[b], problem))
    ended = -1
    for i, code in enumerate(program.code):
        opcode = OPCODES[code] if 0 <= code < len(OPCODES) else None
        if opcode is None:
            out.append(Violation(chiplet, i, f"opcode {code} is not a cisa instruction"))
            continue
        if ended >= 0:
            out.append(_at(program, chiplet, i, "comes after the program's cisa.end"))
            break
        bufs, args = program.bufs[i], program.args[i]
        if len(bufs) != len(opcode.operands) or len(args) != len(opcode.fields):
            out.append(Violation(chiplet, i, f"{opcode.name} with the wrong operands or fields"))
            continue
        problem = _operand_problem(program, i, opcode, bufs, freed, filled)
        problem = problem or _field_problem(opcode, args, chiplet, machine)
        if problem is None and opcode.tokens:
            problem = _token_list_problem(program.tokens[i], opcode.mnemonic, required=True)
            problem = problem or _rows_problem(program, opcode, bufs, program.tokens[i])
        if problem:
            out.append(_at(program, chiplet, i, problem))
        if code == FREE and bufs[0] not in freed:
            freed[bufs[0]] = i
        elif code in (LOAD, RECV) and bufs:
            filled[bufs[0]] = True
        elif code == END:
            ended = i
    if ended < 0:
        out.append(Violation(chiplet, None, "the program does not end with cisa.end"))
    return out


def _operand_problem(program, i, opcode, bufs, freed, filled) -> str | None:
    for operand, b in zip(opcode.operands, bufs, strict=True):
        if not 0 <= b < len(program.buffer_kind) or program.buffer_alloc[b] > i:
            return f"uses a buffer not allocated earlier in this program ({operand.name})"
        if opcode.code == ALLOC:
            continue
        if b in freed:
            return f"uses a buffer freed at instruction {freed[b]}"
        kind = program.buffer_kind[b]
        if operand.kind != ANY and kind != operand.kind:
            wanted = ", ".join(f"{o.name} {KIND_NAMES[o.kind]}" for o in opcode.operands)
            article = "an" if kind == ACT else "a"
            return f"takes {wanted} buffers; {operand.name} is {article} {KIND_NAMES[kind]} buffer"
        reads = operand.access in (READ, UPDATE)
        if reads and kind == WEIGHT and not filled[b]:
            return "reads a weight buffer before any load or recv fills it"
    return None


def _field_problem(opcode, args, chiplet: int, machine: Machine | None) -> str | None:
    values = dict(zip(opcode.fields, args, strict=True))
    for name in _POSITIVE:
        if name in values and values[name] <= 0:
            return f"{name} must be positive, got {values[name]}"
    for name in _NOT_NEGATIVE:
        if name in values and values[name] < 0:
            return f"{name} must be >= 0, got {values[name]}"
    if "slice" in values and values["slice"] >= values["of"]:
        return f"slice {values['slice']} is outside 0..{values['of'] - 1}"
    if machine is not None and "channel" in values and values["channel"] >= machine.channels:
        return f"DDR channel {values['channel']} does not exist (the system has {machine.channels})"
    for name in ("to", "from"):
        if name in values:
            peer = values[name]
            if peer == chiplet:
                return f"chiplet {peer} cannot exchange data with itself"
            if peer < 0 or (machine is not None and peer >= machine.chiplets):
                limit = f" of {machine.chiplets}" if machine is not None else ""
                return f"peer chiplet {peer} is not a chiplet of the mesh{limit}"
    return None


def _token_list_problem(tokens, what: str, required: bool = False) -> str | None:
    if required and not tokens:
        return f"a {what} needs at least one token"
    if any(t < 0 for t in tokens):
        return f"{what} holds a negative token id"
    if len(set(tokens)) != len(tokens):
        return f"{what} lists a token twice"
    return None


def _rows_problem(program: Program, opcode, bufs, tokens) -> str | None:
    """Every token of a gemm or accumulate is a row of its act buffers."""
    for operand, b in zip(opcode.operands, bufs, strict=True):
        if program.buffer_kind[b] == ACT:
            missing = set(tokens).difference(program.buffer_tokens[b])
            if missing:
                return f"token {min(missing)} is not in its {operand.name} buffer"
    return None


def module_violations(
    programs: Mapping[int, Program], machine: Machine | None = None
) -> list[Violation]:
    """What is wrong with the programs together (each one's own rules excepted)."""
    out: list[Violation] = []
    if machine is not None:
        for chiplet in programs:
            if not 0 <= chiplet < machine.chiplets:
                out.append(Violation(chiplet, None, "a program for a chiplet not on the mesh"))
    out += _channel_violations(programs)
    _, problems = pair_transfers(programs)
    out += problems
    counts = {c: p.code.count(BARRIER) for c, p in programs.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"chiplet {c}: {n}" for c, n in counts.items())
        out.append(
            Violation(min(counts), None, f"programs hold different numbers of barriers ({shown})")
        )
    return out


def _channel_violations(programs: Mapping[int, Program]) -> list[Violation]:
    loads: dict[int, list[tuple[int, int, int]]] = {}  # channel -> (seq, chiplet, index)
    for chiplet, program in programs.items():
        for i, code in enumerate(program.code):
            if code == LOAD:
                channel, seq = program.args[i][:2]
                loads.setdefault(channel, []).append((seq, chiplet, i))
    out = []
    for channel, queue in sorted(loads.items()):
        queue.sort()
        for expected, (seq, chiplet, i) in enumerate(queue):
            if seq != expected:
                again = expected and queue[expected - 1][0] == seq
                detail = f"seq {seq} is used twice" if again else f"seq {expected} is missing"
                message = f"DDR channel {channel} serves loads in seq order 0, 1, 2, ...; {detail}"
                out.append(_at(programs[chiplet], chiplet, i, message))
                break
    return out


Endpoint = tuple[int, int]  # (chiplet, instruction index)


def pair_transfers(
    programs: Mapping[int, Program],
) -> tuple[dict[Endpoint, Endpoint], list[Violation]]:
    """Each send's recv and each recv's send (the tag rule), and what does not pair."""
    sends: dict[tuple[int, int, int], list[Endpoint]] = {}
    recvs: dict[tuple[int, int, int], list[Endpoint]] = {}
    for chiplet, program in programs.items():
        for i, code in enumerate(program.code):
            if code == SEND:  # to, tag, bytes
                key = (chiplet, program.args[i][0], program.args[i][1])
                sends.setdefault(key, []).append((chiplet, i))
            elif code == RECV:  # from, tag, bytes
                key = (program.args[i][0], chiplet, program.args[i][1])
                recvs.setdefault(key, []).append((chiplet, i))
    pairs: dict[Endpoint, Endpoint] = {}
    out: list[Violation] = []
    for key in sorted(set(sends) | set(recvs)):
        src, dst, tag = key
        mine, theirs = sends.get(key, []), recvs.get(key, [])
        for send, recv in zip(mine, theirs, strict=False):
            pairs[send], pairs[recv] = recv, send
            problem = _pair_problem(programs, send, recv)
            if problem:
                out.append(_at(programs[send[0]], send[0], send[1], problem))
        for chiplet, i in mine[len(theirs) :]:
            message = f"no matching cisa.recv from {src} tag {tag} on chiplet {dst}"
            out.append(_at(programs[chiplet], chiplet, i, message))
        for chiplet, i in theirs[len(mine) :]:
            message = f"no matching cisa.send to {dst} tag {tag} on chiplet {src}"
            out.append(_at(programs[chiplet], chiplet, i, message))
    return pairs, out


def _pair_problem(programs, send: Endpoint, recv: Endpoint) -> str | None:
    sender, receiver = programs[send[0]], programs[recv[0]]
    sent, received = sender.args[send[1]][2], receiver.args[recv[1]][2]
    a, b = sender.bufs[send[1]], receiver.bufs[recv[1]]
    kind_a = sender.buffer_kind[a[0]] if a else None
    kind_b = receiver.buffer_kind[b[0]] if b else None
    same_rows = kind_a != ACT or sorted(sender.buffer_tokens[a[0]]) == sorted(
        receiver.buffer_tokens[b[0]]
    )
    if sent == received and (kind_a is None or kind_b is None or (kind_a == kind_b and same_rows)):
        return None  # the usual case: nothing to describe
    where = f"chiplet {recv[0]}, {describe(receiver, recv[1])}"
    if sent != received:
        return f"sends {sent} B but the matching recv on {where} receives {received} B"
    if kind_a is None or kind_b is None:
        return None  # an operand problem, reported by program_violations
    if kind_a != kind_b:
        return f"sends a {KIND_NAMES[kind_a]} buffer into a {KIND_NAMES[kind_b]} buffer on {where}"
    if kind_a == ACT and sorted(sender.buffer_tokens[a[0]]) != sorted(receiver.buffer_tokens[b[0]]):
        return f"sends rows of other tokens than the receiving buffer on {where} holds"
    return None


__all__ = ["Machine", "Violation", "module_violations", "pair_transfers", "program_violations"]
