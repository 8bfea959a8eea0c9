"""How long resolving a large DAG takes, and how much memory it needs.

Usage: python -m bench.resolve N_NODES
A layered DAG of N_NODES tasks (each requires two of the layer below) whose outputs are
MockTargets that do not exist, so every node is visited, checked and planned.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import dagcore
from dagcore.graph import Resolver
from dagcore.mock import MockTarget

WIDTH = 1000


class Node(dagcore.Task):
    i = dagcore.IntParameter()

    def requires(self) -> Any:
        if self.i < WIDTH:
            return []
        base = (self.i // WIDTH - 1) * WIDTH
        return [Node(i=base + (self.i + k) % WIDTH) for k in (0, 1)]

    def output(self) -> MockTarget:
        return MockTarget(f"node/{self.i}")


class Top(dagcore.WrapperTask):
    n = dagcore.IntParameter()

    def requires(self) -> Any:
        return [Node(i=i) for i in range(self.n - WIDTH, self.n)]


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 300_000
    started = time.perf_counter()
    plan = Resolver(threads=4, fire_events=False).resolve([Top(n=n)])
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"resolve n_nodes={len(plan.nodes)} ok={plan.ok} wall_s={elapsed:.2f} "
        f"nodes_per_s={len(plan.nodes) / elapsed:.0f} peak_rss_mb={peak_mb:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
