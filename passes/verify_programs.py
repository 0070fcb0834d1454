"""`verify-programs{deadlock=true|false}`: static verification of the lowered cisa programs.

Run at the end of every named pipeline, and on its own on any module holding `cisa.program`s
next to its `moe.layer` and `chiplet.system`. It needs nothing from the plan. It checks:

1. coverage: for every token t and every expert e it uses (its routed experts and all shared
   experts), each slice of e is applied to t by exactly one `gemm`, and no gemm applies an
   expert to a token that does not use it; every token is `output` exactly once;
2. transfers: every `send` has exactly one matching `recv` (same source, destination and tag) of
   the same bytes, act transfers between buffers of equal token lists; every DDR channel's
   `seq` numbers are 0, 1, 2, ... each used once; loads and gemms name an existing expert, slice
   (0 <= slice < of) and tokens, and carry the bytes and ops their slice implies; every program
   has the same number of barriers, and nothing after its `cisa.end`;
3. SRAM: walking each program in order, the bytes of its live buffers never exceed `sram_bytes`,
   and no buffer is used after its `free`;
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
verify-programs: chiplet 1, instruction 7 (cisa.alloc weight bytes 192): live SRAM would
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

from dialects.cisa_flat import MNEMONIC
from dialects.cisa_opcodes import (
    ACC,
    ALLOC,
    BARRIER,
    END,
    FREE,
    GEMM,
    INPUT,
    LOAD,
    OUTPUT,
    RECV,
    SEND,
)
from fsedp_compiler.errors import FsedpError
from passes._plan import FsedpPass, Layer, read_layer
from passes._programs import Programs, flatten

MAX_REPORTED = 8
UNITS = ("ddr", "d2d", "mxu")  # the units that start their instructions in program order
UNIT_OF = {LOAD: 0, SEND: 1, GEMM: 2, ACC: 2}
ASYNC = {LOAD, SEND, RECV, GEMM, ACC, OUTPUT}
READERS = {SEND, OUTPUT, GEMM, ACC}  # wait for earlier writers of all operands
WRITTEN = {LOAD: 0, GEMM: 2, ACC: 1}  # operand each one writes (recv: its buffer)


def _digest(*key: object) -> int:
    text = ",".join(map(str, key)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class _Report:
    """Collects violations; raises them together (the first few) at `done()`."""

    def __init__(self, programs: Programs) -> None:
        self.programs = programs
        self.lines: list[str] = []

    def at(self, gid: int, message: str) -> None:
        p = self.programs
        self.add(f"chiplet {p.chiplet[gid]}, {p.describe(gid)}: {message}")

    def add(self, message: str) -> None:
        self.lines.append(message)

    def done(self) -> None:
        if not self.lines:
            return
        shown = self.lines[:MAX_REPORTED]
        more = len(self.lines) - len(shown)
        if len(self.lines) == 1:
            raise FsedpError(f"verify-programs: {shown[0]}")
        text = "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
        raise FsedpError(f"verify-programs: {len(self.lines)} violations:\n  {text}")


@dataclass(frozen=True)
class VerifyProgramsPass(FsedpPass):
    name = "verify-programs"
    reads_only = True

    deadlock: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        programs = flatten(op)
        if not programs.chiplets:
            raise self.error("the module has no cisa.program; run lower-to-cisa first")
        report = _Report(programs)
        for chiplet in programs.chiplets:
            if chiplet >= layer.chiplets:
                report.add(f"a program for chiplet {chiplet}, which is not on the mesh")
        report.done()
        _check_memory(layer, programs, report)
        _check_instructions(layer, programs, report)
        pairs = _check_transfers(programs, report)
        _check_channels(programs, report)
        _check_barriers(programs, report)
        _check_ends(programs, report)
        _check_coverage(layer, programs, report)
        report.done()
        if self.deadlock:
            _Execution(layer, programs, pairs, report).run()
            report.done()


# -- static checks ----------------------------------------------------------------------------
# They read the instruction lists of `Programs` (indexed by gid), never xDSL ops.


def _check_memory(layer: Layer, programs: Programs, report: _Report) -> None:
    sram = layer.system.sram_bytes.data
    size = [buffer.bytes for buffer in programs.buffers]
    opcode, bufs = programs.opcode, programs.bufs
    for chiplet in programs.chiplets:
        live = 0
        freed: dict[int, int] = {}
        for g in programs.spans[chiplet]:
            for buf in bufs[g]:
                if buf in freed:
                    report.at(g, f"uses a buffer freed at instruction {freed[buf]}")
            code = opcode[g]
            if code == ALLOC:
                live += size[bufs[g][0]]
                if live > sram:
                    report.at(g, f"live SRAM would reach {live} B, more than the {sram} B of SRAM")
                    break
            elif code == FREE:
                buf = bufs[g][0]
                if buf not in freed:
                    freed[buf] = programs.index[g]
                    live -= size[buf]


def _check_instructions(layer: Layer, programs: Programs, report: _Report) -> None:  # noqa: C901
    buffers = programs.buffers
    weight = [buffer.weight for buffer in buffers]
    held = cache(lambda buf: frozenset(buffers[buf].tokens))  # the tokens of an act buffer
    slice_rows, slice_bytes = cache(layer.slice_rows), cache(layer.slice_bytes)
    experts, hidden = layer.experts + layer.shared, layer.hidden
    opcode, bufs, args, tokens = programs.opcode, programs.bufs, programs.args, programs.tokens

    def check_rows(g: int, roles: tuple[tuple[str, int], ...]) -> None:
        for role, buf in roles:
            if not held(buf).issuperset(tokens[g]):
                missing = set(tokens[g]) - held(buf)
                report.at(g, f"token {min(missing)} is not in its {role} buffer")

    for g, code in enumerate(opcode):
        if code == LOAD:
            _, _, nbytes, expert, index, of = args[g]
            problem = _slice_problem(expert, index, of, experts)
            if problem:
                report.at(g, problem)
                continue
            expected = slice_bytes(of, index)
            buf = bufs[g][0]
            if not weight[buf]:
                report.at(g, "loads into an act buffer")
            elif nbytes != expected:
                report.at(g, f"loads {nbytes} B, but that slice is {expected} B")
            elif buffers[buf].bytes < expected:
                report.at(g, f"its buffer holds {buffers[buf].bytes} B < {expected} B")
        elif code == GEMM:
            expert, index, of, ops = args[g]
            problem = _slice_problem(expert, index, of, experts) or _token_problem(
                tokens[g], layer.tokens
            )
            if problem:
                report.at(g, problem)
                continue
            if [weight[b] for b in bufs[g]] != [True, False, False]:
                report.at(g, "needs a weight buffer then two act buffers")
                continue
            lo, hi = slice_rows(of, index)
            expected = 2 * 3 * hidden * (hi - lo) * len(tokens[g])
            if ops != expected:
                report.at(g, f"counts {ops} ops, but the slice on those tokens is {expected}")
            check_rows(g, (("input", bufs[g][1]), ("output", bufs[g][2])))
        elif code == ACC:
            if any(weight[b] for b in bufs[g]):
                report.at(g, "accumulates weight buffers")
                continue
            check_rows(g, (("source", bufs[g][0]), ("destination", bufs[g][1])))
        elif (code == INPUT or code == OUTPUT) and weight[bufs[g][0]]:
            report.at(g, f"{MNEMONIC[code]} of a weight buffer")


def _slice_problem(expert: int, index: int, of: int, experts: int) -> str | None:
    """What is wrong with a load's or gemm's slice fields (xDSL's verifier checks them too,
    but this pass also runs on modules that were not verified)."""
    if not 0 <= expert < experts:
        return f"expert {expert} is not one of the {experts} experts"
    if not 0 <= index < of:
        return f"slice {index} of {of} does not exist (needs 0 <= slice < of)"
    return None


def _token_problem(held: tuple[int, ...], tokens: int) -> str | None:
    wrong = [t for t in held if not 0 <= t < tokens]
    return f"token {wrong[0]} does not exist ({tokens} tokens)" if wrong else None


def _check_transfers(programs: Programs, report: _Report) -> dict[int, int]:
    """Pair sends with recvs; returns the partner of each paired instruction, by gid."""
    chiplet, args = programs.chiplet, programs.args
    sends: dict[tuple[int, int, int], int] = {}
    recvs: dict[tuple[int, int, int], int] = {}
    for g, code in enumerate(programs.opcode):
        if code == SEND:  # to, tag, bytes
            key, table = (chiplet[g], args[g][0], args[g][1]), sends
        elif code == RECV:  # from, tag, bytes
            key, table = (args[g][0], chiplet[g], args[g][1]), recvs
        else:
            continue
        if key in table:
            other = table[key]
            report.at(g, f"reuses the tag of chiplet {chiplet[other]}, {programs.describe(other)}")
        else:
            table[key] = g
    pairs: dict[int, int] = {}
    buffers = programs.buffers
    for key, send in sends.items():
        recv = recvs.get(key)
        if recv is None:
            report.at(send, f"no recv on chiplet {key[1]} matches it (from {key[0]} tag {key[2]})")
            continue
        pairs[send], pairs[recv] = recv, send
        src, dst = buffers[programs.bufs[send][0]], buffers[programs.bufs[recv][0]]
        sent, received = args[send][2], args[recv][2]
        if sent != received:
            report.at(
                send,
                f"sends {sent} B but chiplet {chiplet[recv]}, {programs.describe(recv)} "
                f"receives {received} B",
            )
        elif src.weight != dst.weight:
            report.at(send, f"sends a {_kind(src)} buffer into a {_kind(dst)} buffer")
        elif not src.weight and src.tokens != dst.tokens:
            report.at(send, f"its buffer's tokens differ from those of chiplet {chiplet[recv]}'s")
        elif sent > min(src.bytes, dst.bytes):
            report.at(send, f"moves {sent} B, more than its buffers hold")
    for key, recv in recvs.items():
        if key not in sends:
            report.at(recv, f"no send on chiplet {key[0]} matches it (to {key[1]} tag {key[2]})")
    return pairs


def _kind(buffer) -> str:
    return "weight" if buffer.weight else "act"


def _check_channels(programs: Programs, report: _Report) -> None:
    by_channel: dict[int, dict[int, int]] = defaultdict(dict)
    for g in programs.gids(LOAD):
        channel, seq = programs.args[g][:2]
        seqs = by_channel[channel]
        if seq in seqs:
            other = seqs[seq]
            report.at(
                g,
                f"seq {seq} is also used by chiplet {programs.chiplet[other]}, "
                f"{programs.describe(other)}",
            )
        seqs[seq] = g
    for channel, seqs in sorted(by_channel.items()):
        missing = sorted(set(range(len(seqs))) - set(seqs))
        if missing:
            report.add(f"DDR channel {channel} has no load with seq {missing[0]}")


def _check_barriers(programs: Programs, report: _Report) -> None:
    counts = {
        c: programs.opcode[span.start : span.stop].count(BARRIER)
        for c, span in programs.spans.items()
    }
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"chiplet {c}: {n}" for c, n in counts.items())
        report.add(f"programs have different numbers of barriers ({shown})")


def _check_ends(programs: Programs, report: _Report) -> None:
    chiplet = programs.chiplet
    for g in programs.gids(END):
        if g + 1 < len(chiplet) and chiplet[g + 1] == chiplet[g]:
            report.at(g + 1, "comes after the program's cisa.end")


def _check_coverage(layer: Layer, programs: Programs, report: _Report) -> None:  # noqa: C901
    tokens = layer.tokens
    args, held = programs.args, programs.tokens
    uses = np.zeros((layer.experts + layer.shared, tokens), dtype=bool)
    for expert in layer.used_experts:
        uses[expert, layer.expert_tokens(expert)] = True
    first_gemm: dict[int, int] = {}
    gemms: dict[int, list[int]] = {}  # expert -> its gemms that count
    experts = layer.experts + layer.shared
    for g in programs.gids(GEMM):
        expert, index, of, _ = args[g]
        if _slice_problem(expert, index, of, experts) or _token_problem(held[g], tokens):
            continue  # reported by _check_instructions
        first = first_gemm.setdefault(expert, g)
        if args[first][2] != of:
            report.at(
                g,
                f"cuts expert {expert} into {of} slices, but "
                f"chiplet {programs.chiplet[first]}, {programs.describe(first)} into "
                f"{args[first][2]}",
            )
            continue
        gemms.setdefault(expert, []).append(g)
    for expert in range(layer.experts + layer.shared):
        name = layer.expert_name(expert)
        needed = np.nonzero(uses[expert])[0]
        if expert not in gemms:
            if needed.size:
                report.add(f"token {needed[0]} uses {name}, but no gemm computes {name}")
            continue
        table = _slice_counts(programs, gemms[expert], tokens, args[first_gemm[expert]][2])
        extra = np.argwhere(table[~uses[expert]] > 0)
        if extra.size:
            token = int(np.nonzero(~uses[expert])[0][extra[0][0]])
            g = _gemm_covering(programs, gemms[expert], token, int(extra[0][1]))
            report.at(g, f"applies {name} to token {token}, which does not use it")
        wrong = np.argwhere(table[needed] != 1)
        if wrong.size:
            token, index = int(needed[wrong[0][0]]), int(wrong[0][1])
            count = int(table[token, index])
            of = table.shape[1]
            if count == 0:
                report.add(f"token {token}: no gemm applies slice {index} of {of} of {name}")
            else:
                g = _gemm_covering(programs, gemms[expert], token, index)
                report.at(g, f"token {token} gets slice {index} of {of} of {name} {count} times")
    outputs = np.zeros(tokens, dtype=np.int32)
    for g in programs.gids(OUTPUT):
        rows = np.asarray(programs.buffers[programs.bufs[g][0]].tokens, dtype=np.int64)
        outputs[rows[(rows >= 0) & (rows < tokens)]] += 1
    bad = np.nonzero(outputs != 1)[0]
    if bad.size:
        token = int(bad[0])
        report.add(f"token {token} is output {int(outputs[token])} times (must be exactly once)")


def _slice_counts(programs: Programs, gemms: list[int], tokens: int, of: int) -> np.ndarray:
    """How many gemms apply each (token, slice): one array operation for all of an expert's
    gemms (a token listed twice in one gemm counts once, as the gemm applies it once)."""
    args, held = programs.args, programs.tokens
    rows = [held[g] if len(set(held[g])) == len(held[g]) else tuple(set(held[g])) for g in gemms]
    table = np.zeros((tokens, of), dtype=np.int32)
    token_ids = np.fromiter(chain.from_iterable(rows), dtype=np.int64)
    slices = np.repeat([args[g][1] for g in gemms], [len(r) for r in rows])
    np.add.at(table, (token_ids, slices), 1)
    return table


def _gemm_covering(programs: Programs, gemms: list[int], token: int, index: int) -> int:
    return next(g for g in gemms if programs.args[g][1] == index and token in programs.tokens[g])


# -- abstract execution ---------------------------------------------------------------------


class _Execution:
    """Untimed execution of all programs as a dependency graph, processed in Kahn order.

    Node 2·g is "instruction g issued", node 2·g+1 "instruction g finished".
    """

    def __init__(self, layer: Layer, programs: Programs, pairs: dict[int, int], report):
        self.layer = layer
        self.programs = programs
        self.pairs = pairs
        self.report = report
        self.preds: list[list[int]] = [[] for _ in range(2 * len(programs.opcode))]
        self._build()

    def _build(self) -> None:  # noqa: C901 - one pass over every instruction
        p = self.programs
        preds, pairs = self.preds, self.pairs
        opcode, bufs, args, index = p.opcode, p.bufs, p.args, p.index
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
                if index[g]:
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
        for gids in barriers.values():
            arrivals = [2 * g - 2 for g in gids if index[g]]
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
        chiplet = p.chiplet[node >> 1]
        waits = []
        for _ in range(8):
            blocker = next(b for b in self.preds[node] if not processed[b])
            other = blocker >> 1
            event = "finish" if blocker & 1 else "be issued"
            where = "" if p.chiplet[other] == chiplet else f"chiplet {p.chiplet[other]}'s "
            waits.append(f"{where}{p.describe(other)} to {event}")
            if p.chiplet[other] != chiplet or not blocker & 1:
                break
            node = blocker
        return "waits for " + ", which waits for ".join(waits)


class _Data:
    """What every buffer holds during the execution, as checksums of partial products."""

    def __init__(self, layer: Layer, programs: Programs, pairs: dict[int, int], report):
        self.layer = layer
        self.programs = programs
        self.buffers = programs.buffers
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
        opcode, bufs, args, tokens = p.opcode, p.bufs, p.args, p.tokens
        buffers, weights, rows, payload = self.buffers, self.weights, self.rows, self.payload
        for g in finished:
            code = opcode[g]
            if code == GEMM:
                self._gemm(g)
            elif code == ALLOC:
                buffer = buffers[bufs[g][0]]
                if not buffer.weight:
                    rows[buffer.id] = dict.fromkeys(buffer.tokens, 0)
            elif code == INPUT:
                buf = bufs[g][0]
                rows[buf] = {t: self._input(t) for t in buffers[buf].tokens}
            elif code == LOAD:  # channel, seq, bytes, expert, slice, of
                weights[bufs[g][0]] = args[g][3:6]
            elif code == SEND:
                buf = bufs[g][0]
                payload[g] = weights.get(buf) if buffers[buf].weight else dict(rows[buf])
            elif code == RECV:
                buf = bufs[g][0]
                held = payload.get(self.pairs[g])
                if buffers[buf].weight:
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
