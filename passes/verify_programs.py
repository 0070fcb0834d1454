"""`verify-programs{deadlock=true|false}`: static verification of the lowered cisa programs.

Run at the end of every named pipeline, and on its own on any module holding `cisa.program`s
next to its `moe.layer` and `chiplet.system`. It needs nothing from the plan. It checks:

1. coverage: for every token t and every expert e it uses (its routed experts and all shared
   experts), each slice of e is applied to t by exactly one `gemm`, and no gemm applies an
   expert to a token that does not use it; every token is `output` exactly once;
2. transfers: every `send` has exactly one matching `recv` (same source, destination and tag) of
   the same bytes, act transfers between buffers of equal token lists; every DDR channel's
   `seq` numbers are 0, 1, 2, ... each used once; loads and gemms carry the bytes and ops their
   slice implies; every program has the same number of barriers;
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

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from fsedp_compiler.errors import FsedpError
from passes._plan import FsedpPass, Layer, read_layer
from passes._programs import Instr, Programs, flatten

MAX_REPORTED = 8
UNIT_OF = {"load": "ddr", "send": "d2d", "gemm": "mxu", "accumulate": "mxu"}
ASYNC = {"load", "send", "recv", "gemm", "accumulate", "output"}
READERS = {"send", "output", "gemm", "accumulate"}  # wait for earlier writers of all operands
WRITTEN = {"load": 0, "gemm": 2, "accumulate": 1}  # operand each one writes (recv: its buffer)


def _digest(*key: object) -> int:
    text = ",".join(map(str, key)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class _Report:
    """Collects violations; raises them together (the first few) at `done()`."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def at(self, ins: Instr, message: str) -> None:
        self.add(f"chiplet {ins.chiplet}, {ins.describe()}: {message}")

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

    deadlock: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        programs = flatten(op)
        if not programs.chiplets:
            raise self.error("the module has no cisa.program; run lower-to-cisa first")
        report = _Report()
        for chiplet in programs.chiplets:
            if chiplet >= layer.chiplets:
                report.add(f"a program for chiplet {chiplet}, which is not on the mesh")
        report.done()
        _check_memory(layer, programs, report)
        _check_instructions(layer, programs, report)
        pairs = _check_transfers(layer, programs, report)
        _check_channels(programs, report)
        _check_barriers(programs, report)
        _check_coverage(layer, programs, report)
        report.done()
        if self.deadlock:
            _Execution(layer, programs, pairs, report).run()
            report.done()


# -- static checks ----------------------------------------------------------------------------


def _check_memory(layer: Layer, programs: Programs, report: _Report) -> None:
    sram = layer.system.sram_bytes.data
    buffers = programs.buffers
    for chiplet in programs.chiplets:
        live = 0
        freed: dict[int, int] = {}
        for ins in programs.code[chiplet]:
            for buf in ins.bufs:
                if buf in freed:
                    report.at(ins, f"uses a buffer freed at instruction {freed[buf]}")
            if ins.kind == "alloc":
                live += buffers[ins.bufs[0]].bytes
                if live > sram:
                    report.at(
                        ins, f"live SRAM would reach {live} B, more than the {sram} B of SRAM"
                    )
                    break
            elif ins.kind == "free":
                buf = ins.bufs[0]
                if buf not in freed:
                    freed[buf] = ins.index
                    live -= buffers[buf].bytes


