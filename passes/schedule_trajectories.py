"""`schedule-trajectories{shape=... skip-idle=... entry=...}`: the stops of every slice.

A slice is loaded into its first stop (the entry chiplet) and then streams from stop to stop
(R2, R5); at each stop it is applied to that chiplet's tokens routed to its expert. The pass
stores the trajectory of slice s as `stops[s]` on its `chiplet.expert`. A path visits its stops
in that order, each forwarding to the next. A tree (`shape=tree`) also records `parents[s]`: the
chiplet each stop receives the slice from (-1 for the entry); a stop forwards to every stop
whose parent it is, on different links at once.

Under expert parallelism (a `chiplet.placement` in the module) a routed expert's slices have one
stop, the expert's home, which loads them; shared experts, computed by every chiplet on its own
tokens, stream along trajectories like FSE-DP's slices (loaded once, forwarded).

Which chiplets a slice visits:
- `skip-idle=true` (default): only the chiplets holding at least one token that uses the expert.
- `skip-idle=false`: every chiplet of the machine, as the published reference does (stops
  without such tokens only forward the slice: zero-token visits).

Distances are hops on the machine's interconnect (`dialects/interconnect.py`: the fewest D2D
links between two chiplets of its mesh, torus, ring or custom graph), the distances the
simulator's routes take.

Where it enters (`a` = the chiplet the slice's DDR channel is attached to, from
`distribute-slices`):
- `attached`: at `a` itself, even when `a` needs nothing of this expert (it then only forwards).
- `nearest-need` (default): at the stop fewest hops from `a` (`a` itself when it needs the slice).
- `max-free`: at the stop that has admitted the fewest DDR loads so far in load order (so the
  most buffer room), ties by hops from `a`; it spreads admissions over the chiplets.

How it visits the stops (`shape`):
- `spiral`, `boustrophedon` (row snake), `hilbert` (Hilbert curve over the smallest 2^k square
  covering the grid): a fixed cyclic order of all chiplets, rotated to start at the entry and
  restricted to the stops. They walk the `rows x cols` grid of chiplet ids whatever the
  topology (on a ring or a custom graph, consecutive stops need not be neighbours).
- `tour`: the shortest open path from the entry through the stops in hops: exact (Held-Karp)
  up to 9 stops, nearest neighbour improved by 2-opt above that. That heuristic was kept after
  measuring it against networkx's TSP approximations on the hop distances
  (`benchmarks/tours.py`, 200 random sets of 10 or more stops each): on a 4x4 torus 2700 hops
  in all, against 2699 for simulated annealing + 2-opt, 2700 for greedy + 2-opt, 2718 for
  greedy alone and 2787 for Christofides + 2-opt; on a 6x6 mesh 5836, the shortest (5845 for
  greedy or annealing + 2-opt, 5976 for Christofides + 2-opt), at 0.03-0.1 ms a tour against
  0.13-12 ms. Where the exact answer was computed (up to 12 stops), it was 34 hops above it
  over 98 torus sets and 11 over 18 mesh sets.
- `tree` (default in the pipelines): a shortest-path tree rooted at the entry: stops taken in
  order of hops from the entry (ties by id), each receiving from the stop already in the tree
  that lies on a shortest path from the entry to it and is nearest to it (ties: fewer
  children, then lower id). Every stop is as many forwarding steps from the entry as the
  interconnect allows, instead of up to stops - 1 along a path: a slice is forwarded only once
  it has fully arrived, so the last stops of a long path see it late and the chiplets need
  buffers for every slice in transit. On a 4x4 mesh with 1024 tokens a path needed 24 buffers
  where a tree needs 12-16 for the same latency.

Before (2x2 mesh, tokens 0,1 on chiplet 0, 2,3 on 1, ...; channel 0 attached to chiplet 0):

```mlir
chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 2, 3, 3>
chiplet.expert 3 slices 1 bytes 384 tokens 2 {channels = array<i64: 0>, order = array<i64: 0>}
```

After `schedule-trajectories{shape=tour skip-idle=true entry=nearest-need}`, when expert 3's
tokens live on chiplets 1 and 3:

```mlir
chiplet.expert 3 slices 1 bytes 384 tokens 2 {..., stops = [array<i64: 1, 3>]}
```
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, DenseArrayBase, ModuleOp

from dialects.attrs import i64_array
from dialects.chiplet import PartitionOp, SystemAttr
from passes._plan import (
    FsedpPass,
    expert_chiplet_tokens,
    expert_homes,
    int_array,
    load_order,
    read_layer,
    require_experts,
    require_op,
    slice_refs,
)

SHAPES = ("tree", "tour", "spiral", "boustrophedon", "hilbert")
ENTRIES = ("attached", "max-free", "nearest-need")
EXACT_TOUR_LIMIT = 9


def boustrophedon_order(rows: int, cols: int) -> list[int]:
    order: list[int] = []
    for row in range(rows):
        line = [row * cols + col for col in range(cols)]
        order.extend(line if row % 2 == 0 else reversed(line))
    return order


def spiral_order(rows: int, cols: int) -> list[int]:
    """Clockwise from chiplet 0 along the outer ring, then the inner rings."""
    order: list[int] = []
    top, bottom, left, right = 0, rows - 1, 0, cols - 1
    while top <= bottom and left <= right:
        order.extend(top * cols + c for c in range(left, right + 1))
        order.extend(r * cols + right for r in range(top + 1, bottom + 1))
        if top < bottom:
            order.extend(bottom * cols + c for c in range(right - 1, left - 1, -1))
        if left < right:
            order.extend(r * cols + left for r in range(bottom - 1, top, -1))
        top, bottom, left, right = top + 1, bottom - 1, left + 1, right - 1
    return order


def _hilbert_index(side: int, x: int, y: int) -> int:
    index, s = 0, side // 2
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        index += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant
            if rx == 1:
                x, y = s - 1 - x, s - 1 - y
            x, y = y, x
        s //= 2
    return index


def hilbert_order(rows: int, cols: int) -> list[int]:
    side = 1
    while side < max(rows, cols):
        side *= 2
    chiplets = [(r, c) for r in range(rows) for c in range(cols)]
    chiplets.sort(key=lambda rc: _hilbert_index(side, rc[1], rc[0]))
    return [r * cols + c for r, c in chiplets]


Trajectory = tuple[tuple[int, ...], tuple[int, ...]]  # (stops, parent of each stop)

CYCLES = {"spiral": spiral_order, "boustrophedon": boustrophedon_order, "hilbert": hilbert_order}


class _Router:
    """Trajectories on one machine, cached by (shape, entry, stops)."""

    def __init__(self, system: SystemAttr):
        self.system = system
        rows, cols = system.rows.data, system.cols.data
        self.cycles = {shape: make(rows, cols) for shape, make in CYCLES.items()}
        # dist[a][b]: hops from chiplet a to b. Tours ask for it 10^5-10^6 times on a 4x4 mesh.
        self.dist = system.interconnect.distances

    @cache  # noqa: B019 - one router per pass run; the cache dies with it
    def path(self, shape: str, entry: int, stops: frozenset[int]) -> Trajectory:
        """The stops in visiting order and the parent of each (-1 for the entry)."""
        if shape == "tree":
            return self._tree(entry, stops)
        if shape == "tour":
            order = self._tour(entry, stops)
        else:
            cycle = self.cycles[shape]
            start = cycle.index(entry)
            rotated = cycle[start:] + cycle[:start]
            order = tuple(c for c in rotated if c in stops or c == entry)
        return order, (-1, *order[:-1])

    def _tree(self, entry: int, stops: frozenset[int]) -> Trajectory:
        dist = self.dist[entry]
        placed = [entry]
        parents = [-1]
        children = {entry: 0}
        for stop in sorted(stops - {entry}, key=lambda c: (dist[c], c)):
            on_the_way = [p for p in placed if dist[p] + self.dist[p][stop] == dist[stop]]
            parent = min(on_the_way, key=lambda p: (self.dist[p][stop], children[p], p))
            children[parent] += 1
            children[stop] = 0
            placed.append(stop)
            parents.append(parent)
        return tuple(placed), tuple(parents)

    def _tour(self, entry: int, stops: frozenset[int]) -> tuple[int, ...]:
        """Exact up to EXACT_TOUR_LIMIT stops besides the entry; above, nearest neighbour and
        2-opt, which gave tours as short as networkx's approximations, or shorter, and 4-260
        times faster (module docstring)."""
        rest = sorted(stops - {entry})
        if len(rest) <= EXACT_TOUR_LIMIT:
            return (entry, *self._exact(entry, rest))
        return self._two_opt(self._nearest_neighbour(entry, rest))

    def _exact(self, entry: int, rest: list[int]) -> list[int]:
        """The shortest open path from `entry` through `rest` (Held-Karp); among equally short
        ones the lexicographically smallest, so ties read naturally (0-1-2 before 0-2-1)."""
        if not rest:
            return []
        n = len(rest)
        between = [[self.dist[a][b] for b in rest] for a in rest]  # by position in `rest`
        full = (1 << n) - 1
        # to_go[mask][last]: shortest way to visit the stops outside `mask`, starting at `last`
        to_go = [[0] * n for _ in range(full + 1)]
        for mask in range(full - 1, 0, -1):
            row = to_go[mask]
            unvisited = [nxt for nxt in range(n) if not (mask >> nxt) & 1]
            for last in range(n):
                if (mask >> last) & 1:
                    step = between[last]
                    row[last] = min(step[nxt] + to_go[mask | (1 << nxt)][nxt] for nxt in unvisited)
        path: list[int] = []
        from_here, mask = self.dist[entry], 0
        while mask != full:
            options = [i for i in range(n) if not (mask >> i) & 1]
            best = min(options, key=lambda i: (from_here[rest[i]] + to_go[mask | 1 << i][i], i))
            path.append(rest[best])
            from_here, mask = self.dist[rest[best]], mask | (1 << best)
        return path

    def _nearest_neighbour(self, entry: int, rest: list[int]) -> list[int]:
        path, left = [entry], set(rest)
        while left:
            here = path[-1]
            nxt = min(left, key=lambda c: (self.dist[here][c], c))
            path.append(nxt)
            left.remove(nxt)
        return path

    def _two_opt(self, path: list[int]) -> tuple[int, ...]:
        """Reverse path[i..j] while that shortens the open path (first improvement, in (i, j)
        order). Hops are symmetric, so a reversal changes only the two edges at its ends."""
        dist = self.dist
        n = len(path)
        improved = True
        while improved:
            improved = False
            for i in range(1, n - 1):
                for j in range(i + 1, n):
                    before, first, last = path[i - 1], path[i], path[j]
                    change = dist[before][last] - dist[before][first]
                    if j + 1 < n:
                        after = path[j + 1]
                        change += dist[first][after] - dist[last][after]
                    if change < 0:
                        path[i : j + 1] = path[i : j + 1][::-1]
                        improved = True
        return tuple(path)


@dataclass(frozen=True)
class ScheduleTrajectoriesPass(FsedpPass):
    name = "schedule-trajectories"

    shape: str = "tree"
    skip_idle: bool = True
    entry: str = "nearest-need"

    def __post_init__(self) -> None:
        self.check_choice("shape", self.shape, SHAPES)
        self.check_choice("entry", self.entry, ENTRIES)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        experts = require_experts(op, layer, self.name)
        owners = require_op(op, PartitionOp, self.name, "partition-tokens").owners.get_values()
        channels = {e.expert.value.data: int_array(e, "channels") for e in experts}
        for expert, per_slice in channels.items():
            if per_slice is None:
                raise self.error(
                    f"{layer.expert_name(expert)} has no DDR channels; run distribute-slices first"
                )
        system = layer.system
        attached = [chiplet for _, chiplet in system.spec.ddr]
        router = _Router(system)
        everyone = frozenset(range(layer.chiplets))
        homes = expert_homes(op)
        needs = {
            e: frozenset(c for c, tokens in enumerate(per_chiplet) if tokens)
            for e, per_chiplet in expert_chiplet_tokens(layer, owners).items()
        }
        admitted = [0] * layer.chiplets
        paths: dict[int, list[Trajectory]] = {
            e.expert.value.data: [((), ())] * len(slice_refs(e)) for e in experts
        }
        for ref in load_order(experts):
            if homes is not None and not layer.is_shared(ref.expert):
                home = homes[ref.expert]  # expert parallelism: the home loads and computes
                paths[ref.expert][ref.item] = ((home,), (-1,))
                admitted[home] += 1
                continue
            need = needs[ref.expert]
            channel_chiplet = attached[channels[ref.expert][ref.item]]
            if self.entry == "attached":
                entry = channel_chiplet
            elif self.entry == "nearest-need":
                entry = min(need, key=lambda c: (system.hops(channel_chiplet, c), c))
            else:
                entry = min(need, key=lambda c: (admitted[c], system.hops(channel_chiplet, c), c))
            admitted[entry] += 1
            stops = need if self.skip_idle else everyone
            paths[ref.expert][ref.item] = router.path(self.shape, entry, stops)
        arrays: dict[tuple[int, ...], DenseArrayBase] = {}  # equal arrays share one attribute

        def array(values: tuple[int, ...]) -> DenseArrayBase:
            if values not in arrays:
                arrays[values] = i64_array(values)
            return arrays[values]

        for expert in experts:
            trajectories = paths[expert.expert.value.data]
            expert.attributes["stops"] = ArrayAttr([array(stops) for stops, _ in trajectories])
            if self.shape == "tree":
                expert.attributes["parents"] = ArrayAttr(
                    [array(parents) for _, parents in trajectories]
                )
            else:
                expert.attributes.pop("parents", None)
