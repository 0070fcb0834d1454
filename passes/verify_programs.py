"""`verify-programs{deadlock=true|false}`: static verification of the lowered cisa programs.

Run at the end of every named pipeline, and on its own on any module holding `cisa.program`s
next to its `moe.layer` and `chiplet.system`. It needs nothing from the plan. It checks:

0. the rules every set of programs obeys (dialects/cisa_rules.py, shared with the xDSL verifier
   and the simulator): operands, fields, token lists, ends, DDR seq order, transfer pairing (the
   tag rule), barrier counts;
1. coverage: for every token t and every expert e it uses (its routed experts and all shared
   experts), each slice of e is applied to t by exactly one `gemm`, and no gemm applies an
   expert to a token that does not use it; every token is `output` exactly once;
2. the layer: loads and gemms name an existing expert and tokens, and carry the bytes and ops
   their slice implies;
3. SRAM: walking each program in order, the bytes of its live buffers never exceed `sram_bytes`;
4. progress (`deadlock=true`, default): an untimed abstract execution of all programs under the
   cisa contract (dialects/cisa.py) with the strictest reading: each unit (DDR loads, D2D sends,
   the matrix engine for gemm/accumulate) starts its instructions in program order; an
   instruction starts once every earlier writer of the buffers it reads has finished; a send
   once the receiver has posted the matching recv; a load once its channel has served the
   previous seq; `free` waits for every earlier use of its buffer, `barrier` for every chiplet.
   Programs that finish this way finish under any timing. If the execution gets stuck, the
   error lists each unfinished chiplet's blocked instruction and what it waits for. The same
   execution tracks data: a gemm's weight buffer must hold its slice, its input rows the layer
   input, and every output row must add up exactly the partial products of its token.

A violation is an `FsedpError` naming the chiplet and the instruction (its index in the program
and its text), for example:

```
verify-programs: chiplet 1, instruction 7 (%w5 = cisa.alloc weight bytes 192): live SRAM would
reach 8388800 B, more than the 8388608 B of SRAM
```
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from dataclasses import dataclass
from functools import cache
from itertools import chain

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.cisa import BODY_LINES, ProgramOp, programs_of
from dialects.cisa_model import (
    ACT,
    D2D_RECV,
    D2D_SEND,
    DDR,
    ENGINE,
    OPCODES,
    READ,
    UPDATE,
    WAIT,
    WEIGHT,
    WRITE,
    BodyLines,
    ModuleCode,
)
from dialects.cisa_opcodes import (
    ACC,
    ALLOC,
    BARRIER,
    FREE,
    GEMM,
    INPUT,
    LOAD,
    OUTPUT,
    RECV,
    SEND,
)
from dialects.cisa_rules import (
    Machine,
    Violation,
    module_violations,
    program_violations,
    transfer_partners,
)
from fsedp_compiler.errors import FsedpError
from passes._plan import FsedpPass, Layer, read_layer

MAX_REPORTED = 8
# The abstract execution's units, each starting its instructions in program order, and how each
# instruction uses its buffers: all from the one table of instruction semantics.
UNITS = (DDR, D2D_SEND, ENGINE)
UNIT_OF = {op.code: UNITS.index(op.unit) for op in OPCODES if op.unit in UNITS}
ASYNC = {op.code for op in OPCODES if op.unit in (*UNITS, D2D_RECV, WAIT)}
READERS = {  # wait for the earlier writers of all their operands
    op.code
    for op in OPCODES
    if op.code in ASYNC and any(o.access in (READ, UPDATE) for o in op.operands)
}
WRITTEN = {  # the operand each one writes (a recv is tracked apart: its writer is the sender)
    op.code: k
    for op in OPCODES
    if op.unit in UNITS
    for k, o in enumerate(op.operands)
    if o.access in (WRITE, UPDATE)
}


def _digest(*key: object) -> int:
    text = ",".join(map(str, key)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class _Report:
    """Collects violations; raises them together (the first few) at `done()`. `places` says
    where each chiplet's program was in the text it was read from, if it was: the error then
    names the file, line and column of the first violation."""

    def __init__(self, code: ModuleCode, places: dict[int, BodyLines] | None = None) -> None:
        self.code = code
        self.places = places or {}
        self.lines: list[str] = []
        self.where: tuple[str, int, int] | None = None

    def at(self, gid: int, message: str) -> None:
        chiplet, index = self.code.locate(int(gid))
        self._locate(chiplet, index)
        self.add(f"chiplet {chiplet}, {self.code.describe(gid)}: {message}")

    def violation(self, violation: Violation) -> None:
        self._locate(violation.chiplet, violation.index)
        self.add(str(violation))

    def _locate(self, chiplet: int, index: int | None) -> None:
        place = self.places.get(chiplet)
        if not self.lines and place is not None:
            self.where = (place.source, *place.position(index))

    def add(self, message: str) -> None:
        self.lines.append(message)

    def done(self) -> None:
        if not self.lines:
            return
        shown = self.lines[:MAX_REPORTED]
        more = len(self.lines) - len(shown)
        if len(self.lines) == 1:
            text = f"verify-programs: {shown[0]}"
        else:
            listed = "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
            text = f"verify-programs: {len(self.lines)} violations:\n  {listed}"
        file, line, column = self.where if self.where else (None, None, None)
        raise FsedpError(text, file=file, line=line, column=column)


@dataclass(frozen=True)
class VerifyProgramsPass(FsedpPass):
    name = "verify-programs"
    reads_only = True

    deadlock: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        try:
            programs = programs_of(op)
        except ValueError as error:
            raise self.error(str(error)) from None
        if not programs:
            raise self.error("the module has no cisa.program; run lower-to-cisa first")
        code = ModuleCode.of(programs)
        report = _Report(code, _places(op))
        system = layer.system
        machine = Machine(system.num_chiplets, len(system.ddr))
        for chiplet, program in code.programs.items():
            for violation in program_violations(program, chiplet, machine):
                report.violation(violation)
        for violation in module_violations(code.programs, machine):
            report.violation(violation)
        _check_memory(layer, code, report)
        _check_against_layer(layer, code, report)
        _check_coverage(layer, code, report)
        report.done()
        if self.deadlock:
            partner = transfer_partners(code).tolist()
            pairs = {g: p for g, p in enumerate(partner) if p >= 0}
            _Execution(layer, code, pairs, report).run()
            report.done()


def _places(module: ModuleOp) -> dict[int, BodyLines]:
    """Per chiplet, where its program was in the text the module was read from (if it was)."""
    return {
        program.chiplet.value.data: BODY_LINES[program]
        for program in module.body.block.ops
        if isinstance(program, ProgramOp) and program in BODY_LINES
    }


# -- checks against the layer and the machine ------------------------------------------------
# The rules every program obeys are dialects/cisa_rules.py's; these need the MoE layer or the
# SRAM size. They read the lists of `ModuleCode` (indexed by gid), never xDSL ops.


def _check_memory(layer: Layer, code: ModuleCode, report: _Report) -> None:
    """Live bytes per chiplet, walking its program in order, never above `sram_bytes`."""
    sram = layer.system.sram_bytes.data
    ops = code.opcodes()
    gids = np.flatnonzero((ops == ALLOC) | (ops == FREE))
    size = np.asarray(code.buffer_bytes, dtype=np.int64)[code.bufs.column(gids, 0)]
    delta = np.where(ops[gids] == ALLOC, size, -size)
    chiplet = code.locate_all(gids)[0]
    cuts = np.flatnonzero(np.diff(chiplet)) + 1
    for part, change in zip(np.split(gids, cuts), np.split(delta, cuts), strict=True):
        live = np.cumsum(change)
        over = np.flatnonzero(live > sram)
        if len(over):
            k = int(over[0])
            message = f"live SRAM would reach {live[k]} B, more than the {sram} B of SRAM"
            report.at(int(part[k]), message)


def _token_extent(code: ModuleCode, lists: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Length, least and greatest token of each token list (0, 0, -1 when empty), each
    distinct list object measured once."""
    ids = np.fromiter(map(id, lists), dtype=np.uint64, count=len(lists))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    measured = [lists[k] for k in first.tolist()]
    length = np.array([len(t) if t else 0 for t in measured], dtype=np.int64)
    low = np.array([min(t) if t else 0 for t in measured], dtype=np.int64)
    high = np.array([max(t) if t else -1 for t in measured], dtype=np.int64)
    inverse = inverse.ravel()
    return length[inverse], low[inverse], high[inverse]


