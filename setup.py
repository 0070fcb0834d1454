"""Build hook: compile the simulator's event loop with mypyc (everything else is in pyproject.toml).

`backends/sim/loop.py` is plain, fully typed Python over packed arrays (librt.vecs); compiled,
it runs 5-8 times as fast (benchmarks/sim_speed.py). The compiled module is optional: without a
working C compiler the build warns and the project installs as pure Python, which gives the
same results, only slower. `FSEDP_PURE_PYTHON=1` at install time skips the compilation on purpose.
"""

import hashlib
import os
import sys
from pathlib import Path

from setuptools import setup

LOOP = "backends/sim/loop.py"
OPCODES = "dialects/cisa_opcodes.py"
# What the loop was compiled from, both files (mypyc builds the opcode numbers into the loop):
# backends/sim/engine.py runs the source instead of a compiled module that no longer matches
# them (an edited file in an editable install).
STAMP = "backends/sim/_loop_stamp.py"


def compiled_modules():
    if os.environ.get("FSEDP_PURE_PYTHON", "") not in ("", "0"):
        # An editable install would otherwise keep importing a module compiled earlier.
        for leftover in [*Path(LOOP).parent.glob("loop*.so"), *Path(LOOP).parent.glob("loop*.pyd")]:
            leftover.unlink()
        return []
    if len(sys.argv) > 1 and sys.argv[1] in ("egg_info", "dist_info"):
        return []  # pip asks for metadata first; only the build needs the extensions
    from mypyc.build import mypycify

    sha256 = {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in (LOOP, OPCODES)}
    Path(STAMP).write_text(
        f'"""Written by setup.py when it compiles {LOOP}: SHA-256 of what it was compiled from, '
        'by path from the project root."""\n\n'
        f"SOURCES = {sha256!r}\n"
    )
    # Type-check the loop and the opcode numbers it imports, nothing else: following imports
    # would pull in the parent package's imports (xDSL and the whole simulator).
    sources = ["--follow-imports=skip", LOOP, OPCODES]
    extensions = mypycify(sources, only_compile_paths=[LOOP], opt_level="3")
    for extension in extensions:
        extension.optional = True  # a failed C build falls back to the pure Python module
    return extensions


setup(ext_modules=compiled_modules())
