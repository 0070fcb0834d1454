"""The integer opcodes of `cisa` instructions, as the compact program forms number them.

Every module takes them from here. They are kept apart from `dialects/cisa_flat.py` (which reads
xDSL ops) so that code compiled ahead of time, the simulator's event loop
(`backends/sim/loop.py`), can use them without importing xDSL.
GEMM and ACC run on the matrix engine; LOAD, SEND and RECV move bytes. -1 stands for an op
that is not a cisa instruction.
"""

from typing import Final

ALLOC: Final = 0
FREE: Final = 1
INPUT: Final = 2
OUTPUT: Final = 3
LOAD: Final = 4
SEND: Final = 5
RECV: Final = 6
GEMM: Final = 7
ACC: Final = 8
BARRIER: Final = 9
END: Final = 10
