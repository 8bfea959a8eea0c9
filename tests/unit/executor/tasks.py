"""Task families used by the local executor tests (importable, so pool workers can build them)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import dagcore
from dagcore.task import DynamicRequirements


def _stamp(path: str, text: str = "") -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(text)


class Step(dagcore.Task):
    """Writes its pid; requires ``Step(i-1)`` down to 0."""

    i = dagcore.IntParameter()
    sleep = dagcore.FloatParameter(default=0.0, significant=False)

    def requires(self) -> Any:
        return Step(i=self.i - 1, sleep=self.sleep) if self.i > 0 else []

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/step-{self.i}")

    def run(self) -> None:
        time.sleep(self.sleep)
        with self.output().open("w") as out:
            out.write(str(os.getpid()))


class Flaky(dagcore.Task):
    """Fails ``failures`` times (counted in a file), then succeeds."""

    name = dagcore.Parameter()
    failures = dagcore.IntParameter(default=2)
    retry_count = 3
    retry_delay = 0.2

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/flaky-{self.name}")

    def run(self) -> None:
        counter = Path(f"out/flaky-{self.name}.attempts")
        seen = int(counter.read_text()) if counter.exists() else 0
        counter.parent.mkdir(parents=True, exist_ok=True)
        counter.write_text(str(seen + 1))
        if seen < self.failures:
            raise RuntimeError(f"flaky failure {seen + 1}")
        self.output().open("w").close()


class AlwaysFails(dagcore.Task):
    name = dagcore.Parameter(default="x")

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/never-{self.name}")

    def run(self) -> None:
        raise ValueError("this task always fails")


class AfterFailure(dagcore.Task):
    def requires(self) -> Any:
        return AlwaysFails()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/after-failure")

    def run(self) -> None:
        self.output().open("w").close()


class Independent(dagcore.Task):
    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/independent")

    def run(self) -> None:
        self.output().open("w").close()


class Limited(dagcore.Task):
    """Records its run interval; at most ``max_running`` run at once."""

    n = dagcore.IntParameter()
    max_running = 2

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/limited-{self.n}")

    def run(self) -> None:
        start = time.time()
        time.sleep(0.15)
        with self.output().open("w") as out:
            out.write(f"{start} {time.time()}")


class UsesDb(dagcore.Task):
    n = dagcore.IntParameter()
    resources = {"db": 1}

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/db-{self.n}")

    def run(self) -> None:
        start = time.time()
        time.sleep(0.1)
        with self.output().open("w") as out:
            out.write(f"{start} {time.time()}")


class Fan(dagcore.WrapperTask):
    family = dagcore.Parameter()
    n = dagcore.IntParameter()

    def requires(self) -> Any:
        cls = Limited if self.family == "Limited" else UsesDb
        return [cls(n=i) for i in range(self.n)]


class Ordered(dagcore.Task):
    """Appends its name to a shared log, to observe the order tasks run in."""

    name = dagcore.Parameter()
    prio = dagcore.IntParameter(default=0)

    @property
    def priority(self) -> int:  # type: ignore[override]
        return self.prio

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/ordered-{self.name}")

    def run(self) -> None:
        _stamp("out/order.log", self.name + "\n")
        self.output().open("w").close()


class Leaf(dagcore.Task):
    n = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/leaf-{self.n}")

    def run(self) -> None:
        _stamp("out/leaf-runs.log", f"{self.n}\n")
        with self.output().open("w") as out:
            out.write(str(self.n * 10))


class Dynamic(dagcore.Task):
    """Yields Leaf tasks one at a time, then a DynamicRequirements of more."""

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/dynamic")

    def run(self) -> Any:
        _stamp("out/dynamic-runs.log", "run\n")
        first = yield Leaf(n=1)
        with first.open() as handle:
            total = int(handle.read())
        more = yield DynamicRequirements([Leaf(n=2), Leaf(n=3)])
        for target in more:
            with target.open() as handle:
                total += int(handle.read())
        with self.output().open("w") as out:
            out.write(str(total))


class Slow(dagcore.Task):
    seconds = dagcore.FloatParameter(default=30.0)
    worker_timeout = 1.0

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/slow")

    def run(self) -> None:
        time.sleep(self.seconds)
        self.output().open("w").close()


class Nap(dagcore.Task):
    """Sleeps; writes ``out/nap-N.started`` first so tests know it is running."""

    n = dagcore.IntParameter()
    seconds = dagcore.FloatParameter(default=1.5)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/nap-{self.n}")

    def run(self) -> None:
        _stamp(f"out/nap-{self.n}.started")
        time.sleep(self.seconds)
        self.output().open("w").close()


class Naps(dagcore.WrapperTask):
    n = dagcore.IntParameter(default=6)
    seconds = dagcore.FloatParameter(default=1.5)

    def requires(self) -> Any:
        return [Nap(n=i, seconds=self.seconds) for i in range(self.n)]
