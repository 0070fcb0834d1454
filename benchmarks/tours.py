"""Open tours above the exact limit: which heuristic gives shorter ones (not a timed test).

`schedule-trajectories{shape=tour}` visits the stops of a slice along the shortest open path
from its entry, exact (Held-Karp) up to EXACT_TOUR_LIMIT stops. Above it a heuristic decides.
This script compares, on random stop sets of a 4x4 torus and a 6x6 mesh (hop distances of the
interconnect graph), the total hops of:

- `nn+2opt`: nearest neighbour from the entry, improved by 2-opt (the pass's own);
- networkx's TSP approximations on the metric closure of the stops (a complete graph weighted by
  hops): `christofides`, `greedy`, `simulated_annealing` and `threshold_accepting` (seeded, each
  started from the greedy cycle). Each returns a cycle through the entry; the open path is the
  shorter of the two that drop one of the entry's cycle edges;
- the same four followed by the pass's 2-opt (`+2opt`);
- `exact` (Held-Karp, as below the limit) where a set has at most `--exact-up-to` stops, to say
  how far from the shortest each method is on those sets.

    python benchmarks/tours.py                # 200 stop sets per machine
    python benchmarks/tours.py --cases 50 --seed 3
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402
from networkx.algorithms import approximation  # noqa: E402

from dialects.chiplet import SystemAttr  # noqa: E402
from fsedp_compiler.presets import get_system  # noqa: E402
from passes.schedule_trajectories import EXACT_TOUR_LIMIT, _Router  # noqa: E402

MACHINES = {
    "4x4 torus": get_system("paper-4x4").replace(topology="torus"),
    "6x6 mesh": get_system("paper-4x4").replace(rows=6, cols=6),
}


def closure(router: _Router, nodes: list[int]) -> nx.Graph:
    """The complete graph on `nodes`, each edge weighted by hops between its ends."""
    graph = nx.Graph()
    for a, b in itertools.combinations(nodes, 2):
        graph.add_edge(a, b, weight=router.dist[a][b])
    return graph


def open_path(router: _Router, cycle: list[int], entry: int) -> list[int]:
    """The shorter of the two open paths from `entry` that a cycle through it gives."""
    ring = cycle[:-1] if cycle[0] == cycle[-1] else cycle
    start = ring.index(entry)
    forward = ring[start:] + ring[:start]
    backward = [entry, *reversed(forward[1:])]
    return min(forward, backward, key=lambda path: length(router, path))


def length(router: _Router, path: list[int]) -> int:
    return sum(router.dist[a][b] for a, b in itertools.pairwise(path))


def networkx_tour(router: _Router, entry: int, rest: list[int], method: str) -> list[int]:
    graph = closure(router, [entry, *rest])
    if method == "christofides":
        cycle = approximation.christofides(graph)
    elif method == "greedy":
        cycle = approximation.greedy_tsp(graph, source=entry)
    else:
        start = approximation.greedy_tsp(graph, source=entry)
        anneal = getattr(approximation, f"{method}_tsp")
        cycle = anneal(graph, start, source=entry, seed=0)
    return open_path(router, cycle, entry)


def candidates(router: _Router, entry: int, rest: list[int]) -> dict[str, tuple[list[int], float]]:
    """Every method's open path from `entry` through `rest`, and the seconds it took."""
    tours: dict[str, tuple[list[int], float]] = {}

    def timed(method: str, make) -> list[int]:
        started = time.perf_counter()
        path = list(make())
        tours[method] = (path, time.perf_counter() - started)
        return path

    timed("nn+2opt", lambda: router._two_opt(router._nearest_neighbour(entry, rest)))
    for method in ("christofides", "greedy", "simulated_annealing", "threshold_accepting"):
        path = timed(method, lambda method=method: networkx_tour(router, entry, rest, method))
        seconds = tours[method][1]
        timed(f"{method}+2opt", lambda path=path: router._two_opt(list(path)))
        tours[f"{method}+2opt"] = (tours[f"{method}+2opt"][0], tours[f"{method}+2opt"][1] + seconds)
    return tours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact-up-to", type=int, default=12)
    args = parser.parse_args()
    for name, spec in MACHINES.items():
        router = _Router(SystemAttr(spec))
        chiplets = spec.rows * spec.cols
        rng = random.Random(args.seed)
        totals: dict[str, int] = {}
        seconds: dict[str, float] = {}
        best: dict[str, int] = {}
        gaps: dict[str, int] = {}  # hops above the shortest, over the sets solved exactly
        counted = 0
        for _ in range(args.cases):
            entry = rng.randrange(chiplets)
            others = [c for c in range(chiplets) if c != entry]
            rest = sorted(rng.sample(others, rng.randint(EXACT_TOUR_LIMIT + 1, len(others))))
            tours = candidates(router, entry, rest)
            if len(rest) <= args.exact_up_to:
                started = time.perf_counter()
                exact = [entry, *router._exact(entry, rest)]
                tours["exact"] = (exact, time.perf_counter() - started)
            lengths = {method: length(router, path) for method, (path, _) in tours.items()}
            shortest = min(lengths.values())
            if "exact" in lengths:
                counted += 1
                for method, hops in lengths.items():
                    gaps[method] = gaps.get(method, 0) + hops - lengths["exact"]
                del lengths["exact"]
            for method, hops in lengths.items():
                totals[method] = totals.get(method, 0) + hops
                best[method] = best.get(method, 0) + (hops == shortest)
                seconds[method] = seconds.get(method, 0.0) + tours[method][1]
        print(f"{name}, {args.cases} stop sets, {EXACT_TOUR_LIMIT + 1} or more besides the entry:")
        for method in sorted(totals, key=lambda m: (totals[m], m)):
            print(
                f"  {method:28s} total {totals[method]:6d} hops, shortest of all in "
                f"{best[method]:4d} sets, {1e3 * seconds[method] / args.cases:7.2f} ms per tour"
            )
        print(f"  on the {counted} sets with at most {args.exact_up_to} stops, above the shortest:")
        for method in sorted(gaps, key=lambda m: (gaps[m], m)):
            print(f"  {method:28s} {gaps[method]:4d} hops in all")


if __name__ == "__main__":
    main()
