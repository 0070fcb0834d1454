"""The program model's array code against plain sequential references.

The rules (dialects/cisa_rules.py) and the simulator's view of the programs
(backends/sim/program.py) read a million instructions with array operations. Here each is
compared with the obvious one-instruction-at-a-time algorithm, on compiled programs and on
random corruptions of them (hypothesis): the same violations, in the same order, with the same
messages; the same pairs of transfers; the same waits, dependents and slice visits.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.sim.program import flatten
from dialects import cisa
from dialects.cisa_model import (
    ACT,
    ANY,
    KIND_NAMES,
    OPCODES,
    READ,
    RELEASE,
    UPDATE,
    WEIGHT,
    CodeBuilder,
    ModuleCode,
    Program,
    Rows,
    describe,
)
from dialects.cisa_opcodes import ALLOC, BARRIER, END, FREE, GEMM, LOAD, RECV, SEND
from dialects.cisa_rules import (
    Machine,
    Violation,
    module_violations,
    pair_transfers,
    program_violations,
)
from fsedp_compiler.pipelines import compile_module
from fsedp_compiler.testing import workload_module

# -- references: the rules as a single pass over the instructions -------------------------------


def _at(program, chiplet, index, message):
    return Violation(chiplet, index, message, describe(program, index))


def reference_program_violations(program: Program, chiplet: int, machine) -> list[Violation]:
    from dialects.cisa_rules import (
        MAX_FIELD,
        MAX_PROGRAM_TOTAL,
        _field_problem,
        _rows_problem,
        _token_list_problem,
    )

    out = []
    totals = dict.fromkeys(MAX_FIELD, 0)
    freed: dict[int, int] = {}
    filled = [False] * len(program.buffer_kind)
    for b, tokens in enumerate(program.buffer_tokens):
        if program.buffer_kind[b] == ACT:
            problem = _token_list_problem(tokens, "act buffer")
            if problem:
                out.append(_at(program, chiplet, program.buffer_alloc[b], problem))
    ended = -1
    for i, code in enumerate(program.code):
        opcode = OPCODES[code] if code < len(OPCODES) else None
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
        problem = _reference_operand_problem(program, i, opcode, bufs, freed, filled)
        problem = problem or _field_problem(opcode, args, chiplet, machine)
        if problem is None and opcode.tokens:
            problem = _token_list_problem(program.tokens[i], opcode.mnemonic, required=True)
            problem = problem or _rows_problem(program, opcode, bufs, program.tokens[i])
        for name, high in MAX_FIELD.items():
            value = dict(zip(opcode.fields, args, strict=True)).get(name, 0)
            before, totals[name] = totals[name], totals[name] + (value if 0 < value <= high else 0)
            if before <= MAX_PROGRAM_TOTAL < totals[name] and problem is None:
                problem = f"the program's {name} fields add up to more than {MAX_PROGRAM_TOTAL} (2^62) here"
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


def _reference_operand_problem(program, i, opcode, bufs, freed, filled):
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
        if operand.access in (READ, UPDATE) and kind == WEIGHT and not filled[b]:
            return "reads a weight buffer before any load or recv fills it"
    return None


def reference_pairs(programs):
    """The k-th send of (src, dst, tag) with the k-th recv, and what does not pair."""
    sends, recvs = {}, {}
    for chiplet, program in programs.items():
        for i, code in enumerate(program.code):
            if code == SEND and len(program.args[i]) == 3:
                key = (chiplet, program.args[i][0], program.args[i][1])
                sends.setdefault(key, []).append((chiplet, i))
            elif code == RECV and len(program.args[i]) == 3:
                key = (program.args[i][0], chiplet, program.args[i][1])
                recvs.setdefault(key, []).append((chiplet, i))
    pairs, out = {}, []
    for key in sorted(set(sends) | set(recvs)):
        src, dst, tag = key
        mine, theirs = sends.get(key, []), recvs.get(key, [])
        for send, recv in zip(mine, theirs, strict=False):
            pairs[send], pairs[recv] = recv, send
            problem = _reference_pair_problem(programs, send, recv)
            if problem:
                out.append(_at(programs[send[0]], send[0], send[1], problem))
        for chiplet, i in mine[len(theirs) :]:
            message = f"no matching cisa.recv from {src} tag {tag} on chiplet {dst}"
            out.append(_at(programs[chiplet], chiplet, i, message))
        for chiplet, i in theirs[len(mine) :]:
            message = f"no matching cisa.send to {dst} tag {tag} on chiplet {src}"
            out.append(_at(programs[chiplet], chiplet, i, message))
    return pairs, out


def _reference_pair_problem(programs, send, recv):
    sender, receiver = programs[send[0]], programs[recv[0]]
    sent, received = sender.args[send[1]][2], receiver.args[recv[1]][2]
    where = f"chiplet {recv[0]}, {describe(receiver, recv[1])}"
    if sent != received:
        return f"sends {sent} B but the matching recv on {where} receives {received} B"
    a, b = sender.bufs[send[1]], receiver.bufs[recv[1]]
    if len(a) != 1 or len(b) != 1:
        return None
    kind_a, kind_b = sender.buffer_kind[a[0]], receiver.buffer_kind[b[0]]
    if kind_a != kind_b:
        return f"sends a {KIND_NAMES[kind_a]} buffer into a {KIND_NAMES[kind_b]} buffer on {where}"
    held_a, held_b = sender.buffer_tokens[a[0]], receiver.buffer_tokens[b[0]]
    if kind_a == ACT and sorted(held_a) != sorted(held_b):
        return f"sends rows of other tokens than the receiving buffer on {where} holds"
    return None


def reference_module_violations(programs, machine) -> list[Violation]:
    out = []
    loads: dict[int, list] = {}
    for chiplet, program in programs.items():
        for i, code in enumerate(program.code):
            if code == LOAD and len(program.args[i]) == 6:
                channel, seq = program.args[i][:2]
                loads.setdefault(channel, []).append((seq, chiplet, i))
    for channel, queue in sorted(loads.items()):
        queue.sort()
        for expected, (seq, chiplet, i) in enumerate(queue):
            if seq != expected:
                again = expected and queue[expected - 1][0] == seq
                detail = f"seq {seq} is used twice" if again else f"seq {expected} is missing"
                message = f"DDR channel {channel} serves loads in seq order 0, 1, 2, ...; {detail}"
                out.append(_at(programs[chiplet], chiplet, i, message))
                break
    out += reference_pairs(programs)[1]
    counts = {c: p.code.count(BARRIER) for c, p in programs.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"chiplet {c}: {n}" for c, n in counts.items())
        out.append(
            Violation(min(counts), None, f"programs hold different numbers of barriers ({shown})")
        )
    return out


def reference_waits(programs):
    """Per instruction (gid order): what it waits for, by how it uses its buffers."""
    deps = []
    for program in programs.values():
        last_writer: dict[int, int] = {}
        readers: dict[int, list[int]] = {}
        base = len(deps)
        for i, code in enumerate(program.code):
            opcode, bufs = OPCODES[code], program.bufs[i]
            waits = []
            if code != ALLOC:
                for operand, b in zip(opcode.operands, bufs, strict=True):
                    if operand.access != READ:
                        waits += readers.get(b, [])
                    if b in last_writer:
                        waits.append(last_writer[b])
                for operand, b in zip(opcode.operands, bufs, strict=True):
                    if operand.access == READ:
                        readers.setdefault(b, []).append(i)
                    elif operand.access != RELEASE:
                        last_writer[b], readers[b] = i, []
            deps.append(tuple(base + w for w in waits))
    return deps


# -- programs to compare on ------------------------------------------------------------------------


def _compiled(strategy: str, tokens: int = 24) -> dict[int, Program]:
    module = compile_module(
        workload_module("deepseek-moe-16b", tokens, strategy=strategy), strategy
    )
    return {
        op.chiplet.value.data: cisa.program_code(op)
        for op in module.walk()
        if isinstance(op, cisa.ProgramOp)
    }


class _Compiled(tuple):
    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing case
        return f"<{self[0]} programs>"


@pytest.fixture(scope="module", params=["fsedp-paired", "fsedp", "ep", "hydra"])
def compiled(request):
    return _Compiled((request.param, _compiled(request.param)))


MACHINE = Machine(4, 4)  # test-2x2's four chiplets and channels


def _rebuild(program: Program, code, bufs, args, tokens, buffer_tokens) -> Program:
    return Program(
        bytes(code), Rows.of(bufs), Rows.of(args), tuple(tokens), program.buffer_kind,
        program.buffer_bytes, tuple(buffer_tokens), program.buffer_alloc,
    )  # fmt: skip


def corrupt(program: Program, rng: random.Random, edits: int) -> Program:
    """`program` with a few random edits of opcodes, operands, fields, tokens or order."""
    code, bufs, args = list(program.code), list(program.bufs), list(program.args)
    tokens, held = list(program.tokens), list(program.buffer_tokens)
    nbuf = len(program.buffer_kind)
    for _ in range(edits):
        i = rng.randrange(len(code))
        what = rng.randrange(8)
        if what == 0:
            code[i] = rng.randrange(len(OPCODES))
        elif what == 1 and bufs[i]:
            k = rng.randrange(len(bufs[i]))
            bufs[i] = (*bufs[i][:k], rng.randrange(nbuf), *bufs[i][k + 1 :])
        elif what == 2 and args[i]:
            k = rng.randrange(len(args[i]))
            value = rng.choice(
                [-1, 0, 1, 2, 5, args[i][k] + 1, args[i][k] - 1, 10**6, 2**48 + 1, 2**62]
            )
            args[i] = (*args[i][:k], value, *args[i][k + 1 :])
        elif what == 3 and tokens[i]:
            tokens[i] = rng.choice(
                [(), (*tokens[i], tokens[i][0]), (*tokens[i], 999), (-1,), tokens[i][:1]]
            )
        elif what == 4:
            j = rng.randrange(len(code))
            for column in (code, bufs, args, tokens):
                column[i], column[j] = column[j], column[i]
        elif what == 5 and len(code) > 1:
            for column in (code, bufs, args, tokens):
                del column[i]
        elif what == 6:
            b = rng.randrange(nbuf)
            if program.buffer_kind[b] == ACT and held[b]:
                held[b] = rng.choice([held[b][1:], (*held[b], held[b][0]), (-3, *held[b])])
        else:
            args[i] = args[i][:-1] if args[i] else (1,)
    return _rebuild(program, code, bufs, args, tokens, held)


# -- the comparisons -------------------------------------------------------------------------------


def test_compiled_programs_break_no_rule_either_way(compiled) -> None:
    _, programs = compiled
    for chiplet, program in programs.items():
        assert program_violations(program, chiplet, MACHINE) == []
        assert reference_program_violations(program, chiplet, MACHINE) == []
    assert module_violations(programs, MACHINE) == []
    assert reference_module_violations(programs, MACHINE) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 4))
def test_the_rules_agree_with_the_reference_on_corrupted_programs(compiled, seed, edits) -> None:
    _, programs = compiled
    rng = random.Random(seed)
    chiplet = rng.choice(sorted(programs))
    program = corrupt(programs[chiplet], rng, edits)
    assert program_violations(program, chiplet, MACHINE) == reference_program_violations(
        program, chiplet, MACHINE
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 3))
def test_transfers_and_channels_agree_with_the_reference(compiled, seed, edits) -> None:
    """Edits of the fields that pair transfers and order loads: tags, peers, bytes, seq."""
    _, programs = compiled
    rng = random.Random(seed)
    changed = dict(programs)
    for _ in range(edits):
        chiplet = rng.choice(sorted(changed))
        program = changed[chiplet]
        moves = [i for i, c in enumerate(program.code) if c in (SEND, RECV, LOAD)]
        if not moves:
            continue
        i = rng.choice(moves)
        args = list(program.args)
        k = rng.randrange(len(args[i]) if program.code[i] != LOAD else 3)
        args[i] = (*args[i][:k], max(0, args[i][k] + rng.choice([-1, 1])), *args[i][k + 1 :])
        changed[chiplet] = _rebuild(
            program, program.code, list(program.bufs), args, program.tokens, program.buffer_tokens
        )
    assert module_violations(changed) == reference_module_violations(changed, None)
    assert pair_transfers(changed)[0] == reference_pairs(changed)[0]


def test_the_simulator_waits_as_the_reference_says(compiled) -> None:
    strategy, _ = compiled
    module = compile_module(workload_module("deepseek-moe-16b", 24, strategy=strategy), strategy)
    flat = flatten(module)
    expected = reference_waits(flat.code.programs)
    assert list(flat.deps) == expected
    assert list(flat.npend) == [len(w) for w in expected]
    dependents: list[list[int]] = [[] for _ in expected]
    for i, waits in enumerate(expected):
        for j in waits:
            dependents[j].append(i)
    assert list(flat.dependents) == [tuple(d) for d in dependents]


def test_slice_visits_count_fills_and_the_ones_no_gemm_read(compiled) -> None:
    strategy, _ = compiled
    module = compile_module(workload_module("deepseek-moe-16b", 24, strategy=strategy), strategy)
    flat = flatten(module)
    for p, program in enumerate(flat.code.programs.values()):
        visits = zero = 0
        fill: dict[int, bool] = {}  # weight buffer -> read by a gemm since its last fill
        for i, code in enumerate(program.code):
            bufs = program.bufs[i]
            if code in (LOAD, RECV) and program.buffer_kind[bufs[0]] == WEIGHT:
                if bufs[0] in fill:
                    zero += not fill[bufs[0]]
                fill[bufs[0]] = False
                visits += 1
            elif code == GEMM:
                fill[bufs[0]] = True
        zero += sum(not read for read in fill.values())
        assert (flat.visits[p], flat.zero_token_visits[p]) == (visits, zero)


@given(rows=st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=4), max_size=40),
       chunk=st.integers(1, 8))  # fmt: skip
def test_code_builder_packs_rows_in_chunks_losslessly(rows, chunk) -> None:
    builder = CodeBuilder()
    builder.CHUNK = chunk
    for row in rows:
        builder.add(LOAD, tuple(row[:2]), tuple(row))
    program = builder.finish()
    assert list(program.args) == [tuple(r) for r in rows]
    assert list(program.bufs) == [tuple(r[:2]) for r in rows]
    assert Rows.of(program.args) == program.args


def test_fields_and_a_programs_totals_are_bounded_so_no_sum_overflows() -> None:
    from dialects.cisa_rules import MAX_FIELD, MAX_PROGRAM_TOTAL

    builder = CodeBuilder()
    builder.alloc(WEIGHT, MAX_FIELD["bytes"] + 1)
    builder.add(END)
    (v,) = program_violations(builder.finish(), 0)
    assert v.index == 0 and "bytes must be at most 281474976710656 (2^48), got" in v.message
    # 2^14 allocs of 2^48 B reach 2^62 exactly; the next one is beyond it
    builder = CodeBuilder()
    for _ in range(MAX_PROGRAM_TOTAL // MAX_FIELD["bytes"] + 1):
        builder.alloc(WEIGHT, MAX_FIELD["bytes"])
    builder.add(END)
    program = builder.finish()
    found = program_violations(program, 0)
    assert [(v.index, v.message) for v in found] == [
        (16384, "the program's bytes fields add up to more than 4611686018427387904 (2^62) here")
    ]
    assert reference_program_violations(program, 0, None) == found


# -- storage: one store for the programs and the module, flows by their own index -------------


@given(rows=st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=4), max_size=30),
       cut=st.tuples(st.integers(0, 30), st.integers(0, 30)), shift=st.integers(-50, 50))  # fmt: skip
def test_a_window_reads_its_rows_of_the_store_plus_its_shift(rows, cut, shift) -> None:
    first, stop = sorted(min(c, len(rows)) for c in cut)
    store = Rows.of(rows)
    window = store.window(first, stop, shift)
    expected = [tuple(v + shift for v in row) for row in rows[first:stop]]
    assert list(window) == expected and len(window) == stop - first
    assert window == Rows.of(expected) and hash(window) == hash(Rows.of(expected))
    flat, at = window.arrays()
    assert flat.tolist() == [v for row in expected for v in row] and at[0] == 0
    assert window.lengths().tolist() == [len(row) for row in expected]
    whole = [k for k, row in enumerate(expected) if row]
    assert window.column(np.asarray(whole, dtype=np.int64), 0).tolist() == [
        expected[k][0] for k in whole
    ]
    own = Rows.of(expected)
    own.keep_in(window)
    assert own.flat is store.flat and list(own) == expected


def test_programs_are_windows_on_their_modules_store(compiled) -> None:
    _, programs = compiled
    before = {c: (list(p.bufs), list(p.args)) for c, p in programs.items()}
    code = ModuleCode.of(programs)
    for chiplet, program in programs.items():
        assert program.bufs.flat is code.bufs.flat and program.args.flat is code.args.flat
        assert (list(program.bufs), list(program.args)) == before[chiplet]
        span, shift = code.spans[chiplet], code.first_buffer[chiplet]
        for index, g in enumerate(span):
            assert code.locate(g) == (chiplet, index)
            assert code.bufs[g] == tuple(b + shift for b in program.bufs[index])
            assert code.args[g] == program.args[index]
            assert code.tokens[g] == program.tokens[index]
    gids = np.arange(len(code.code))
    chiplets, indices = code.locate_all(gids)
    assert list(zip(chiplets.tolist(), indices.tolist(), strict=True)) == [
        code.locate(g) for g in gids.tolist()
    ]
    assert code.tokens_at(gids) == [code.tokens[g] for g in gids.tolist()]


def test_flows_are_the_loads_and_paired_sends_with_their_routes(compiled) -> None:
    strategy, _ = compiled
    module = compile_module(workload_module("deepseek-moe-16b", 24, strategy=strategy), strategy)
    flat = flatten(module)
    m = flat.machine
    owners = [i for i, c in enumerate(flat.op) if c == LOAD or (c == SEND and flat.pair[i] >= 0)]
    assert list(flat.flow_owner) == owners
    assert [flat.flow[i] for i in owners] == list(range(len(owners)))
    assert sum(f >= 0 for f in flat.flow) == len(owners) + list(flat.op).count(RECV)
    res_bytes = [0] * (m.num_channels + len(m.links))
    for f, i in enumerate(owners):
        here = flat.chiplet[flat.prog[i]]
        if flat.op[i] == LOAD:
            channel = flat.arg[i]
            first, hops = (channel,), m.route(m.ddr_chiplets[channel], here)
        else:
            first, hops = (), m.route(here, flat.chiplet[flat.prog[flat.pair[i]]])
        assert flat.path[f] == (*first, *hops)
        assert flat.flow_latency[f] == m.hop_latency * len(hops)
        assert flat.solo_rate[f] == min(m.capacities()[r] for r in flat.path[f])
        assert flat.flow_target[f] == (i if flat.op[i] == LOAD else flat.pair[i])
        assert flat.flow_bytes[f] == flat.field(i, "bytes")
        if flat.op[i] == SEND:
            assert flat.flow[flat.pair[i]] == f  # a recv's flow is its send's
        for r in flat.path[f]:
            res_bytes[r] += flat.flow_bytes[f]
    assert flat.traffic()[1] == res_bytes
