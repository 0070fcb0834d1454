"""Trajectories of schedule-trajectories. Tours (shape=tour): exact up to EXACT_TOUR_LIMIT stops,
checked against brute force; above it nearest neighbour + 2-opt, checked to be a path through
every stop that no single reversal shortens. Trees (shape=tree): shortest-path trees rooted at
the entry. On meshes, tori and rings: distances are the interconnect graph's hops."""

from __future__ import annotations

import itertools
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from fsedp_compiler.testing import parse
from passes.schedule_trajectories import EXACT_TOUR_LIMIT, _Router


@cache
def router(rows: int, cols: int, topology: str = "mesh") -> _Router:
    module = parse(
        f'builtin.module attributes {{chiplet.system = #chiplet.system<"t", rows {rows}, cols {cols}, '
        f"topology {topology}, clock_ghz 1.0, ops_per_cycle 100, sram_bytes 1048576, "
        "ddr [32.0 at 0], d2d_gbps 16.0, hop_latency_cycles 5, element_bytes 1, slice_buffers 4>} {}"
    )
    return _Router(module.attributes["chiplet.system"])


MACHINES = [
    (2, 2, "mesh"),
    (3, 3, "mesh"),
    (2, 5, "mesh"),
    (4, 4, "mesh"),
    (5, 5, "mesh"),
    (6, 6, "mesh"),
    (4, 4, "torus"),
    (3, 5, "torus"),
    (1, 12, "ring"),
]


def length(r: _Router, path) -> int:
    return sum(r.system.hops(a, b) for a, b in itertools.pairwise(path))


@st.composite
def tours(draw, min_stops: int, max_stops: int):
    rows, cols, topology = draw(st.sampled_from(MACHINES))
    n = rows * cols
    entry = draw(st.integers(0, n - 1))
    size = draw(st.integers(min(min_stops, n - 1), min(max_stops, n - 1)))
    others = [c for c in range(n) if c != entry]
    stops = draw(st.lists(st.sampled_from(others), min_size=size, max_size=size, unique=True))
    return router(rows, cols, topology), entry, frozenset(stops)


@settings(max_examples=60, deadline=None)
@given(tours(0, 6))
def test_short_tours_are_the_shortest_and_first_in_order(case):
    r, entry, stops = case
    tour = r._tour(entry, stops)
    best = min(
        ((entry, *order) for order in itertools.permutations(sorted(stops))),
        key=lambda path: (length(r, path), path),
    )
    assert tour == best


@settings(max_examples=60, deadline=None)
@given(tours(EXACT_TOUR_LIMIT + 1, 36))
def test_long_tours_visit_every_stop_and_no_reversal_shortens_them(case):
    r, entry, stops = case
    tour = list(r._tour(entry, stops))
    assert tour[0] == entry
    assert sorted(tour[1:]) == sorted(stops)
    total = length(r, tour)
    for i in range(1, len(tour) - 1):
        for j in range(i + 1, len(tour)):
            reversed_ = tour[:i] + tour[i : j + 1][::-1] + tour[j + 1 :]
            assert length(r, reversed_) >= total


@settings(max_examples=80, deadline=None)
@given(tours(0, 36))
def test_trees_reach_every_stop_by_a_shortest_path(case):
    r, entry, stops = case
    order, parents = r._tree(entry, stops | {entry})
    assert order[0] == entry and parents[0] == -1
    assert sorted(order[1:]) == sorted(stops - {entry})
    hops = r.dist[entry]
    assert [hops[c] for c in order] == sorted(hops[c] for c in order)  # nearest first
    reached = {entry: 0}  # mesh hops from the entry along the tree's edges
    for stop, parent in zip(order[1:], parents[1:], strict=True):
        assert parent in reached  # each stop receives from one that already has the slice
        reached[stop] = reached[parent] + r.dist[parent][stop]
        assert reached[stop] == hops[stop]  # no detour: every tree path is a shortest path
    # each stop receives from the nearest stop that lies on a shortest way to it
    for stop, parent in zip(order[1:], parents[1:], strict=True):
        earlier = order[: order.index(stop)]
        on_the_way = [p for p in earlier if hops[p] + r.dist[p][stop] == hops[stop]]
        assert r.dist[parent][stop] == min(r.dist[p][stop] for p in on_the_way)
