"""A small pipeline for the broker connection tests, imported by real `dagcore worker` processes.

``Total`` sums the numbers ``Part(n)`` write; parts are limited to one running at a time
(``max_running``), so the run goes through the Redis semaphore as well as the run store and the
history stream. Outputs go under ``$DAGCORE_TEST_OUT``. Nothing here talks to Redis itself: the
worker's own connection (from ``DAGCORE_BROKER_URL``) is what the tests exercise.
"""

from __future__ import annotations

import os
from typing import Any

import dagcore


def _out(name: str) -> dagcore.LocalTarget:
    return dagcore.LocalTarget(os.path.join(os.environ.get("DAGCORE_TEST_OUT", "out"), name))


class Part(dagcore.Task):
    """Writes its number."""

    n = dagcore.IntParameter()
    max_running = 1

    def output(self) -> dagcore.LocalTarget:
        return _out(f"part-{self.n}.txt")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(str(self.n))


class Total(dagcore.Task):
    """Sums the parts 0 .. parts-1."""

    parts = dagcore.IntParameter(default=3)

    def requires(self) -> list[Part]:
        return [Part(n=n) for n in range(self.parts)]

    def output(self) -> dagcore.LocalTarget:
        return _out(f"total-{self.parts}.txt")

    def run(self) -> None:
        inputs: list[Any] = list(self.input())
        total = 0
        for target in inputs:
            with target.open("r") as part:
                total += int(part.read())
        with self.output().open("w") as out:
            out.write(str(total))