def _check_instructions(layer: Layer, programs: Programs, report: _Report) -> None:
    buffers = programs.buffers
    experts = layer.experts + layer.shared
    for ins in programs.instructions:
        p = ins.props
        kinds = [buffers[b].weight for b in ins.bufs]
        if ins.kind in ("load", "gemm") and not 0 <= p["expert"] < experts:
            report.at(ins, f"expert {p['expert']} is not one of the {experts} experts")
            continue
        if ins.kind == "load":
            expected = layer.slice_bytes(p["of"], p["slice"])
            if not kinds[0]:
                report.at(ins, "loads into an act buffer")
            elif p["bytes"] != expected:
                report.at(ins, f"loads {p['bytes']} B, but that slice is {expected} B")
            elif buffers[ins.bufs[0]].bytes < expected:
                report.at(ins, f"its buffer holds {buffers[ins.bufs[0]].bytes} B < {expected} B")
        elif ins.kind == "gemm":
            if kinds != [True, False, False]:
                report.at(ins, "needs a weight buffer then two act buffers")
                continue
            lo, hi = layer.slice_rows(p["of"], p["slice"])
            expected = 2 * 3 * layer.hidden * (hi - lo) * len(p["tokens"])
            if p["ops"] != expected:
                report.at(
                    ins, f"counts {p['ops']} ops, but the slice on those tokens is {expected}"
                )
            for role, buf in (("input", ins.bufs[1]), ("output", ins.bufs[2])):
                missing = set(p["tokens"]) - set(buffers[buf].tokens)
                if missing:
                    report.at(ins, f"token {min(missing)} is not in its {role} buffer")
        elif ins.kind == "accumulate":
            if any(kinds):
                report.at(ins, "accumulates weight buffers")
                continue
            for role, buf in (("source", ins.bufs[0]), ("destination", ins.bufs[1])):
                missing = set(p["tokens"]) - set(buffers[buf].tokens)
                if missing:
                    report.at(ins, f"token {min(missing)} is not in its {role} buffer")
        elif ins.kind in ("input", "output") and kinds[0]:
            report.at(ins, f"{ins.kind} of a weight buffer")


def _check_transfers(layer: Layer, programs: Programs, report: _Report) -> dict[int, Instr]:
    """Pair sends with recvs; returns both directions keyed by gid."""
    sends: dict[tuple[int, int, int], Instr] = {}
    recvs: dict[tuple[int, int, int], Instr] = {}
    for ins in programs.instructions:
        if ins.kind == "send":
            key, table = (ins.chiplet, ins.props["to"], ins.props["tag"]), sends
        elif ins.kind == "recv":
            key, table = (ins.props["from"], ins.chiplet, ins.props["tag"]), recvs
        else:
            continue
        if key in table:
            other = table[key]
            report.at(ins, f"reuses the tag of chiplet {other.chiplet}, {other.describe()}")
        else:
            table[key] = ins
    pairs: dict[int, Instr] = {}
    buffers = programs.buffers
    for key, send in sends.items():
        recv = recvs.get(key)
        if recv is None:
            report.at(send, f"no recv on chiplet {key[1]} matches it (from {key[0]} tag {key[2]})")
            continue
        pairs[send.gid], pairs[recv.gid] = recv, send
        src, dst = buffers[send.bufs[0]], buffers[recv.bufs[0]]
        if send.props["bytes"] != recv.props["bytes"]:
            report.at(
                send,
                f"sends {send.props['bytes']} B but chiplet {recv.chiplet}, {recv.describe()} "
                f"receives {recv.props['bytes']} B",
            )
        elif src.weight != dst.weight:
            report.at(send, f"sends a {_kind(src)} buffer into a {_kind(dst)} buffer")
        elif not src.weight and src.tokens != dst.tokens:
            report.at(send, f"its buffer's tokens differ from those of chiplet {recv.chiplet}'s")
        elif send.props["bytes"] > min(src.bytes, dst.bytes):
            report.at(send, f"moves {send.props['bytes']} B, more than its buffers hold")
    for key, recv in recvs.items():
        if key not in sends:
            report.at(recv, f"no send on chiplet {key[0]} matches it (to {key[1]} tag {key[2]})")
    return pairs


def _kind(buffer) -> str:
    return "weight" if buffer.weight else "act"


def _check_channels(programs: Programs, report: _Report) -> None:
    by_channel: dict[int, dict[int, Instr]] = defaultdict(dict)
    for ins in programs.instructions:
        if ins.kind != "load":
            continue
        seqs = by_channel[ins.props["channel"]]
        seq = ins.props["seq"]
        if seq in seqs:
            other = seqs[seq]
            report.at(ins, f"seq {seq} is also used by chiplet {other.chiplet}, {other.describe()}")
        seqs[seq] = ins
    for channel, seqs in sorted(by_channel.items()):
        missing = sorted(set(range(len(seqs))) - set(seqs))
        if missing:
            report.add(f"DDR channel {channel} has no load with seq {missing[0]}")


