"""Process-level speed settings shared by the compiler and the simulator."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

# Objects moved to the oldest generation by `paused_gc` since the last full collection, and the
# count at which `paused_gc` runs one (see there).
_promoted = 0
FULL_COLLECTION_AFTER = 1_000_000


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of the block.

    Lowering and simulation create some 10^5 long-lived objects (xDSL ops, flat programs); the
    collector rescanning that graph again and again takes a third of the run time, and little
    built there is cyclic garbage.

    At the end of the block the objects made in it would all be young, and the first
    allocation after it would scan every one of them (0.1 s after a DeepSeek-MoE compile), then
    again when they age. Instead they go straight to the oldest generation (`gc.freeze()` then
    `gc.unfreeze()` moves every tracked object there without scanning). Cyclic garbage among
    them, such as ops a pass replaced, is then freed by the next full collection; since objects
    moved this way do not count towards CPython's own trigger for one, this function runs
    `gc.collect()` itself once a million objects were moved since the last one, so that a long
    sweep of compiles keeps its memory bounded. A caller that froze objects itself keeps them
    frozen: then the block's objects are left young. The previous setting is restored
    afterwards.
    """
    global _promoted
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and gc.get_freeze_count() == 0:
            _promoted += gc.get_count()[0]  # young objects, net of the ones freed
            gc.freeze()
            gc.unfreeze()
            if _promoted > FULL_COLLECTION_AFTER:
                _promoted = 0
                gc.collect()
        if was_enabled:
            gc.enable()


def one_shot_process() -> None:
    """Turn the cyclic garbage collector off for the rest of a command-line run.

    `fsedp-opt` and `fsedp-sim` build one large object graph, use it and exit: what the
    collector would find is a little cyclic garbage, and looking costs time (fsedp-sim on
    examples/qwen3_30b_a3b_1024_4x4.moe: 8.1-8.8 s -> 6.8-7.6 s in alternating runs, with the
    same peak memory, 320 MB). Only for processes that exit after their job; library calls
    pause the collector with `paused_gc` instead. A driver that handles several inputs one
    after the other calls `collect_between_inputs()` between them.
    """
    gc.disable()


def exit_process(code: int) -> NoReturn:
    """End a command-line run with `code` without freeing its objects one by one.

    Python's own exit frees every object of the large graph the run built (xDSL IR, programs,
    arrays) and collects once more over all of them: 60-90 ms of a `fsedp-sim` run on
    examples/deepseek_moe_256.moe (0.61 s -> 0.52 s). Nothing is left to do then but flush
    the standard streams (output files are written and closed before the run returns), so the
    process ends at once, as mypy's command line does. Under a profiler, a coverage tool or a
    debugger (which report at exit) the process exits normally."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: the stream was closed before the process started
                stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


def collect_between_inputs() -> None:
    """Free the cycles the previous input left (with the collector off, nothing else does)."""
    if not gc.isenabled():
        gc.collect()
