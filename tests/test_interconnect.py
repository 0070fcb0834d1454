"""The interconnect graph: which links each topology builds, hop distances and routes.

Routes on meshes are compared with an independent dimension-ordered XY router, pair by pair,
so that results on meshes cannot change; tori, rings and custom graphs against hand-made
expectations and against networkx's own shortest path lengths.
"""

from __future__ import annotations

import itertools

import networkx as nx
import pytest

from dialects.interconnect import Interconnect
from dialects.machine import DdrChannel, Link, default_system, undirected_links


def machine(rows: int, cols: int, topology: str = "mesh", links=()):
    spec = default_system("t").replace(
        rows=rows, cols=cols, topology=topology, links=tuple(links), ddr=(DdrChannel(1.0, 0),)
    )
    spec.validate()
    return spec


def xy_route(src: int, dst: int, cols: int) -> tuple[int, ...]:
    """Dimension-ordered XY routing: along the row (changing the column), then the column."""
    (r, c), (r1, c1) = divmod(src, cols), divmod(dst, cols)
    path = [src]
    while c != c1:
        c += 1 if c1 > c else -1
        path.append(r * cols + c)
    while r != r1:
        r += 1 if r1 > r else -1
        path.append(r * cols + c)
    return tuple(path)


@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 5), (5, 1), (2, 2), (3, 4), (4, 4), (6, 6)])
def test_mesh_routes_are_xy_routes(rows, cols):
    net = Interconnect(machine(rows, cols))
    for src, dst in itertools.product(range(rows * cols), repeat=2):
        assert net.path(src, dst) == xy_route(src, dst, cols), (src, dst)
        assert net.distance(src, dst) == len(xy_route(src, dst, cols)) - 1


def test_mesh_links_are_grid_neighbours_in_both_directions():
    net = Interconnect(machine(2, 3))
    undirected = {(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)}
    assert set(net.links) == undirected | {(b, a) for a, b in undirected}
    assert list(net.links) == sorted(net.links)  # the simulator's resource order
    assert set(net.link_gbps) == {288.0}


def test_torus_adds_one_wrap_link_per_row_and_column_longer_than_two():
    links = {(link.a, link.b) for link in undirected_links(machine(3, 4, "torus"))}
    mesh = {(link.a, link.b) for link in undirected_links(machine(3, 4))}
    assert links - mesh == {(0, 3), (4, 7), (8, 11), (0, 8), (1, 9), (2, 10), (3, 11)}
    # A side of 2: the wrap-around would join neighbours already joined.
    assert undirected_links(machine(2, 2, "torus")) == undirected_links(machine(2, 2))


def test_torus_routes_take_the_wrap_around_and_keep_x_before_y():
    net = Interconnect(machine(4, 4, "torus"))
    assert net.path(0, 3) == (0, 3)  # the row's wrap-around link, not 0-1-2-3
    assert net.path(0, 12) == (0, 12)  # the column's
    assert net.path(0, 15) == (0, 3, 15)  # X (wrap) first, then Y (wrap)
    assert net.distance(5, 15) == 4  # (1,1) to (3,3): 2 + 2, both ways round as short
    assert net.path(1, 3) == (1, 0, 3)  # half way round: the lower id of equal steps


def test_ring_routes_go_the_shorter_way():
    net = Interconnect(machine(1, 8, "ring"))
    assert net.path(0, 7) == (0, 7)
    assert net.path(1, 6) == (1, 0, 7, 6)
    # Half way round: a step that does not wrap, then the lower id.
    assert net.path(0, 4) == (0, 1, 2, 3, 4)
    assert net.path(5, 1) == (5, 4, 3, 2, 1)
    assert max(max(row) for row in net.distances) == 4
    # rows x cols only counts the chiplets: 2x4 is the same ring
    assert Interconnect(machine(2, 4, "ring")).links == net.links


def test_custom_links_with_their_own_bandwidth():
    links = (Link(0, 1), Link(3, 1, 144.0), Link(3, 2))
    net = Interconnect(machine(2, 2, "custom", links))
    assert net.links == ((0, 1), (1, 0), (1, 3), (2, 3), (3, 1), (3, 2))
    assert net.link_gbps == (288.0, 288.0, 144.0, 288.0, 144.0, 288.0)
    assert net.path(0, 2) == (0, 1, 3, 2)
    assert net.distance(2, 0) == 3


@pytest.mark.parametrize(
    "rows, cols, topology", [(3, 5, "torus"), (1, 9, "ring"), (4, 4, "mesh"), (2, 6, "torus")]
)
def test_routes_are_shortest_paths_along_links(rows, cols, topology):
    net = Interconnect(machine(rows, cols, topology))
    lengths = dict(nx.all_pairs_shortest_path_length(net.graph))
    links = set(net.links)
    for src, dst in itertools.product(range(rows * cols), repeat=2):
        path = net.path(src, dst)
        assert path[0] == src and path[-1] == dst
        assert len(path) - 1 == lengths[src][dst] == net.distance(src, dst)
        assert all(hop in links for hop in itertools.pairwise(path))