def _check_barriers(programs: Programs, report: _Report) -> None:
    counts = {c: sum(ins.kind == "barrier" for ins in programs.code[c]) for c in programs.chiplets}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"chiplet {c}: {n}" for c, n in counts.items())
        report.add(f"programs have different numbers of barriers ({shown})")


def _check_coverage(layer: Layer, programs: Programs, report: _Report) -> None:
    tokens = layer.tokens
    uses = np.zeros((layer.experts + layer.shared, tokens), dtype=bool)
    for expert in layer.used_experts:
        uses[expert, layer.expert_tokens(expert)] = True
    slices_of: dict[int, Instr] = {}
    counts: dict[int, np.ndarray] = {}
    gemms: dict[int, list[Instr]] = defaultdict(list)
    for ins in programs.instructions:
        if ins.kind != "gemm":
            continue
        p = ins.props
        expert = p["expert"]
        first = slices_of.setdefault(expert, ins)
        if first.props["of"] != p["of"]:
            report.at(
                ins,
                f"cuts expert {expert} into {p['of']} slices, but "
                f"chiplet {first.chiplet}, {first.describe()} into {first.props['of']}",
            )
            continue
        table = counts.setdefault(expert, np.zeros((tokens, p["of"]), dtype=np.int32))
        rows = np.asarray(p["tokens"], dtype=np.int64)
        if rows.size and rows.max() >= tokens:
            report.at(ins, f"token {int(rows.max())} does not exist ({tokens} tokens)")
            continue
        table[rows, p["slice"]] += 1
        gemms[expert].append(ins)
    for expert in range(layer.experts + layer.shared):
        name = layer.expert_name(expert)
        table = counts.get(expert)
        needed = np.nonzero(uses[expert])[0]
        if table is None:
            if needed.size:
                report.add(f"token {needed[0]} uses {name}, but no gemm computes {name}")
            continue
        extra = np.argwhere(table[~uses[expert]] > 0)
        if extra.size:
            token = int(np.nonzero(~uses[expert])[0][extra[0][0]])
            ins = _gemm_covering(gemms[expert], token, int(extra[0][1]))
            report.at(ins, f"applies {name} to token {token}, which does not use it")
        wrong = np.argwhere(table[needed] != 1)
        if wrong.size:
            token, index = int(needed[wrong[0][0]]), int(wrong[0][1])
            count = int(table[token, index])
            of = table.shape[1]
            if count == 0:
                report.add(f"token {token}: no gemm applies slice {index} of {of} of {name}")
            else:
                ins = _gemm_covering(gemms[expert], token, index)
                report.at(ins, f"token {token} gets slice {index} of {of} of {name} {count} times")
    outputs = np.zeros(tokens, dtype=np.int32)
    for ins in programs.instructions:
        if ins.kind == "output":
            held = np.asarray(programs.buffers[ins.bufs[0]].tokens, dtype=np.int64)
            outputs[held[held < tokens]] += 1
    bad = np.nonzero(outputs != 1)[0]
    if bad.size:
        token = int(bad[0])
        report.add(f"token {token} is output {int(outputs[token])} times (must be exactly once)")


def _gemm_covering(gemms: list[Instr], token: int, index: int) -> Instr:
    return next(g for g in gemms if g.props["slice"] == index and token in g.props["tokens"])


# -- abstract execution ---------------------------------------------------------------------