def _check_against_layer(layer: Layer, code: ModuleCode, report: _Report) -> None:
    """Loads and gemms name experts, slices and tokens of the layer, with its bytes and ops.
    Array operations find the instructions to look at; `_layer_problem` says what is wrong."""
    experts, ffn = layer.experts + layer.shared, layer.ffn
    ops = code.opcodes()

    def rows(index, of):
        return index * ffn // np.maximum(of, 1), (index + 1) * ffn // np.maximum(of, 1)

    flagged = []
    g, nbytes, expert, index, of = code.fields(LOAD, "bytes", "expert", "slice", "of")
    lo, hi = rows(index, of)
    good = (index >= 0) & (index < of)
    wrong = (expert < 0) | (expert >= experts)
    wrong |= nbytes != 3 * layer.hidden * (hi - lo) * layer.weight_bytes
    flagged.append(g[good & wrong])
    g, expert, index, of, count = code.fields(GEMM, "expert", "slice", "of", "ops")
    length, _, high = _token_extent(code, code.tokens_at(g))
    lo, hi = rows(index, of)
    good = (index >= 0) & (index < of)
    wrong = (expert < 0) | (expert >= experts) | (high >= layer.tokens)
    wrong |= count != 2 * 3 * layer.hidden * (hi - lo) * length
    flagged.append(g[good & wrong])
    allocs = np.flatnonzero(ops == ALLOC)
    buffers = code.bufs.column(allocs, 0)
    acts = np.asarray(code.buffer_kind, dtype=np.int64)[buffers] == ACT
    _, _, high = _token_extent(code, [code.buffer_tokens[b] for b in buffers[acts].tolist()])
    flagged.append(allocs[acts][high >= layer.tokens])
    slice_rows, slice_bytes = cache(layer.slice_rows), cache(layer.slice_bytes)
    for g in np.sort(np.concatenate(flagged)).tolist():
        problem = _layer_problem(layer, code, g, slice_rows, slice_bytes)
        if problem:
            report.at(g, problem)


