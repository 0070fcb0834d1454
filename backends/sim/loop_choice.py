"""Which event loop the simulator runs: `backends/sim/loop.py` compiled with mypyc, or its
source as plain Python.

The compiled module runs if there is one, it loads and it was built from the current sources
(setup.py stamps their SHA-256 into `_loop_stamp.py`); otherwise the source, with a warning
when the compiled module is stale or does not load. `FSEDP_PURE_PYTHON=1` asks for the source
(for debugging: tracebacks, pdb). Only the standard library and the loop itself are imported
here, so `fsedp-sim --version` can say which loop runs without loading the simulator.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType


def pure_python_requested() -> bool:
    return os.environ.get("FSEDP_PURE_PYTHON", "") not in ("", "0")


def loop_source() -> ModuleType:
    """`backends/sim/loop.py` run as plain Python, even where a compiled module exists."""
    name = "backends.sim._loop_source"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("loop.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _import_installed() -> ModuleType | None:
    """`backends.sim.loop` as installed (compiled where it was), or None, with a warning, when
    the compiled module cannot be loaded (say, a librt upgrade changed the ABI it was built
    against): the source still can."""
    try:
        return importlib.import_module("backends.sim.loop")
    except (ImportError, ValueError) as error:
        warnings.warn(
            f"the simulator's compiled event loop cannot be loaded ({error}); running it as "
            "plain Python (slower). Reinstall (pip install -e .) to compile it again.",
            stacklevel=2,
        )
        return None


_loop = _import_installed()


def _loop_module() -> ModuleType:
    """The event loop to run: the mypyc-compiled module if there is one, it loads and it was
    built from the current sources; otherwise the source (with a warning when the compiled
    module is stale or does not load). `FSEDP_PURE_PYTHON=1` asks for the source (for
    debugging: tracebacks, pdb)."""
    if _loop is None:
        return loop_source()
    if pure_python_requested():
        return loop_source()
    if not _compiled(_loop):
        # A failed C build is silent under a plain `pip install`: say it where it costs time.
        warnings.warn(
            "the simulator's event loop was not compiled at install time (no C compiler? "
            "`pip install -v -e .` shows the build log); running it as plain Python (slower, "
            "same results). FSEDP_PURE_PYTHON=1 says this is on purpose and silences this note.",
            stacklevel=2,
        )
        return _loop
    stale = _stale_sources()
    if stale:
        warnings.warn(
            f"{', '.join(stale)} changed after the simulator's event loop was compiled; running "
            "it as plain Python (slower). Reinstall (pip install -e .) to compile it again.",
            stacklevel=2,
        )
        return loop_source()
    return _loop


def _compiled(module: ModuleType) -> bool:
    return not module.__file__.endswith(".py")


def _stale_sources() -> list[str]:
    """The files the compiled loop was built from (setup.py's stamp) that differ now; the loop
    itself if there is no stamp."""
    try:
        from backends.sim._loop_stamp import SOURCES
    except ImportError:
        return ["backends/sim/loop.py"]
    root = Path(__file__).resolve().parents[2]
    return [
        path
        for path, digest in SOURCES.items()
        if hashlib.sha256((root / path).read_bytes()).hexdigest() != digest
    ]


_LOOP = _loop_module()
Loop = _LOOP.Loop
LOOP_COMPILED = _compiled(_LOOP)  # reported by fsedp-sim --version