class _Execution:
    """Untimed execution of all programs as a dependency graph, processed in Kahn order.

    Node 2·g is "instruction g issued", node 2·g+1 "instruction g finished".
    """

    def __init__(self, layer: Layer, programs: Programs, pairs: dict[int, Instr], report):
        self.layer = layer
        self.programs = programs
        self.pairs = pairs
        self.report = report
        self.instrs = programs.instructions
        self.preds: list[list[int]] = [[] for _ in range(2 * len(self.instrs))]
        self._build()

    def _build(self) -> None:
        preds = self.preds
        channel_last: dict[tuple[int, int], int] = {}
        for ins in self.instrs:
            if ins.kind == "load":
                channel_last[(ins.props["channel"], ins.props["seq"])] = ins.gid
        barriers: dict[int, list[int]] = defaultdict(list)  # k -> gid of each barrier k
        for chiplet in self.programs.chiplets:
            unit_last: dict[str, int] = {}
            writers: dict[int, dict[str, int]] = defaultdict(dict)  # buf -> unit -> last gid
            recv_writers: dict[int, list[int]] = defaultdict(list)
            uses: dict[int, dict[str, int]] = defaultdict(dict)
            other_uses: dict[int, list[int]] = defaultdict(list)
            count = 0
            for ins in self.programs.code[chiplet]:
                g, kind = ins.gid, ins.kind
                issue, done = 2 * g, 2 * g + 1
                if ins.index:
                    preds[issue].append(issue - 2)
                preds[done].append(issue)
                if kind == "free":
                    buf = ins.bufs[0]
                    preds[issue].extend(2 * u + 1 for u in uses[buf].values())
                    preds[issue].extend(2 * u + 1 for u in other_uses[buf])
                elif kind == "barrier":
                    barriers[count].append(g)
                    count += 1
                if kind not in ASYNC:
                    continue
                unit = UNIT_OF.get(kind)
                if unit is not None:
                    if unit in unit_last:
                        preds[done].append(2 * unit_last[unit] + 1)
                    unit_last[unit] = g
                if kind in READERS:
                    for buf in ins.bufs:
                        preds[done].extend(2 * w + 1 for w in writers[buf].values())
                        preds[done].extend(2 * w + 1 for w in recv_writers[buf])
                if kind == "load":
                    previous = channel_last.get((ins.props["channel"], ins.props["seq"] - 1))
                    if previous is not None:
                        preds[done].append(2 * previous + 1)
                elif kind == "send" and g in self.pairs:
                    preds[done].append(2 * self.pairs[g].gid)
                elif kind == "recv" and g in self.pairs:
                    preds[done].append(2 * self.pairs[g].gid + 1)
                if kind == "recv":
                    recv_writers[ins.bufs[0]].append(g)
                elif kind in WRITTEN:
                    writers[ins.bufs[WRITTEN[kind]]][unit] = g
                for buf in ins.bufs:
                    if unit is None:
                        other_uses[buf].append(g)
                    else:
                        uses[buf][unit] = g
        for gids in barriers.values():
            arrivals = [2 * g - 2 for g in gids if self.instrs[g].index]
            for g in gids:
                self.preds[2 * g].extend(a for a in arrivals if a != 2 * g - 2)

    def run(self) -> None:
        preds = self.preds
        succs: list[list[int]] = [[] for _ in preds]
        waiting = [len(p) for p in preds]
        for node, before in enumerate(preds):
            for p in before:
                succs[p].append(node)
        ready = deque(node for node, n in enumerate(waiting) if n == 0)
        processed = bytearray(len(preds))
        self.data = _Data(self.layer, self.programs, self.pairs, self.report)
        while ready:
            node = ready.popleft()
            processed[node] = 1
            if node & 1:
                self.data.finish(self.instrs[node >> 1])
            for nxt in succs[node]:
                waiting[nxt] -= 1
                if waiting[nxt] == 0:
                    ready.append(nxt)
        if not all(processed):
            self._explain(processed)

    def _explain(self, processed: bytearray) -> None:
        lines = []
        for chiplet in self.programs.chiplets:
            code = self.programs.code[chiplet]
            stuck = next((i for i in code if not processed[2 * i.gid]), None)
            verb = "is blocked at"
            if stuck is None:
                stuck = next((i for i in code if not processed[2 * i.gid + 1]), None)
                verb = "cannot finish"
            if stuck is None:
                continue
            node = 2 * stuck.gid + (verb == "cannot finish")
            lines.append(
                f"chiplet {chiplet} {verb} {stuck.describe()}: {self._chain(node, processed)}"
            )
        self.report.add("the programs deadlock:\n    " + "\n    ".join(lines))

    def _chain(self, node: int, processed: bytearray) -> str:
        """What `node` waits for, followed on its own chiplet until another chiplet is involved."""
        chiplet = self.instrs[node >> 1].chiplet
        waits = []
        for _ in range(8):
            blocker = next(p for p in self.preds[node] if not processed[p])
            other = self.instrs[blocker >> 1]
            event = "finish" if blocker & 1 else "be issued"
            where = "" if other.chiplet == chiplet else f"chiplet {other.chiplet}'s "
            waits.append(f"{where}{other.describe()} to {event}")
            if other.chiplet != chiplet or not blocker & 1:
                break
            node = blocker
        return "waits for " + ", which waits for ".join(waits)


