"""Process-level speed settings shared by the compiler and the simulator."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of the block.

    Lowering and simulation create some 10^5 long-lived objects (xDSL ops, flat programs); the
    collector rescanning that graph again and again takes a third of the run time, and nothing
    built there is cyclic garbage. The previous setting is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
