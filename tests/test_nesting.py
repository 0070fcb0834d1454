"""The nesting check that keeps deep JSON and MLIR away from their recursive readers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsedp_compiler import nesting
from fsedp_compiler.nesting import JSON_STRING, MLIR_STRING, first_too_deep


def reference(text: str, limit: int, comments: bool) -> int | None:
    """A plain character-by-character reading of the same rules."""
    depth, i = 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while j < len(text) and text[j] not in '"\n\r':
                if text[j] == "\\" and text[j + 1 : j + 2] not in ("", "\n", "\r"):
                    j += 1  # an escaped character
                elif text[j] == "\\":
                    break
                j += 1
            if j >= len(text) or text[j] != '"':
                return None  # an unterminated string: the rest is the parser's to refuse
            i = j + 1
            continue
        if comments and text.startswith("//", i):
            ends = [e for e in (text.find("\n", i), text.find("\r", i)) if e >= 0]
            i = min(ends, default=len(text))
            continue
        if c in "[{(":
            depth += 1
            if depth > limit:
                return i
        elif c in "]})":
            depth -= 1
        i += 1
    return None


TEXTS = st.text(alphabet='[]{}()"\\/\n\r ab', max_size=300)


@settings(max_examples=400)
@given(text=TEXTS, limit=st.integers(0, 6), block=st.sampled_from([1, 3, 7, 1 << 24]))
def test_agrees_with_a_plain_reading(text, limit, block) -> None:
    data = text.encode()
    old = nesting._BLOCK
    nesting._BLOCK = block  # block edges anywhere
    try:
        found = first_too_deep(data, b"[{(", b"]})", limit, MLIR_STRING, comments=True)
    finally:
        nesting._BLOCK = old
    assert found == reference(text, limit, comments=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[[]]]", None),  # exactly at the limit of 3
        ("[[[[]]]]", 3),
        ('["[[[[[[" , [[]]]', None),  # brackets in a string do not nest
        ('["\\"[[[[[[" , [[]]]', None),  # nor after an escaped quote in it
        ("[[[ // [[[[\n]]]", None),  # nor in a comment
        ("[[[]]] [[[[]]]]", 10),
    ],
)
def test_examples(text: str, expected: int | None) -> None:
    data = text.encode()
    assert first_too_deep(data, b"[{(", b"]})", 3, MLIR_STRING, comments=True) == expected


def test_json_has_no_comments() -> None:
    assert first_too_deep(b'[[ "//" [[]]]]', b"[{", b"]}", 3, JSON_STRING) == 9
