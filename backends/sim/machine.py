"""The machine as the engine sees it: bandwidths in bytes per cycle and XY routes over link ids.

Resources that carry bytes are numbered densely: DDR channels first (`0 .. C-1`), then the
directed D2D links of the mesh (`C ..`), ordered by (source, destination) chiplet. A route is the
tuple of link resource ids a transfer crosses under dimension-ordered XY routing: first along the
row (changing the column, X), then along the column (changing the row, Y).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from dialects.chiplet import SystemAttr


@dataclass(frozen=True)
class Machine:
    name: str
    rows: int
    cols: int
    clock_ghz: float
    ops_per_cycle: int
    sram_bytes: int
    ddr_gbps: tuple[float, ...]
    ddr_chiplets: tuple[int, ...]
    d2d_gbps: float
    hop_latency: int
    element_bytes: int
    links: tuple[tuple[int, int], ...]  # (src chiplet, dst chiplet) of link resource C + index

    @staticmethod
    def from_system(system: SystemAttr) -> Machine:
        rows, cols = system.rows.data, system.cols.data
        links = []
        for chiplet in range(rows * cols):
            r, c = divmod(chiplet, cols)
            for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
                if 0 <= r + dr < rows and 0 <= c + dc < cols:
                    links.append((chiplet, (r + dr) * cols + c + dc))
        ddr = system.ddr
        return Machine(
            name=system.system_name.data,
            rows=rows,
            cols=cols,
            clock_ghz=system.clock_ghz.data,
            ops_per_cycle=system.ops_per_cycle.data,
            sram_bytes=system.sram_bytes.data,
            ddr_gbps=tuple(g for g, _ in ddr),
            ddr_chiplets=tuple(c for _, c in ddr),
            d2d_gbps=system.d2d_gbps.data,
            hop_latency=system.hop_latency.data,
            element_bytes=system.element_bytes.data,
            links=tuple(sorted(links)),
        )

    @property
    def num_chiplets(self) -> int:
        return self.rows * self.cols

    @property
    def num_channels(self) -> int:
        return len(self.ddr_gbps)

    def capacities(self) -> list[float]:
        """Bytes per cycle of every resource: GB/s / GHz = bytes per cycle."""
        ddr = [g / self.clock_ghz for g in self.ddr_gbps]
        return ddr + [self.d2d_gbps / self.clock_ghz] * len(self.links)

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
        """Link resource ids from `src` to `dst` under XY routing (empty if src == dst)."""
        index = self.link_resource
        (r, c), (r1, c1) = divmod(src, self.cols), divmod(dst, self.cols)
        path = []
        here = src
        while c != c1:
            c += 1 if c1 > c else -1
            nxt = r * self.cols + c
            path.append(index[(here, nxt)])
            here = nxt
        while r != r1:
            r += 1 if r1 > r else -1
            nxt = r * self.cols + c
            path.append(index[(here, nxt)])
            here = nxt
        return tuple(path)

    def route_table(self) -> list[list[tuple[int, ...]]]:
        n = self.num_chiplets
        return [[self.route(s, d) for d in range(n)] for s in range(n)]

    def cycles_to_us(self, cycles: float) -> float:
        return cycles / (self.clock_ghz * 1e3)