def _layer_problem(layer: Layer, code: ModuleCode, g: int, slice_rows, slice_bytes) -> str | None:
    experts, hidden = layer.experts + layer.shared, layer.hidden
    opcode = code.code[g]
    if opcode == LOAD:
        _, _, nbytes, expert, index, of = code.args[g]
        problem = _slice_problem(expert, index, of, experts)
        if problem is None and nbytes != slice_bytes(of, index):
            problem = f"loads {nbytes} B, but that slice is {slice_bytes(of, index)} B"
        return problem
    if opcode == GEMM:
        expert, index, of, ops = code.args[g]
        problem = _slice_problem(expert, index, of, experts)
        problem = problem or _token_problem(code.tokens[g], layer.tokens)
        if problem is None:
            lo, hi = slice_rows(of, index)
            expected = 2 * 3 * hidden * (hi - lo) * len(code.tokens[g])
            if ops != expected:
                problem = f"counts {ops} ops, but the slice on those tokens is {expected}"
        return problem
    return _token_problem(code.buffer_tokens[code.bufs[g][0]], layer.tokens)


def _slice_problem(expert: int, index: int, of: int, experts: int) -> str | None:
    if not 0 <= expert < experts:
        return f"expert {expert} is not one of the {experts} experts"
    return None


def _bad_slice(index: int, of: int) -> bool:
    """A slice the rules reject (`of` not positive, `slice` out of range): checked no further."""
    return not 0 <= index < of


def _token_problem(held, tokens: int) -> str | None:
    """A token beyond the layer's (negative ones are the rules' to report)."""
    wrong = [t for t in held if t >= tokens]
    return f"token {wrong[0]} does not exist ({tokens} tokens)" if wrong else None


