"""The `.moe` language: grammar, preset resolution, routing forms and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialects.moe import LayerOp
from fsedp_compiler import presets, routing
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.frontend import build_module, parse_moe

HEAD = "system paper-2x2\nmodel qwen3-30b-a3b\n"


def _error(text: str, filename: str = "t.moe") -> FsedpError:
    with pytest.raises(FsedpError) as info:
        parse_moe(text, filename)
    return info.value


def test_presets_are_applied_unchanged() -> None:
    program = parse_moe(HEAD + "workload { tokens = 5 routing = uniform(seed = 2) }")
    assert program.system == presets.get_system("paper-2x2")
    assert program.model == presets.get_model("qwen3-30b-a3b")
    assert program.strategy is None and program.strategy_options == {}


@pytest.mark.parametrize(
    ("call", "kind", "param"),
    [
        ("uniform(seed = 4)", "uniform", None),
        ("zipf(s = 1.3, seed = 4)", "zipf", 1.3),
        ("zipf(1.3, seed = 4)", "zipf", 1.3),
        ("dirichlet(alpha = 0.2, seed = 4)", "dirichlet", 0.2),
    ],
)
def test_synthetic_routing_matches_the_generator(call: str, kind: str, param) -> None:
    program = parse_moe(HEAD + f"workload {{ tokens = 32 routing = {call} }}")
    expected = routing.synthetic_routing(kind, 32, 128, 8, seed=4, param=param)
    np.testing.assert_array_equal(program.routing, expected)


def test_default_seed_is_zero_and_recorded() -> None:
    program = parse_moe(HEAD + "workload { tokens = 8 routing = uniform() }")
    np.testing.assert_array_equal(
        program.routing, routing.synthetic_routing("uniform", 8, 128, 8, 0)
    )
    assert program.routing_source == "uniform(seed = 0)"


def test_grammar_accepts_comments_separators_and_number_forms() -> None:
    text = """
    /* block comment */ system paper-2x2 { clock_ghz = 1e0; d2d_gbps = 2.88e2, hop_latency_cycles = 3 }
    model phi-3.5-moe   // dots and dashes in names
    workload { routing = [[0, 15], [3, 2],] }
    strategy ep { keep_plan = false, order = "paired", slices = +4, }
    """
    program = parse_moe(text)
    assert program.system.clock_ghz == 1.0 and program.system.d2d_gbps == 288.0
    assert program.system.hop_latency_cycles == 3
    assert program.model.name == "phi-3.5-moe"
    assert program.routing.tolist() == [[0, 15], [3, 2]]
    assert program.strategy_options == {"keep_plan": False, "order": "paired", "slices": 4}


def test_trace_layer_selection_and_npy(tmp_path: Path) -> None:
    layers = [{"0": [1, 2], "1": [3, 4]}, {"0": [5, 6], "1": [7, 0]}]
    (tmp_path / "t.json").write_text(json.dumps(layers))
    np.save(tmp_path / "r.npy", np.array([[1, 0], [2, 3], [4, 5]]))
    model = 'model { name = "m" hidden = 8 ffn = 8 experts = 8 shared = 0 top_k = 2 }\n'
    moe = tmp_path / "x.moe"
    json_text = "system paper-2x2\n" + model + 'workload { routing = trace("t.json", layer = 1) }'
    assert parse_moe(json_text, str(moe)).routing.tolist() == [[5, 6], [7, 0]]
    npy_text = "system paper-2x2\n" + model + 'workload { routing = trace("r.npy") }'
    assert parse_moe(npy_text, str(moe)).routing.tolist() == [[1, 0], [2, 3], [4, 5]]


def test_build_module_carries_everything(tmp_path: Path) -> None:
    text = (
        HEAD
        + "workload { tokens = 3 routing = [[0,1,2,3,4,5,6,7],[8,9,10,11,12,13,14,15],[7,6,5,4,3,2,1,0]] }\n"
    )
    text += "strategy fsedp-paired { slices = 4 }"
    module = build_module(parse_moe(text))
    module.verify()
    (layer,) = list(module.ops)
    assert isinstance(layer, LayerOp)
    assert layer.routing_array().tolist()[2] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert layer.model.expert_bytes == 3 * 2048 * 768
    assert module.attributes["fsedp.strategy"].data == "fsedp-paired"
    assert module.attributes["fsedp.strategy_options"].data["slices"].value.data == 4
    system = module.attributes["chiplet.system"]
    assert system.num_chiplets == 4
    assert system.spec.ddr == ((25.6, 0), (25.6, 1), (25.6, 2), (25.6, 3))


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            HEAD + "workload { tokens = 2 tokens = 3 routing = uniform() }",
            3,
            23,
            "workload field 'tokens' given twice",
        ),
        (HEAD + "workload { tokens = 2 }", 3, 1, "workload needs a 'routing' field"),
        (
            HEAD + "workload { tokens = 1000000000 routing = uniform() }",
            3,
            21,
            "1000000000 tokens is more than the limit of 65536 tokens per layer",
        ),
        (
            "system paper-2x2 model qwen3-30b-a3b { top_k = 32 }\n"
            "workload { tokens = 65536 routing = uniform() }",
            2,
            21,
            "65536 tokens x top_k 32 = 2097152 expert ids is more than the limit of 1048576",
        ),
        (
            HEAD + "workload { tokens = 2 routing = uniform(seed = 1, seed = 2) }",
            3,
            51,
            "argument 'seed' given twice",
        ),
        (
            HEAD + "workload { tokens = 2 routing = zipf(1, 2) }",
            3,
            41,
            "zipf() takes at most 1 positional argument(s)",
        ),
        (
            HEAD + "workload { tokens = 2.5 routing = uniform() }",
            3,
            21,
            "workload tokens must be a positive integer, got 2.5",
        ),
        (HEAD + "workload { tokens = 2 routing = 7 }", 3, 33, "routing expects uniform(seed = N)"),
        (
            HEAD + "workload { tokens = 2 routing = [[0,1,2,3,4,5,6,x]] }",
            3,
            34,
            "token 0: expected a list of integer expert ids",
        ),
        (
            HEAD + "workload { routing = uniform() }",
            3,
            22,
            "uniform routing needs 'tokens' in the workload",
        ),
        (
            HEAD + "workload { tokens = 1 routing = uniform() } strategy { a = 1 }",
            3,
            54,
            "syntax error: unexpected '{'; expected a name",
        ),
        (
            HEAD + "workload { tokens = 1 routing = uniform() } strategy ep { slices = zipf(1) }",
            3,
            68,
            "a strategy option takes one number, name or string",
        ),
        (
            "system paper-2x2 { sram_bytes = 1.5 } model qwen3-30b-a3b",
            1,
            33,
            "system field 'sram_bytes' expects an integer, got 1.5",
        ),
        ("system paper-2x2 { ddr = 3 }", 1, 26, "system field 'ddr' expects a list of channels"),
        ("system paper-2x2 { clock_ghz = 1e999 }", 1, 32, "number 1e999 is out of range"),
        ("system paper-2x2 { ddr = [1" + "0" * 400 + " at 0] }", 1, 27, "'ddr[0].gbps' is 1000"),
        ("system paper-2x2 { rows = 1" + "0" * 5000 + " }", 1, 27, "5001 digits is too long"),
        (HEAD + "workload { routing = zipf(-1e400) }", 3, 27, "number -1e400 is out of range"),
        (
            "system paper-2x2 { d2d_gbps = 1e-320 }",
            1,
            31,
            "system field 'd2d_gbps' is 1e-320, outside the range 0.001 to 1000000.0 GB/s",
        ),
        (
            "system paper-2x2 { clock_ghz = 1" + "0" * 400 + " }",
            1,
            32,
            "system field 'clock_ghz' is 1" + "0" * 400 + ", outside the range",
        ),
        (
            "system paper-2x2 {\n  ddr = [25.6 at 0, 1e-9 at 3] }",
            2,
            21,
            "system field 'ddr[1].gbps' is 1e-09, outside the range 0.001 to 1000000.0 GB/s",
        ),
        (
            "system paper-2x2 { rows = 100000000000000000000000 }",
            1,
            27,
            "system field 'rows' is 100000000000000000000000, more than the limit of 16",
        ),
        (
            "system paper-2x2 model qwen3-30b-a3b { shared = 100000 }",
            1,
            49,
            "model field 'shared' is 100000, more than the limit of 64 experts",
        ),
        (
            "system paper-2x2 model qwen3-30b-a3b { top_k = 200 }",
            1,
            48,
            "model field 'top_k' is 200, more than experts = 128",
        ),
    ],
)
def test_errors_are_located(text: str, line: int, column: int, message: str) -> None:
    error = _error(text)
    assert message in error.message
    assert (error.file, error.line, error.column) == ("t.moe", line, column)
    assert error.source_line == text.splitlines()[line - 1]


def test_workload_at_the_limits_runs() -> None:
    text = "system paper-2x2\nmodel qwen3-30b-a3b { top_k = 16 }\n"
    text += "workload { tokens = 65536 routing = uniform(seed = 1) }"
    assert parse_moe(text).routing.shape == (65536, 16)


def test_caret_sits_under_the_column() -> None:
    formatted = _error(HEAD + "workload { tokens = 0 routing = uniform() }").format()
    _, source, caret = formatted.splitlines()
    assert source[caret.index("^")] == "0"


def test_not_utf8_is_located_at_the_first_bad_byte() -> None:
    from io import BytesIO

    from fsedp_compiler.frontend import MoeFrontend

    with pytest.raises(FsedpError) as info:
        MoeFrontend().parse(None, BytesIO(b"system paper-2x2\r\nmodel \xc3("), "x.moe")
    error = info.value
    assert error.message == "not UTF-8 text: byte 0xc3 (invalid continuation byte)"
    assert (error.file, error.line, error.column) == ("x.moe", 2, 7)
    assert error.format().splitlines()[1:] == ["model \ufffd(", "      ^"]


BAD_TOKENS = "workload { tokens = 0 routing = uniform() }"


@pytest.mark.parametrize(
    ("text", "line", "column", "source"),
    [
        ("system paper-2x2\rmodel qwen3-30b-a3b\r" + BAD_TOKENS, 3, 21, BAD_TOKENS),
        ("system paper-2x2\r\nmodel qwen3-30b-a3b\r\n" + BAD_TOKENS, 3, 21, BAD_TOKENS),
        ("system paper-2x2\n\rmodel qwen3-30b-a3b\n" + BAD_TOKENS, 4, 21, BAD_TOKENS),
        (
            "// a\u2028b\x0bc\x0cd\x85e\nsystem paper-2x2 model qwen3-30b-a3b " + BAD_TOKENS,
            2,
            58,
            "system paper-2x2 model qwen3-30b-a3b " + BAD_TOKENS,
        ),
        ("system paper-2x2\u2028model", 1, 17, "system paper-2x2\u2028model"),
    ],
)
def test_line_and_column_agree_with_the_printed_line(text, line, column, source) -> None:
    error = _error(text)
    assert (error.line, error.column, error.source_line) == (line, column, source)
    printed, caret = error.format().splitlines()[1:]
    assert caret == " " * (column - 1) + "^"
    assert printed == source.replace("\u2028", " ")


def test_inline_routing_over_the_token_limit_is_refused() -> None:
    rows = ", ".join(["[0, 1]"] * (65536 + 1))
    text = 'system paper-2x2 model { name = "t" hidden = 8 ffn = 8 experts = 4 shared = 0 top_k = 2 }\n'
    error = _error(text + f"workload {{ routing = [{rows}] }}")
    assert "65537 tokens is more than the limit of 65536 tokens per layer" in error.message
    assert (error.line, error.column) == (2, 22)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        (r'"plain"', "plain"),
        (r'"q\"b\\s\/"', 'q"b\\s/'),
        (r'"\b\f\n\r\t"', "\b\f\n\r\t"),
        (r'"\u00e9\u2028\uFFFD"', "\u00e9\u2028\ufffd"),
        ('"tab\tand \U0001f600"', "tab\tand \U0001f600"),  # raw tab and emoji, as written
    ],
)
def test_string_escapes(written: str, value: str) -> None:
    program = parse_moe(
        f"system paper-2x2 {{ name = {written} }}\nmodel qwen3-30b-a3b\n"
        + BAD_TOKENS.replace("0", "1")
    )
    assert program.system.name == value


@pytest.mark.parametrize(
    ("written", "column", "message"),
    [
        (r'"a\qb"', 29, "bad escape '\\q' in a string; escapes are"),
        (r'"ok\n\0"', 32, "bad escape '\\0' in a string"),
        (r'"\ud83d\ude00"', 28, "bad escape '\\ud83d' in a string"),
        (r'"\u12"', 28, "bad escape \\u without 4 hex digits"),
        (r'"\x41"', 28, "bad escape '\\x' in a string"),
        ('"open', 27, 'unterminated string: a string ends with " on the line it starts'),
        ('"a\\', 27, "unterminated string"),
    ],
)
def test_bad_string_is_located(written: str, column: int, message: str) -> None:
    error = _error(f"system paper-2x2 {{ name = {written} }}\nmodel qwen3-30b-a3b")
    assert message in error.message
    assert (error.line, error.column) == (1, column)


def test_string_cannot_span_a_cr_line_end() -> None:
    error = _error('system paper-2x2 { name = "a\rb" }')
    assert error.message.startswith("unterminated string")


@pytest.mark.parametrize(
    ("open_", "close", "offset"),
    [("[", "]", 64), ("f(", ")", 129), ("[g(", ")]", 96)],  # offset of the 65th '[' or '('
)
def test_nesting_beyond_the_limit_is_refused_at_the_first_bracket_too_deep(
    open_, close, offset
) -> None:
    prefix = "workload { tokens = 2 routing = uniform() } strategy ep { x = "
    error = _error(HEAD + prefix + open_ * 40000 + close * 40000 + " }")
    assert error.message == (
        "value nested deeper than the limit of 64 levels of brackets and calls (README: Limits)"
    )
    assert (error.line, error.column) == (3, len(prefix) + offset + 1)


def test_nesting_at_the_limit_is_parsed() -> None:
    value = "1"
    for _ in range(64):
        value = f"[{value}]"
    prefix = "workload { tokens = 2 routing = uniform() } strategy ep { "
    # Parsed and walked whole: the error is the option's name, found after the tree walk.
    error = _error(HEAD + prefix + f"x = {value} }}")
    assert error.message.startswith("ep: unknown option 'x'")
    assert (error.line, error.column) == (3, len(prefix) + 1)


STRATEGY_HEAD = HEAD + "workload { tokens = 2 routing = uniform() }\n"


@pytest.mark.parametrize(
    ("block", "column", "message"),
    [
        ("strategy fsedp { bogus = 1 }", 18, "fsedp: unknown option 'bogus'; options: policy"),
        ("strategy fsedp { skip_idle = x }", 30, "option 'skip-idle' expects true or false, got x"),
        (
            'strategy fsedp { slices = "8" }',
            27,
            "shard-experts: option 'slices' expects an integer",
        ),
        ("strategy fsedp { order = sideways }", 26, "order-loads: unknown order 'sideways'"),
        ("strategy ep { policy = block }", 15, "ep: option 'policy' is ambiguous"),
        ("strategy ep { verify = 1 }", 24, "ep: option 'verify' expects true or false, got 1"),
        ("strategy ep { min_slices = 0 }", 28, "shard-experts: min-slices must be >= 1, got 0"),
        (
            "strategy ep { slices = 9223372036854775808 }",
            24,
            "value 9223372036854775808 does not fit in 64 bits",
        ),
        (
            "strategy fsedp { skip_idle = true skip-idle = false }",
            35,
            "strategy option 'skip-idle' given twice (also as 'skip_idle' at line 4, column 18)",
        ),
        (
            "strategy fsedp { slices = 4, shard-experts-slices = 8 }",
            30,
            "strategy option 'shard-experts-slices' given twice (also as 'slices' at line 4",
        ),
        (
            "strategy ep { verify = true, verify = false }",
            30,
            "strategy option 'verify' given twice",
        ),
    ],
)
def test_strategy_errors_are_located_at_the_option(block: str, column: int, message: str) -> None:
    error = _error(STRATEGY_HEAD + block)
    assert message in error.message
    assert (error.line, error.column) == (4, column)


def test_strategy_options_at_the_i64_edge_are_kept() -> None:
    program = parse_moe(STRATEGY_HEAD + "strategy ep { slices = 9223372036854775807 }")
    assert program.strategy_options == {"slices": 2**63 - 1}


TINY_MODEL = 'model { name = "t" hidden = 8 ffn = 8 experts = 8 shared = 0 top_k = 2 }\n'


@pytest.mark.parametrize(
    "written",
    [
        "[[0, 1], [2, 3], [4, 5]]",
        "[[0,1,],[2,3],[4,5],]",
        "[ // token 0\n  [0, /* first */ 1],\n  [+2, 3] /* ] */, [4,\r\n5]\n]",
        "[[0, 1], [2, 3], [4, 5]] // [[9, 9]]\n",
    ],
)
def test_integer_lists_are_read_as_written(written: str) -> None:
    program = parse_moe("system paper-2x2\n" + TINY_MODEL + f"workload {{ routing = {written} }}")
    assert program.routing.tolist()[:2] == [[0, 1], [2, 3]]
    assert program.routing.dtype == np.int64


@pytest.mark.parametrize(
    ("written", "line", "column", "message"),
    [
        ("[[0, 1],\n [2, 3],\n   [4]]", 5, 4, "token 2 has 1 expert ids, token 0 has 2"),
        ("[[0, 1], /* [7] */ [2]]", 3, 41, "token 1 has 1 expert ids, token 0 has 2"),
        ("[[0, 1], [2, -1]]", 3, 22, "token 1 routes to expert -1, outside the 8 routed experts"),
        ("[[0, 1], [2, 99999999999999999999]]", 3, 22, "an expert id does not fit in 64 bits"),
        ("[[0, 1], [2, 1.5]]", 3, 31, "token 1: expected a list of integer expert ids"),
        ("[[0, 1], [2, 99999999999999999999], [x]]", 3, 58, "token 2: expected a list of integer"),
    ],
)
def test_inline_routing_errors_are_located(
    written: str, line: int, column: int, message: str
) -> None:
    error = _error("system paper-2x2\n" + TINY_MODEL + f"workload {{ routing = {written} }}")
    assert message in error.message
    assert (error.line, error.column) == (line, column)


def test_inline_routing_reads_in_time_proportional_to_its_size() -> None:
    import time

    rows = np.random.default_rng(1).integers(0, 128, size=(65536, 8))
    rows[:, 1:] = (rows[:, :1] + np.arange(1, 8)) % 128  # distinct ids per token
    written = "[" + ",\n".join(str(row) for row in rows.tolist()) + "]"
    start = time.perf_counter()
    program = parse_moe(HEAD + f"workload {{ routing = {written} }}")
    assert time.perf_counter() - start < 5  # about 0.4 s; a tree node per number took ~15 s
    np.testing.assert_array_equal(program.routing, rows)


def test_integer_lists_count_two_levels_of_nesting() -> None:
    prefix = "workload { tokens = 2 routing = uniform() } strategy ep { "
    error = _error(HEAD + prefix + "x = " + "[" * 63 + "[[1]]" + "]" * 63 + " }")
    assert error.message.startswith("value nested deeper than the limit of 64 levels")
    assert (error.line, error.column) == (3, len(prefix) + 4 + 63 + 1)
    error = _error(HEAD + prefix + "x = " + "[" * 62 + "[[1]]" + "]" * 62 + " }")
    assert error.message.startswith("ep: unknown option 'x'")


def test_integer_lists_as_other_values() -> None:
    program = parse_moe(STRATEGY_HEAD.replace("uniform()", "uniform(seed = 2)"))
    assert program.routing_source == "uniform(seed = 2)"
    error = _error(STRATEGY_HEAD + "strategy ep { slices = [[1, 2]] }")
    assert "a strategy option takes one number, name or string, got a list" in error.message
    error = _error("system paper-2x2 { ddr = [[1, 2]] }")
    assert error.message.startswith("system field 'ddr' expects a list of channels")
    error = _error("system paper-2x2 { name = [[1]] }")
    assert error.message == "name expects a name or a string, got a list"


def test_unterminated_comment_says_so() -> None:
    error = _error("system paper-2x2 // fine\nmodel qwen3-30b-a3b /* never closed\n")
    assert error.message == "unterminated comment: /* needs a closing */"
    assert (error.line, error.column) == (2, 21)
    assert _error("system paper-2x2 / model").message.startswith(
        "syntax error: unexpected character '/'"
    )


def test_unknown_system_field_lists_the_field_table() -> None:
    error = _error("system paper-2x2 { sram = 1 }\nmodel qwen3-30b-a3b")
    fields = ", ".join(["name", *presets.SYSTEM_FIELDS])
    assert error.message == f"unknown system field 'sram'; valid fields: {fields}"
