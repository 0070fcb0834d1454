"""The instruction-level simulator of lowered `cisa` programs (docs/simulator.md).

```python
from backends.sim import simulate
sim = simulate(module, check_numerics=True)    # module: cisa programs + chiplet.system
sim.report["latency_cycles"]; print(sim.text()); sim.csv(); sim.chrome_trace()
```

`simulate` flattens the programs once (`program.flatten`), runs the event-driven engine
(`engine.run`), optionally replays the data semantics on random values (`numerics`) and builds
the metrics report (`report`). Every problem is raised as `SimError`, an `FsedpError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backends.sim.api import SimError, Simulation, dumps, simulate

__all__ = ["SimError", "Simulation", "simulate", "dumps"]


def __getattr__(name: str):
    """The API, imported on first use: `import backends.sim.loop_choice` (fsedp-sim --version)
    must not load xDSL and numpy."""
    if name in __all__:
        from backends.sim import api

        return getattr(api, name)
    raise AttributeError(f"module 'backends.sim' has no attribute '{name}'")