def _check_coverage(layer: Layer, code: ModuleCode, report: _Report) -> None:  # noqa: C901
    tokens = layer.tokens
    args = code.args
    uses = np.zeros((layer.experts + layer.shared, tokens), dtype=bool)
    for expert in layer.used_experts:
        uses[expert, layer.expert_tokens(expert)] = True
    first_gemm: dict[int, int] = {}
    gemms: dict[int, list[int]] = {}  # expert -> its gemms that count
    experts = layer.experts + layer.shared
    g, expert, index, of = code.fields(GEMM, "expert", "slice", "of")
    _, low, high = _token_extent(code, code.tokens_at(g))
    # what the rules or _check_against_layer report is not counted
    counts = (index >= 0) & (index < of) & (expert >= 0) & (expert < experts)
    counts &= (high < tokens) & (low >= 0)
    g, expert, of = g[counts], expert[counts], of[counts]
    experts_used, first = np.unique(expert, return_index=True)
    first_of = dict(zip(experts_used.tolist(), of[first].tolist(), strict=True))
    first_gemm = dict(zip(experts_used.tolist(), g[first].tolist(), strict=True))
    cut = of != np.asarray([first_of[e] for e in expert.tolist()], dtype=np.int64)
    for k in np.flatnonzero(cut).tolist():
        e, first = int(expert[k]), first_gemm[int(expert[k])]
        report.at(
            int(g[k]),
            f"cuts expert {e} into {of[k]} slices, but "
            f"chiplet {code.locate(first)[0]}, {code.describe(first)} into {first_of[e]}",
        )
    order = np.argsort(expert[~cut], kind="stable")
    kept, kept_expert = g[~cut][order], expert[~cut][order]
    bounds = np.searchsorted(kept_expert, experts_used)
    ends = np.append(bounds[1:], len(kept))[: len(bounds)]
    for e, lo, hi in zip(experts_used.tolist(), bounds.tolist(), ends.tolist(), strict=True):
        gemms[e] = kept[lo:hi].tolist()
    for expert in range(layer.experts + layer.shared):
        name = layer.expert_name(expert)
        needed = np.nonzero(uses[expert])[0]
        if expert not in gemms:
            if needed.size:
                report.add(f"token {needed[0]} uses {name}, but no gemm computes {name}")
            continue
        table = _slice_counts(code, gemms[expert], tokens, args[first_gemm[expert]][2])
        extra = np.argwhere(table[~uses[expert]] > 0)
        if extra.size:
            token = int(np.nonzero(~uses[expert])[0][extra[0][0]])
            g = _gemm_covering(code, gemms[expert], token, int(extra[0][1]))
            report.at(g, f"applies {name} to token {token}, which does not use it")
        wrong = np.argwhere(table[needed] != 1)
        if wrong.size:
            token, index = int(needed[wrong[0][0]]), int(wrong[0][1])
            count = int(table[token, index])
            of = table.shape[1]
            if count == 0:
                report.add(f"token {token}: no gemm applies slice {index} of {of} of {name}")
            else:
                g = _gemm_covering(code, gemms[expert], token, index)
                report.at(g, f"token {token} gets slice {index} of {of} of {name} {count} times")
    outputs = np.zeros(tokens, dtype=np.int32)
    for g in code.gids(OUTPUT):
        rows = np.asarray(code.buffer_tokens[code.bufs[g][0]], dtype=np.int64)
        outputs[rows[(rows >= 0) & (rows < tokens)]] += 1
    bad = np.nonzero(outputs != 1)[0]
    if bad.size:
        token = int(bad[0])
        report.add(f"token {token} is output {int(outputs[token])} times (must be exactly once)")


def _slice_counts(code: ModuleCode, gemms: list[int], tokens: int, of: int) -> np.ndarray:
    """How many gemms apply each (token, slice): one array operation for all of an expert's
    gemms."""
    args = code.args
    rows = code.tokens_at(gemms)
    table = np.zeros((tokens, of), dtype=np.int32)
    token_ids = np.fromiter(chain.from_iterable(rows), dtype=np.int64)
    slices = np.repeat(args.column(np.asarray(gemms, dtype=np.int64), 1), [len(r) for r in rows])
    np.add.at(table, (token_ids, slices), 1)
    return table


def _gemm_covering(code: ModuleCode, gemms: list[int], token: int, index: int) -> int:
    return next(g for g in gemms if code.args[g][1] == index and token in code.tokens[g])


# -- abstract execution ---------------------------------------------------------------------


