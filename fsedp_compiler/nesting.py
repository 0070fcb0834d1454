"""How deep brackets nest in a text, found before a recursive reader sees it.

The readers of JSON (Python's `json`) and of MLIR (xDSL's parser) recurse once or more per
level of nesting; input nested a few hundred levels deep ends them in a RecursionError. A text
is measured here in one pass over its bytes: strings and comments are blanked out (brackets in
them do not nest), and the running depth is summed a block at a time, so that a large text
(a lowered module of hundreds of MB) needs no more than a few tens of MB on top of itself.
"""

from __future__ import annotations

import re

import numpy as np

_BLOCK = 1 << 24  # bytes measured at a time

JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
MLIR_STRING = re.compile(rb'"(?:[^"\\\n\r]|\\[^\n\r])*"')


def first_too_deep(
    data: bytes, opening: bytes, closing: bytes, limit: int, string: re.Pattern[bytes],
    comments: bool = False,
) -> int | None:  # fmt: skip
    """The byte offset of the first opening bracket nested deeper than `limit`, or None.
    Brackets in strings (`string` matches one at its opening quote) and, with `comments`, in
    `//` comments do not count."""
    if sum(data.count(bytes([c])) for c in opening) <= limit:
        return None  # too few brackets to get that deep
    table = bytes(1 if b in opening else 2 if b in closing else 0 for b in range(256))
    lows, highs = _skipped(data, string, comments)
    depth = 0
    for start in range(0, len(data), _BLOCK):
        marks = np.frombuffer(data[start : start + _BLOCK].translate(table), dtype=np.uint8)
        at = np.flatnonzero(marks)
        if lows.size:  # drop the brackets inside a string or comment
            inside = np.searchsorted(lows, at + start, side="right") - 1
            at = at[~((inside >= 0) & (at + start < highs[np.maximum(inside, 0)]))]
        running = np.cumsum(np.where(marks[at] == 1, 1, -1)) + depth
        deep = np.flatnonzero(running > limit)
        if deep.size:
            return start + int(at[deep[0]])
        depth = int(running[-1]) if running.size else depth
    return None


def _skipped(data: bytes, string: re.Pattern[bytes], comments: bool) -> tuple[np.ndarray, ...]:
    """Starts and ends of the strings (and comments) of `data`, in order."""
    spans: list[tuple[int, int]] = []
    position, end = 0, len(data)
    quote, comment = _find(data, b'"', 0), _find(data, b"//", 0) if comments else end
    while True:
        # the next quote and comment, each looked for again only once passed
        if quote < position:
            quote = _find(data, b'"', position)
        if comment < position:
            comment = _find(data, b"//", position)
        if comment < end and comment < quote:
            # a comment ends with its line, at \n or \r (README: Errors)
            low, stop = comment, min(_find(data, b"\n", comment), _find(data, b"\r", comment))
        elif quote < end:
            match = string.match(data, quote)
            low, stop = quote, match.end() if match else end  # unterminated: the parser says so
        else:
            break
        spans.append((low, stop))
        position = stop
    lows = np.array([low for low, _ in spans], dtype=np.int64)
    highs = np.array([high for _, high in spans], dtype=np.int64)
    return lows, highs


def _find(data: bytes, what: bytes, start: int) -> int:
    """Where `what` next occurs in `data` from `start`; len(data) if it does not."""
    found = data.find(what, start)
    return len(data) if found < 0 else found


def char_offset(data: bytes, offset: int) -> int:
    """The character offset of byte `offset` of UTF-8 `data`."""
    return len(data[:offset].decode("utf-8", errors="replace"))
