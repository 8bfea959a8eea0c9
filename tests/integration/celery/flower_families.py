"""Task families for the Flower tests, imported by real `dagcore worker` processes.

The module is its own namespace, so the families are ``tests.integration.celery.flower_families.
Fetch`` and so on: the names Flower shows. Outputs go under ``$DAGCORE_TEST_OUT``.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

import dagcore

dagcore.auto_namespace(scope=__name__)

GATE_TIMEOUT = 30.0
"""Longest time a :class:`Gate` waits to be opened before it fails (no test hangs on it)."""


def _out(name: str) -> dagcore.LocalTarget:
    return dagcore.LocalTarget(os.path.join(os.environ.get("DAGCORE_TEST_OUT", "out"), name))


def gate_key(name: str) -> str:
    """The Redis key that opens ``Gate(name=name)``."""
    return f"test:flower:gate:{name}"


class Fetch(dagcore.Task):
    """Fetches one source for one day (writes a marker)."""

    day = dagcore.DateParameter()
    source = dagcore.Parameter()

    def output(self) -> dagcore.LocalTarget:
        return _out(f"fetch-{self.source}-{self.day:%Y-%m-%d}")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(self.source)


class Summarize(dagcore.Task):
    """Joins the fetched sources of a day."""

    day = dagcore.DateParameter()
    sources = dagcore.ListParameter()

    def requires(self) -> Any:
        return [Fetch(day=self.day, source=source) for source in self.sources]

    def output(self) -> dagcore.LocalTarget:
        return _out(f"summary-{self.day:%Y-%m-%d}")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(",".join(self.sources))


class Gate(dagcore.Task):
    """Runs until the test sets :func:`gate_key`, so that it can be seen running."""

    name = dagcore.Parameter()

    def output(self) -> dagcore.LocalTarget:
        return _out(f"gate-{self.name}")

    def run(self) -> None:
        client = redis.Redis.from_url(os.environ["DAGCORE_BROKER_URL"])
        try:
            deadline = time.monotonic() + GATE_TIMEOUT
            while not client.exists(gate_key(self.name)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"gate {self.name} was not opened in {GATE_TIMEOUT:g}s")
                time.sleep(0.1)
        finally:
            client.close()
        self.output().open("w").close()