class _Execution:
    """Untimed execution of all programs as a dependency graph, processed in Kahn order.

    Node 2·g is "instruction g issued", node 2·g+1 "instruction g finished".
    """

    def __init__(self, layer: Layer, programs: ModuleCode, pairs: dict[int, int], report):
        self.layer = layer
        self.programs = programs
        self.pairs = pairs
        self.report = report
        self.preds: list[list[int]] = [[] for _ in range(2 * len(programs.code))]
        self._build()

    def _build(self) -> None:  # noqa: C901 - one pass over every instruction
        p = self.programs
        preds, pairs = self.preds, self.pairs
        opcode, bufs, args = p.code, p.bufs, p.args
        channel_last = {(args[g][0], args[g][1]): g for g in p.gids(LOAD)}
        barriers: dict[int, list[int]] = defaultdict(list)  # k -> gid of each barrier k
        for chiplet in p.chiplets:
            unit_last = [-1] * len(UNITS)  # per unit: its last instruction so far
            # per buffer: the last writer on each unit, the recvs into it, the last use on each
            # unit, and the uses outside any unit (recv, output); finished nodes (2·g+1) all
            writers: dict[int, dict[int, int]] = defaultdict(dict)
            recv_writers: dict[int, list[int]] = defaultdict(list)
            uses: dict[int, dict[int, int]] = defaultdict(dict)
            other_uses: dict[int, list[int]] = defaultdict(list)
            count = 0
            for g in p.spans[chiplet]:
                code = opcode[g]
                issue = 2 * g
                issue_after, done_after = preds[issue], preds[issue + 1]
                if g != p.spans[chiplet].start:
                    issue_after.append(issue - 2)
                done_after.append(issue)
                if code == FREE:
                    buf = bufs[g][0]
                    for u in (*uses[buf].values(), *other_uses[buf]):
                        issue_after.append(2 * u + 1)
                elif code == BARRIER:
                    barriers[count].append(g)
                    count += 1
                if code not in ASYNC:
                    continue
                unit = UNIT_OF.get(code)
                if unit is not None:
                    if unit_last[unit] >= 0:
                        done_after.append(2 * unit_last[unit] + 1)
                    unit_last[unit] = g
                if code in READERS:
                    for buf in bufs[g]:
                        for w in (*writers[buf].values(), *recv_writers[buf]):
                            done_after.append(2 * w + 1)
                if code == LOAD:
                    previous = channel_last.get((args[g][0], args[g][1] - 1))
                    if previous is not None:
                        done_after.append(2 * previous + 1)
                elif code == SEND and g in pairs:
                    done_after.append(2 * pairs[g])
                elif code == RECV and g in pairs:
                    done_after.append(2 * pairs[g] + 1)
                if code == RECV:
                    recv_writers[bufs[g][0]].append(g)
                elif code in WRITTEN:
                    writers[bufs[g][WRITTEN[code]]][unit] = g
                for buf in bufs[g]:
                    if unit is None:
                        other_uses[buf].append(g)
                    else:
                        uses[buf][unit] = g
        firsts = {span.start for span in p.spans.values()}  # no instruction issued before
        for gids in barriers.values():
            arrivals = [2 * g - 2 for g in gids if g not in firsts]
            for g in gids:
                preds[2 * g].extend(a for a in arrivals if a != 2 * g - 2)

    def run(self) -> None:
        """Kahn's algorithm, first in first out; then the data checks replay the finished
        instructions in the order they finished (what a buffer holds depends on it)."""
        preds = self.preds
        succs: list[list[int]] = [[] for _ in preds]
        for node, before in enumerate(preds):
            for p in before:
                succs[p].append(node)
        waiting = list(map(len, preds))
        ready = deque(node for node, n in enumerate(waiting) if n == 0)
        processed = bytearray(len(preds))
        finished: list[int] = []
        popleft, append = ready.popleft, ready.append
        while ready:
            node = popleft()
            processed[node] = 1
            if node & 1:
                finished.append(node >> 1)
            for nxt in succs[node]:
                waiting[nxt] -= 1
                if not waiting[nxt]:
                    append(nxt)
        self.data = _Data(self.layer, self.programs, self.pairs, self.report)
        self.data.replay(finished)
        if not all(processed):
            self._explain(processed)

    def _explain(self, processed: bytearray) -> None:
        p = self.programs
        lines = []
        for chiplet in p.chiplets:
            span = p.spans[chiplet]
            stuck = next((g for g in span if not processed[2 * g]), None)
            verb = "is blocked at"
            if stuck is None:
                stuck = next((g for g in span if not processed[2 * g + 1]), None)
                verb = "cannot finish"
            if stuck is None:
                continue
            node = 2 * stuck + (verb == "cannot finish")
            lines.append(
                f"chiplet {chiplet} {verb} {p.describe(stuck)}: {self._chain(node, processed)}"
            )
        self.report.add("the programs deadlock:\n    " + "\n    ".join(lines))

    def _chain(self, node: int, processed: bytearray) -> str:
        """What `node` waits for, followed on its own chiplet until another chiplet is involved."""
        p = self.programs
        chiplet = p.locate(node >> 1)[0]
        waits = []
        for _ in range(8):
            blocker = next(b for b in self.preds[node] if not processed[b])
            other = blocker >> 1
            event = "finish" if blocker & 1 else "be issued"
            elsewhere = p.locate(other)[0]
            where = "" if elsewhere == chiplet else f"chiplet {elsewhere}'s "
            waits.append(f"{where}{p.describe(other)} to {event}")
            if elsewhere != chiplet or not blocker & 1:
                break
            node = blocker
        return "waits for " + ", which waits for ".join(waits)


