"""The machine as the engine sees it: bandwidths in bytes per cycle and routes over link ids.

Everything comes from the module's `chiplet.system`: the fields of the machine table
(`dialects/machine.py`; `machine.clock_ghz`, `machine.sram_bytes`, ... read them) and its
interconnect (`dialects/interconnect.py`), which the compiler's distances come from too.

Resources that carry bytes are numbered densely: DDR channels first (`0 .. C-1`), then the
directed D2D links (`C ..`), ordered by (source, destination) chiplet. A route is the tuple of
link resource ids a transfer crosses, in order, along the interconnect's route (on a mesh,
dimension-ordered XY routing: along the row first, then along the column).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dialects.chiplet import SystemAttr
from dialects.interconnect import Interconnect


@dataclass(frozen=True)
class Machine:
    spec: Any  # dialects.machine.SystemSpec
    net: Interconnect

    @staticmethod
    def from_system(system: SystemAttr) -> Machine:
        return Machine(system.spec, system.interconnect)

    def __getattr__(self, name: str) -> Any:
        # Every field of the machine table, by its name: a new field needs no code here.
        if name in ("spec", "net"):  # not set yet (copying): no recursion
            raise AttributeError(name)
        return getattr(self.spec, name)

    @property
    def hop_latency(self) -> int:
        return self.spec.hop_latency_cycles

    @property
    def ddr_gbps(self) -> tuple[float, ...]:
        return tuple(channel.gbps for channel in self.spec.ddr)

    @property
    def ddr_chiplets(self) -> tuple[int, ...]:
        return tuple(channel.chiplet for channel in self.spec.ddr)

    @property
    def links(self) -> tuple[tuple[int, int], ...]:
        """(src chiplet, dst chiplet) of link resource C + index."""
        return self.net.links

    @property
    def num_chiplets(self) -> int:
        return self.spec.rows * self.spec.cols

    @property
    def num_channels(self) -> int:
        return len(self.spec.ddr)

    def capacities(self) -> list[float]:
        """Bytes per cycle of every resource: GB/s / GHz = bytes per cycle."""
        clock = self.spec.clock_ghz
        return [g / clock for g in self.ddr_gbps] + [g / clock for g in self.net.link_gbps]

    def resource_name(self, resource: int) -> str:
        if resource < self.num_channels:
            return f"ddr{resource}"
        src, dst = self.links[resource - self.num_channels]
        return f"link {src}->{dst}"

    @cached_property
    def link_resource(self) -> dict[tuple[int, int], int]:
        """(src chiplet, dst chiplet) -> resource id of that link."""
        return {link: self.num_channels + i for i, link in enumerate(self.links)}

    def route(self, src: int, dst: int) -> tuple[int, ...]:
        """Link resource ids from `src` to `dst`, in order (empty if src == dst)."""
        path = self.net.path(src, dst)
        index = self.link_resource
        return tuple(index[hop] for hop in zip(path, path[1:], strict=False))

    def route_table(self) -> list[list[tuple[int, ...]]]:
        """Every route at once, by [source][destination] (`route` gives one, as needed)."""
        n = self.num_chiplets
        return [[self.route(s, d) for d in range(n)] for s in range(n)]

    def cycles_to_us(self, cycles: float) -> float:
        return cycles / (self.spec.clock_ghz * 1e3)
