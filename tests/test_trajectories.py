"""Tours of schedule-trajectories (shape=tour): exact up to EXACT_TOUR_LIMIT stops, checked
against brute force; above it nearest neighbour + 2-opt, checked to be a path through every stop
that no single reversal shortens."""

from __future__ import annotations

import itertools
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from backends.sim.testing import parse
from passes.schedule_trajectories import EXACT_TOUR_LIMIT, _Router


@cache
def router(rows: int, cols: int) -> _Router:
    module = parse(
        f'builtin.module attributes {{chiplet.system = #chiplet.system<"t", mesh {rows}x{cols}, '
        "clock_ghz 1.0, ops_per_cycle 100, sram_bytes 1048576, ddr [32.0 at 0], d2d_gbps 16.0, "
        "hop_latency 5, element_bytes 1, slice_buffers 4>} {}"
    )
    return _Router(module.attributes["chiplet.system"])


def length(r: _Router, path) -> int:
    return sum(r.system.hops(a, b) for a, b in itertools.pairwise(path))


@st.composite
def tours(draw, min_stops: int, max_stops: int):
    rows, cols = draw(st.sampled_from([(2, 2), (3, 3), (2, 5), (4, 4), (5, 5), (6, 6)]))
    n = rows * cols
    entry = draw(st.integers(0, n - 1))
    size = draw(st.integers(min(min_stops, n - 1), min(max_stops, n - 1)))
    others = [c for c in range(n) if c != entry]
    stops = draw(st.lists(st.sampled_from(others), min_size=size, max_size=size, unique=True))
    return router(rows, cols), entry, frozenset(stops)


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
