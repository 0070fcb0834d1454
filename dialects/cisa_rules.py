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
  and tags are not negative, DDR channels exist, peers are other chiplets of the machine; a
  `bytes` field is at most `MAX_FIELD["bytes"]` (2^48) and an `ops` field at most
  `MAX_FIELD["ops"]` (2^56), and a program's bytes fields, and its ops fields, add up to at
  most `MAX_PROGRAM_TOTAL` (2^62), so no sum the verifier or the simulator forms over a program
  overflows 64 bits;
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

import numpy as np

from dialects.cisa_model import (
    ACT,
    ANY,
    KIND_NAMES,
    OPCODES,
    READ,
    UPDATE,
    WEIGHT,
    ModuleCode,
    Program,
    describe,
    run_starts,
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
        where = self.where or f"instruction {self.index}"
        return f"chiplet {self.chiplet}, {where}: {self.message}"


def _at(program: Program, chiplet: int, index: int, message: str) -> Violation:
    return Violation(chiplet, index, message, describe(program, index))


_POSITIVE = ("bytes", "ops", "of")
_NOT_NEGATIVE = ("expert", "slice", "seq", "tag", "channel")
# The largest value of a field (README, "Limits"). A real instruction is far below: a whole
# expert at the model limits is 3 * 65536^2 * 8 B (about 2^36.6), a gemm on it with 65536 tokens
# 2^50.6 ops.
MAX_FIELD = {"bytes": 2**48, "ops": 2**56}
# The most a program's bytes fields (alloc, load, send, recv), and its ops fields, add up to: the
# sums of live SRAM, traffic and work the verifier and the simulator form stay within int64.
MAX_PROGRAM_TOTAL = 2**62
_TOTAL_CHUNK = 2**14  # values summed exactly in int64 at a time (each at most 2^48)

# Per opcode and operand slot (-2: no such operand): the kind it takes; whether it reads.
_SLOTS = max(len(op.operands) for op in OPCODES)
_KIND = np.full((len(OPCODES), _SLOTS), -2, dtype=np.int64)
_READS = np.zeros((len(OPCODES), _SLOTS), dtype=bool)
for _op in OPCODES:
    for _k, _operand in enumerate(_op.operands):
        _KIND[_op.code, _k] = _operand.kind
        _READS[_op.code, _k] = _operand.access in (READ, UPDATE)
_ARITY = np.array([len(op.operands) for op in OPCODES], dtype=np.int64)
_NFIELDS = np.array([len(op.fields) for op in OPCODES], dtype=np.int64)
_HAS_TOKENS = np.array([op.tokens for op in OPCODES], dtype=bool)


def program_violations(
    program: Program, chiplet: int, machine: Machine | None = None
) -> list[Violation]:
    """What is wrong with one program on its own (computed once per program and machine)."""
    key = ("violations", chiplet, machine)
    found = program.memo.get(key)
    if found is None:
        found = program.memo[key] = tuple(_ProgramCheck(program, chiplet, machine).violations())
    return list(found)


class _ProgramCheck:
    """The rules over one program. Array operations find the instructions that break a rule;
    `_problem` then says, for each of those (few) only, which rule it breaks first, in the
    order the rules are listed."""

    def __init__(self, program: Program, chiplet: int, machine: Machine | None) -> None:
        self.program, self.chiplet, self.machine = program, chiplet, machine
        n = len(program)
        code = program.opcodes().astype(np.int64)
        self.valid = code < len(OPCODES)
        code = np.where(self.valid, code, END)  # tables are read with a valid opcode
        self.code = code
        bflat, bat = program.bufs.arrays()
        aflat, aat = program.args.arrays()
        self.shaped = self.valid & (np.diff(bat) == _ARITY[code]) & (np.diff(aat) == _NFIELDS[code])
        ends = np.flatnonzero(self.shaped & (code == END))  # a malformed end is no end
        self.end = int(ends[0]) if len(ends) else -1
        after = np.flatnonzero(self.valid[self.end + 1 :]) if self.end >= 0 else ()
        self.after = self.end + 1 + int(after[0]) if len(after) else -1
        self.stop = self.after if self.after >= 0 else n  # instructions checked: [0, stop)
        # each operand: its instruction, slot and buffer; buffer facts the rules read
        inst = np.repeat(np.arange(n, dtype=np.int64), np.diff(bat))
        self.nbuf = nbuf = len(program.buffer_kind)
        self.first_free = self._first(inst, bflat, bat, code, (FREE,))
        self.first_fill = self._first(inst, bflat, bat, code, (LOAD, RECV))
        self.bad = np.zeros(n, dtype=bool)
        self._operands(inst, np.arange(len(bflat)) - bat[inst], bflat, code, nbuf)
        self._fields(aflat, aat, code)
        self.total_problem: dict[int, str] = {}
        for name in MAX_FIELD:
            self._total(name, aflat, aat, code)
        self._tokens(code, bflat, bat)
        self.bad &= self.shaped

    def _first(self, inst, bflat, bat, code, opcodes) -> np.ndarray:
        """Per buffer: the first instruction (well formed, so counted by the rules) among
        `opcodes` that names it first; len(program) where there is none."""
        n = len(self.program)
        first = np.full(self.nbuf, n, dtype=np.int64)
        at = np.flatnonzero(np.isin(code, opcodes) & self.shaped & (np.diff(bat) > 0))
        at = at[at < self.stop]
        bufs = bflat[bat[at]]
        inside = (bufs >= 0) & (bufs < self.nbuf)
        np.minimum.at(first, bufs[inside], at[inside])
        return first

    def _operands(self, inst, slot, b, code, nbuf) -> None:
        program, op = self.program, code[inst]
        inside = (b >= 0) & (b < nbuf)
        safe = np.where(inside, b, 0)
        alloc = np.asarray(program.buffer_alloc, dtype=np.int64)
        kind = np.asarray(program.buffer_kind, dtype=np.int64)
        slot = np.minimum(slot, _SLOTS - 1)
        wanted = _KIND[op, slot]
        bad = ~inside | (alloc[safe] > inst)
        rest = op != ALLOC
        bad |= rest & (self.first_free[safe] < inst)
        bad |= rest & (wanted != ANY) & (kind[safe] != wanted)
        unfilled = ~(self.first_fill[safe] < inst)
        bad |= rest & _READS[op, slot] & (kind[safe] == WEIGHT) & unfilled
        self.bad[inst[bad]] = True

    def _fields(self, aflat, aat, code) -> None:
        for opcode in OPCODES:
            at = np.flatnonzero((code == opcode.code) & self.shaped)
            if not len(at) or not opcode.fields:
                continue
            values = {name: aflat[aat[at] + k] for k, name in enumerate(opcode.fields)}
            bad = np.zeros(len(at), dtype=bool)
            for name in _POSITIVE:
                if name in values:
                    bad |= values[name] <= 0
            for name in _NOT_NEGATIVE:
                if name in values:
                    bad |= values[name] < 0
            for name, high in MAX_FIELD.items():
                if name in values:
                    bad |= values[name] > high
            if "slice" in values:
                bad |= values["slice"] >= values["of"]
            machine = self.machine
            if machine is not None and "channel" in values:
                bad |= values["channel"] >= machine.channels
            for name in ("to", "from"):
                if name in values:
                    peer = values[name]
                    bad |= (peer == self.chiplet) | (peer < 0)
                    if machine is not None:
                        bad |= peer >= machine.chiplets
            self.bad[at[bad]] = True

    def _total(self, name: str, aflat, aat, code) -> None:
        """Flag the instruction at which the program's `name` fields (each within its range;
        the others count 0) first add up to more than MAX_PROGRAM_TOTAL, summed exactly."""
        rows, values = [], []
        for opcode in OPCODES:
            if name in opcode.fields:
                at = np.flatnonzero((code == opcode.code) & self.shaped)
                rows.append(at)
                values.append(aflat[aat[at] + opcode.fields.index(name)])
        rows, values = np.concatenate(rows), np.concatenate(values)
        order = np.argsort(rows, kind="stable")
        rows, values = rows[order], values[order]
        values = np.where((values > 0) & (values <= MAX_FIELD[name]), values, 0)
        if len(values) * MAX_FIELD[name] <= MAX_PROGRAM_TOTAL:
            return
        carry = 0
        for start in range(0, len(values), _TOTAL_CHUNK):
            sums = np.cumsum(values[start : start + _TOTAL_CHUNK])
            over = np.flatnonzero(sums > MAX_PROGRAM_TOTAL - carry)
            if len(over):
                i = int(rows[start + int(over[0])])
                self.total_problem[i] = (
                    f"the program's {name} fields add up to more than {MAX_PROGRAM_TOTAL} "
                    f"(2^62) here"
                )
                self.bad[i] = True
                return
            carry += int(sums[-1])

    def _tokens(self, code, bflat, bat) -> None:
        """Token lists, each distinct list (and list in a buffer) judged once."""
        program = self.program
        at = np.flatnonzero(_HAS_TOKENS[code] & self.shaped)
        if not len(at):
            return
        tokens = program.tokens
        ids = np.fromiter((id(tokens[i]) for i in at), dtype=np.uint64, count=len(at))
        _, first = np.unique(ids, return_index=True)
        wrong = {int(ids[k]) for k in first if _token_list_problem(tokens[at[k]], "", True)}
        if wrong:
            self.bad[at[np.isin(ids, np.fromiter(wrong, dtype=np.uint64))]] = True
        held = np.fromiter(map(id, program.buffer_tokens), dtype=np.uint64)
        kind = np.asarray(program.buffer_kind, dtype=np.int64)
        for k in range(_SLOTS):
            # the instructions whose operand k takes an act buffer that is one (any other
            # case is an operand problem), and the (token list, buffer list) pairs they make
            rows = at[_KIND[code[at], k] == ACT]
            b = bflat[bat[rows] + k]
            keep = (b >= 0) & (b < self.nbuf)
            rows, b = rows[keep], b[keep]
            keep = kind[b] == ACT
            rows, b = rows[keep], b[keep]
            if not len(rows):
                continue
            pairs = np.stack([ids[np.searchsorted(at, rows)], held[b]], axis=1)
            _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
            wrong = [
                j
                for j, f in enumerate(first.tolist())
                if tokens[rows[f]]
                and not set(tokens[rows[f]]).issubset(program.buffer_tokens[b[f]])
            ]
            if wrong:
                self.bad[rows[np.isin(inverse.ravel(), wrong)]] = True

    def violations(self) -> list[Violation]:
        program, chiplet = self.program, self.chiplet
        out: list[Violation] = []
        kinds = program.buffer_kind
        for b, tokens in enumerate(program.buffer_tokens):
            problem = _token_list_problem(tokens, "act buffer") if kinds[b] == ACT else None
            if problem:
                out.append(_at(program, chiplet, program.buffer_alloc[b], problem))
        flagged = self.bad[: self.stop] | ~self.shaped[: self.stop]
        for i in np.flatnonzero(flagged).tolist():
            if not self.valid[i]:
                message = f"opcode {program.code[i]} is not a cisa instruction"
                out.append(Violation(chiplet, i, message))
            elif not self.shaped[i]:
                name = OPCODES[program.code[i]].name
                out.append(Violation(chiplet, i, f"{name} with the wrong operands or fields"))
            else:
                problem = self._problem(i)
                assert problem is not None, f"instruction {i} flagged without a problem"
                out.append(_at(program, chiplet, i, problem))
        if self.after >= 0:
            out.append(_at(program, chiplet, self.after, "comes after the program's cisa.end"))
        if self.end < 0:
            out.append(Violation(chiplet, None, "the program does not end with cisa.end"))
        return out

    def _problem(self, i: int) -> str | None:
        program = self.program
        opcode = OPCODES[program.code[i]]
        bufs, args = program.bufs[i], program.args[i]
        problem = self._operand_problem(i, opcode, bufs)
        problem = problem or _field_problem(opcode, args, self.chiplet, self.machine)
        if problem is None and opcode.tokens:
            problem = _token_list_problem(program.tokens[i], opcode.mnemonic, required=True)
            problem = problem or _rows_problem(program, opcode, bufs, program.tokens[i])
        return problem or self.total_problem.get(i)

    def _operand_problem(self, i, opcode, bufs) -> str | None:
        program = self.program
        for operand, b in zip(opcode.operands, bufs, strict=True):
            if not 0 <= b < self.nbuf or program.buffer_alloc[b] > i:
                return f"uses a buffer not allocated earlier in this program ({operand.name})"
            if opcode.code == ALLOC:
                continue
            if self.first_free[b] < i:
                return f"uses a buffer freed at instruction {self.first_free[b]}"
            kind = program.buffer_kind[b]
            if operand.kind != ANY and kind != operand.kind:
                wanted = ", ".join(f"{o.name} {KIND_NAMES[o.kind]}" for o in opcode.operands)
                article = "an" if kind == ACT else "a"
                return (
                    f"takes {wanted} buffers; {operand.name} is {article} {KIND_NAMES[kind]} buffer"
                )
            reads = operand.access in (READ, UPDATE)
            if reads and kind == WEIGHT and not self.first_fill[b] < i:
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
    for name, high in MAX_FIELD.items():
        if name in values and values[name] > high:
            exponent = high.bit_length() - 1
            return f"{name} must be at most {high} (2^{exponent}), got {values[name]}"
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
                limit = f" ({machine.chiplets} chiplets)" if machine is not None else ""
                return f"peer chiplet {peer} is not a chiplet of the machine{limit}"
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
    """What is wrong with the programs together (each one's own rules excepted); computed once
    per set of programs and machine."""
    code = ModuleCode.of(dict(programs))
    key = ("violations", machine)
    found = code.memo.get(key)
    if found is None:
        found = code.memo[key] = tuple(_module_violations(code, machine))
    return list(found)


def _module_violations(code: ModuleCode, machine: Machine | None) -> list[Violation]:
    programs = code.programs
    out: list[Violation] = []
    if machine is not None:
        for chiplet in programs:
            if not 0 <= chiplet < machine.chiplets:
                out.append(Violation(chiplet, None, "a program for a chiplet not on the machine"))
    out += _channel_violations(code)
    out += _Transfers.of(code).violations
    counts = {c: p.code.count(BARRIER) for c, p in programs.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"chiplet {c}: {n}" for c, n in counts.items())
        out.append(
            Violation(min(counts), None, f"programs hold different numbers of barriers ({shown})")
        )
    return out


def _channel_violations(code: ModuleCode) -> list[Violation]:
    gids, channel, seq = _well_formed(code, LOAD, "channel", "seq")
    order = np.lexsort((gids, seq, channel))
    gids, channel, seq = gids[order], channel[order], seq[order]
    starts = run_starts(channel)
    expected = np.arange(len(seq)) - starts
    out, reported = [], set()
    for k in np.flatnonzero(seq != expected).tolist():
        if channel[k] in reported:
            continue  # a channel's first mistake is reported
        reported.add(channel[k])
        again = expected[k] and seq[k - 1] == seq[k]
        detail = f"seq {seq[k]} is used twice" if again else f"seq {expected[k]} is missing"
        message = f"DDR channel {channel[k]} serves loads in seq order 0, 1, 2, ...; {detail}"
        out.append(_at_gid(code, int(gids[k]), message))
    return out


def _well_formed(code: ModuleCode, opcode: int, *names: str) -> tuple[np.ndarray, ...]:
    """`ModuleCode.fields` of the instructions with that opcode that have all their fields
    (a short one is its program's violation)."""
    gids = np.flatnonzero(code.opcodes() == opcode)
    gids = gids[code.args.lengths(gids) == len(OPCODES[opcode].fields)]
    fields = OPCODES[opcode].fields
    return (gids, *(code.args.column(gids, fields.index(n)) for n in names))


Endpoint = tuple[int, int]  # (chiplet, instruction index)


@dataclass
class _Transfers:
    """The tag rule over a module: `partner[g]` is the gid of the send or recv that pairs with
    instruction g (-1: none), and what does not pair or pairs badly."""

    partner: np.ndarray
    violations: list[Violation]

    @classmethod
    def of(cls, code: ModuleCode) -> _Transfers:
        found = code.memo.get("transfers")
        if found is None:
            found = code.memo["transfers"] = cls._pair(code)
        return found

    @classmethod
    def _pair(cls, code: ModuleCode) -> _Transfers:
        # each send and recv as (src, dst, tag, rank, side), rank counting in program order
        # among those of its (src, dst, tag); side 0 a send, 1 a recv
        sends, to, send_tag, sent = _well_formed(code, SEND, "to", "tag", "bytes")
        recvs, frm, recv_tag, received = _well_formed(code, RECV, "from", "tag", "bytes")
        g = np.concatenate([sends, recvs])
        src = np.concatenate([code.locate_all(sends)[0], frm])
        dst = np.concatenate([to, code.locate_all(recvs)[0]])
        tag = np.concatenate([send_tag, recv_tag])
        nbytes = np.concatenate([sent, received])
        side = np.repeat([0, 1], [len(sends), len(recvs)])
        order = np.lexsort((g, side, tag, dst, src))
        keyed = np.stack([side[order], tag[order], dst[order], src[order]])
        rank = np.empty(len(g), dtype=np.int64)
        rank[order] = np.arange(len(g)) - run_starts(keyed)
        del keyed
        order = np.lexsort((side, rank, tag, dst, src))
        key = np.stack([rank[order], tag[order], dst[order], src[order]])
        same = (key[:, 1:] == key[:, :-1]).all(axis=0) if len(g) > 1 else np.zeros(0, bool)
        del key
        first = np.flatnonzero(same)  # a send (sorted first) and its recv next to it
        a, b = order[first], order[first + 1]
        partner = np.full(len(code.code), -1, dtype=np.int64)
        partner[g[a]], partner[g[b]] = g[b], g[a]
        problems: list[tuple[tuple[int, ...], str, int]] = []
        for k in cls._bad_pairs(code, g[a], g[b], nbytes[a] != nbytes[b]):
            where = f"chiplet {code.locate(int(g[b[k]]))[0]}, {code.describe(int(g[b[k]]))}"
            message = _pair_message(code, int(g[a[k]]), int(g[b[k]]), where)
            problems.append(((src[a[k]], dst[a[k]], tag[a[k]], 0, rank[a[k]]), message, g[a[k]]))
        for k in np.flatnonzero(partner[g] < 0).tolist():
            if side[k] == 0:
                message = f"no matching cisa.recv from {src[k]} tag {tag[k]} on chiplet {dst[k]}"
            else:
                message = f"no matching cisa.send to {dst[k]} tag {tag[k]} on chiplet {src[k]}"
            problems.append(((src[k], dst[k], tag[k], 1 + side[k], rank[k]), message, g[k]))
        problems.sort(key=lambda p: tuple(map(int, p[0])))
        violations = [_at_gid(code, int(gid), message) for _, message, gid in problems]
        return cls(partner, violations)

    @staticmethod
    def _bad_pairs(code: ModuleCode, a: np.ndarray, b: np.ndarray, unequal: np.ndarray):
        """Indices of the pairs (send a[k], recv b[k]) that break the rule: other bytes, other
        buffer kinds, or act buffers holding other tokens."""
        whole = (code.bufs.lengths(a) == 1) & (code.bufs.lengths(b) == 1)
        kinds = np.asarray(code.buffer_kind, dtype=np.int64)
        buf_a, buf_b = code.bufs.column(a[whole], 0), code.bufs.column(b[whole], 0)
        bad = unequal.copy()
        other = np.zeros(len(a), dtype=bool)
        other[whole] = kinds[buf_a] != kinds[buf_b]
        bad |= other
        acts = np.flatnonzero(whole)[(kinds[buf_a] == ACT) & (kinds[buf_b] == ACT)]
        held = code.buffer_tokens
        for k, x, y in zip(acts.tolist(), code.bufs.column(a[acts], 0).tolist(),
                           code.bufs.column(b[acts], 0).tolist(), strict=True):  # fmt: skip
            if held[x] is not held[y] and sorted(held[x]) != sorted(held[y]):
                bad[k] = True
        return np.flatnonzero(bad).tolist()


def _at_gid(code: ModuleCode, gid: int, message: str) -> Violation:
    chiplet, index = code.locate(int(gid))
    return _at(code.programs[chiplet], chiplet, index, message)


def _pair_message(code: ModuleCode, send: int, recv: int, where: str) -> str:
    sent, received = code.args[send][2], code.args[recv][2]
    if sent != received:
        return f"sends {sent} B but the matching recv on {where} receives {received} B"
    kind_a, kind_b = code.buffer_kind[code.bufs[send][0]], code.buffer_kind[code.bufs[recv][0]]
    if kind_a != kind_b:
        return f"sends a {KIND_NAMES[kind_a]} buffer into a {KIND_NAMES[kind_b]} buffer on {where}"
    return f"sends rows of other tokens than the receiving buffer on {where} holds"


def transfer_partners(code: ModuleCode) -> np.ndarray:
    """Per gid: the gid of the send or recv it pairs with under the tag rule, -1 for none."""
    return _Transfers.of(code).partner


def pair_transfers(
    programs: Mapping[int, Program],
) -> tuple[dict[Endpoint, Endpoint], list[Violation]]:
    """Each send's recv and each recv's send (the tag rule), as (chiplet, index) endpoints,
    and what does not pair."""
    code = ModuleCode.of(dict(programs))
    transfers = _Transfers.of(code)
    paired = np.flatnonzero(transfers.partner >= 0)
    ends = (code.locate_all(paired), code.locate_all(transfers.partner[paired]))
    (chiplet, index), (peer, peer_index) = ((a.tolist(), b.tolist()) for a, b in ends)
    pairs = {(chiplet[k], index[k]): (peer[k], peer_index[k]) for k in range(len(paired))}
    return pairs, list(transfers.violations)


__all__ = [
    "MAX_FIELD",
    "MAX_PROGRAM_TOTAL",
    "Machine",
    "Violation",
    "module_violations",
    "pair_transfers",
    "program_violations",
    "transfer_partners",
]