class _Data:
    """What every buffer holds during the execution, as checksums of partial products."""

    def __init__(self, layer: Layer, programs: Programs, pairs: dict[int, Instr], report):
        self.layer = layer
        self.buffers = programs.buffers
        self.pairs = pairs
        self.report = report
        self.weights: dict[int, tuple[int, int, int]] = {}
        self.rows: dict[int, dict[int, int]] = {}
        self.payload: dict[int, object] = {}
        self.products: dict[tuple[int, int, int], int] = {}
        self.inputs: dict[int, int] = {}
        slices = {
            i.props["expert"]: i.props["of"] for i in programs.instructions if i.kind == "gemm"
        }
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

    def finish(self, ins: Instr) -> None:
        kind, p, bufs = ins.kind, ins.props, ins.bufs
        if kind == "alloc":
            buffer = self.buffers[bufs[0]]
            if not buffer.weight:
                self.rows[buffer.id] = dict.fromkeys(buffer.tokens, 0)
        elif kind == "input":
            self.rows[bufs[0]] = {t: self._input(t) for t in self.buffers[bufs[0]].tokens}
        elif kind == "load":
            self.weights[bufs[0]] = (p["expert"], p["slice"], p["of"])
        elif kind == "send":
            buf = bufs[0]
            held = self.weights.get(buf) if self.buffers[buf].weight else dict(self.rows[buf])
            self.payload[ins.gid] = held
        elif kind == "recv":
            held = self.payload.get(self.pairs[ins.gid].gid)
            if self.buffers[bufs[0]].weight:
                if held is not None:
                    self.weights[bufs[0]] = held
            else:
                self.rows[bufs[0]] = dict(held)
        elif kind == "gemm":
            self._gemm(ins)
        elif kind == "accumulate":
            source, target = self.rows[bufs[0]], self.rows[bufs[1]]
            for token in p["tokens"]:
                target[token] += source[token]
        elif kind == "output":
            self._output(ins)

    def _gemm(self, ins: Instr) -> None:
        p = ins.props
        want = (p["expert"], p["slice"], p["of"])
        held = self.weights.get(ins.bufs[0])
        if held != want:
            what = "no weights" if held is None else "expert {} slice {} of {}".format(*held)
            self.report.at(ins, f"its weight buffer holds {what}")
            return
        inputs, outputs = self.rows[ins.bufs[1]], self.rows[ins.bufs[2]]
        product = self._product(*want)
        for token in p["tokens"]:
            if inputs[token] != self._input(token):
                self.report.at(ins, f"the row of token {token} in its input is not the layer input")
                return
            outputs[token] += product

    def _output(self, ins: Instr) -> None:
        layer = self.layer
        for token, value in self.rows[ins.bufs[0]].items():
            if token >= layer.tokens:
                continue
            if value != sum(self.full[e] for e in layer.experts_of_token(token)):
                self.report.at(
                    ins,
                    f"the output of token {token} is not the dense MoE output (partial products "
                    "missing, repeated or from other tokens)",
                )
                return