class _Data:
    """What every buffer holds during the execution, as checksums of partial products."""

    def __init__(self, layer: Layer, programs: ModuleCode, pairs: dict[int, int], report):
        self.layer = layer
        self.programs = programs
        self.pairs = pairs
        self.report = report
        self.weights: dict[int, tuple[int, int, int]] = {}
        self.rows: dict[int, dict[int, int]] = {}
        self.payload: dict[int, object] = {}
        self.products: dict[tuple[int, int, int], int] = {}
        self.inputs: dict[int, int] = {}
        slices = {programs.args[g][0]: programs.args[g][2] for g in programs.gids(GEMM)}
        # what the dense output of a token adds up, expert by expert: all slices of the expert
        self.full = {
            e: sum(self._product(e, s, slices.get(e, 1)) for s in range(slices.get(e, 1)))
            for e in range(layer.experts + layer.shared)
        }

    def _product(self, expert: int, index: int, of: int) -> int:
        key = (expert, index, of)
        value = self.products.get(key)
        if value is None:
            value = self.products[key] = _digest("slice", *key)
        return value

    def _input(self, token: int) -> int:
        value = self.inputs.get(token)
        if value is None:
            value = self.inputs[token] = _digest("input", token)
        return value

    def replay(self, finished: list[int]) -> None:  # noqa: C901 - one loop over instructions
        """Apply what each finished instruction does to the buffers, in order."""
        p = self.programs
        opcode, bufs, args, tokens = p.code, p.bufs, p.args, p.tokens
        kind, held_tokens = p.buffer_kind, p.buffer_tokens
        weights, rows, payload = self.weights, self.rows, self.payload
        for g in finished:
            code = opcode[g]
            if code == GEMM:
                self._gemm(g)
            elif code == ALLOC:
                buf = bufs[g][0]
                if kind[buf] == ACT:
                    rows[buf] = dict.fromkeys(held_tokens[buf], 0)
            elif code == INPUT:
                buf = bufs[g][0]
                rows[buf] = {t: self._input(t) for t in held_tokens[buf]}
            elif code == LOAD:  # channel, seq, bytes, expert, slice, of
                weights[bufs[g][0]] = args[g][3:6]
            elif code == SEND:
                buf = bufs[g][0]
                payload[g] = weights.get(buf) if kind[buf] == WEIGHT else dict(rows[buf])
            elif code == RECV:
                buf = bufs[g][0]
                held = payload.get(self.pairs[g])
                if kind[buf] == WEIGHT:
                    if held is not None:
                        weights[buf] = held
                else:
                    rows[buf] = dict(held)
            elif code == ACC:
                source, target = rows[bufs[g][0]], rows[bufs[g][1]]
                for token in tokens[g]:
                    target[token] += source[token]
            elif code == OUTPUT:
                self._output(g)

    def _gemm(self, g: int) -> None:
        p = self.programs
        want = p.args[g][:3]  # expert, slice, of
        w, x, y = p.bufs[g]
        held = self.weights.get(w)
        if held != want:
            what = "no weights" if held is None else "expert {} slice {} of {}".format(*held)
            self.report.at(g, f"its weight buffer holds {what}")
            return
        inputs, outputs = self.rows[x], self.rows[y]
        product = self._product(*want)
        known = self.inputs
        for token in p.tokens[g]:
            if inputs[token] != (known.get(token) or self._input(token)):
                self.report.at(g, f"the row of token {token} in its input is not the layer input")
                return
            outputs[token] += product

    def _output(self, g: int) -> None:
        layer = self.layer
        for token, value in self.rows[self.programs.bufs[g][0]].items():
            if token >= layer.tokens:
                continue
            if value != sum(self.full[e] for e in layer.experts_of_token(token)):
                self.report.at(
                    g,
                    f"the output of token {token} is not the dense MoE output (partial products "
                    "missing, repeated or from other tokens)",
                )
                return
