"""The D2D interconnect of a machine as a networkx graph: hop distances and routes.

The compiler (trajectories, nearest channels) and the simulator (the links a transfer holds)
both read distances and routes from here, so they agree on what "near" means.

Nodes are chiplet ids; an edge is a bidirectional link of the machine's topology
(`dialects/machine.py`, `link_graph`) with its bandwidth in GB/s. Each direction of a link
is one *directed link*, with the link's full bandwidth; they are numbered in (source,
destination) order, the order in which the simulator gives them resource ids.

A *hop* is one directed link crossed. `distance(a, b)` is the fewest hops from chiplet a to
chiplet b (breadth-first search). A route is one of the shortest paths, chosen hop by hop: the
next chiplet is, among the neighbours one hop closer to the destination, the one whose id is
closest to the current chiplet's id, then the lower id. On a mesh a neighbour in the same row
(id ± 1) always comes before one in the same column (id ± cols), so the route is
dimension-ordered XY routing: along the row first (changing the column), then along the
column. On a torus the same holds, each dimension going the shorter way round. On a ring the
route goes the shorter way. Half way round an even ring, row or column both ways are as short,
and the rule still decides: a step that does not wrap (id ± 1) before one that does, then the
lower id. On a custom graph the rule is the same; it is deterministic, not tuned to the
package.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from dialects.machine import link_graph


class Interconnect:
    """The links of one machine, the hop distance between every two chiplets and routes."""

    def __init__(self, spec: Any):
        count = spec.rows * spec.cols
        graph = link_graph(spec)
        self.graph = graph
        # Directed links in (source, destination) order: the simulator's link resources.
        self.links: tuple[tuple[int, int], ...] = tuple(
            sorted(pair for a, b in graph.edges for pair in ((a, b), (b, a)))
        )
        self.link_gbps: tuple[float, ...] = tuple(graph.edges[a, b]["gbps"] for a, b in self.links)
        lengths = dict(nx.all_pairs_shortest_path_length(graph))
        # distances[a][b]: hops from a to b. The compiler asks 10^5-10^6 times per pass.
        self.distances: list[list[int]] = [
            [lengths[a][b] for b in range(count)] for a in range(count)
        ]
        self._next_hops = [
            sorted(graph.neighbors(here), key=lambda n, here=here: (abs(n - here), n))
            for here in range(count)
        ]
        self._paths: dict[tuple[int, int], tuple[int, ...]] = {}

    @property
    def chiplets(self) -> int:
        return len(self.distances)

    def distance(self, src: int, dst: int) -> int:
        """Hops on a shortest path from `src` to `dst` (0 from a chiplet to itself)."""
        return self.distances[src][dst]

    def path(self, src: int, dst: int) -> tuple[int, ...]:
        """The chiplets a transfer from `src` to `dst` passes, both included (the module
        docstring says which shortest path)."""
        key = (src, dst)
        if key not in self._paths:
            to_dst = self.distances[dst]  # links go both ways: distances are symmetric
            path = [src]
            while path[-1] != dst:
                here = path[-1]
                path.append(next(n for n in self._next_hops[here] if to_dst[n] == to_dst[here] - 1))
            self._paths[key] = tuple(path)
        return self._paths[key]
