"""Task families for the Celery executor tests, imported by real `dagcore worker` processes.

Every ``run()`` counts itself in Redis (``test:runs:<task_id>``), so tests can prove each task
ran exactly once, and checks that its inputs exist when it starts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import redis

import dagcore


def out() -> str:
    """Where outputs go: ``$DAGCORE_TEST_OUT`` (read on every call; tests set it late)."""
    return os.environ.get("DAGCORE_TEST_OUT", "out")


def _redis() -> redis.Redis[Any]:
    return redis.Redis.from_url(os.environ["DAGCORE_BROKER_URL"], decode_responses=True)


def ran(task: dagcore.Task) -> None:
    """Count one execution of ``task``; record when it started and ended."""
    client = _redis()
    client.incr(f"test:runs:{task.task_id}")
    client.rpush("test:order", task.task_id)


def deps_of(shape: str, name: str) -> list[str]:
    """Requirements of node ``name`` in a named graph shape."""
    if shape == "diamond":
        return {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}[name]
    if shape == "n":  # A->C, B->C, B->D
        return {"A": [], "B": [], "C": ["A", "B"], "D": ["B"]}[name]
    if shape.startswith("lattice"):
        i, j = (int(x) for x in name.split("_"))
        out = []
        if i > 0:
            out.append(f"{i - 1}_{j}")
        if j > 0:
            out.append(f"{i}_{j - 1}")
        return out
    raise KeyError(shape)


class G(dagcore.Task):
    """A node of a named graph shape."""

    shape = dagcore.Parameter()
    name = dagcore.Parameter()
    sleep = dagcore.FloatParameter(default=0.0, significant=False)

    def requires(self) -> Any:
        return [
            G(shape=self.shape, name=d, sleep=self.sleep) for d in deps_of(self.shape, self.name)
        ]

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/{self.shape}/{self.name}")

    def run(self) -> None:
        for target in dagcore.task.flatten(self.input()):
            if not target.exists():
                raise RuntimeError(f"{self!r} started before its input {target.path} existed")
        ran(self)
        time.sleep(self.sleep)
        with self.output().open("w") as out:
            out.write(self.name)


class Roots(dagcore.WrapperTask):
    shape = dagcore.Parameter()
    names = dagcore.ListParameter()
    sleep = dagcore.FloatParameter(default=0.0, significant=False)

    def requires(self) -> Any:
        return [G(shape=self.shape, name=n, sleep=self.sleep) for n in self.names]


class Extract(dagcore.Task):
    i = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/etl/e{self.i}")

    def run(self) -> None:
        ran(self)
        with self.output().open("w") as f:
            f.write(str(self.i))


class Transform(dagcore.Task):
    i = dagcore.IntParameter()

    def requires(self) -> Extract:
        return Extract(i=self.i)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/etl/t{self.i}")

    def run(self) -> None:
        ran(self)
        with self.input().open() as f, self.output().open("w") as g:
            g.write(f.read())


class Load(dagcore.Task):
    i = dagcore.IntParameter()

    def requires(self) -> Transform:
        return Transform(i=self.i)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/etl/l{self.i}")

    def run(self) -> None:
        ran(self)
        with self.input().open() as f, self.output().open("w") as g:
            g.write(f.read())


class Report(dagcore.Task):
    n = dagcore.IntParameter()

    def requires(self) -> Any:
        return [Load(i=i) for i in range(self.n)]

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/etl/report")

    def run(self) -> None:
        ran(self)
        with self.output().open("w") as g:
            g.write(str(len(self.input())))


class Flaky(dagcore.Task):
    """Fails ``failures`` times, then succeeds; retried by Celery."""

    name = dagcore.Parameter()
    failures = dagcore.IntParameter(default=2)
    retry_count = 3
    retry_delay = 0.5

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/flaky-{self.name}")

    def run(self) -> None:
        ran(self)
        seen = int(_redis().incr(f"test:flaky:{self.name}"))
        if seen <= self.failures:
            raise RuntimeError(f"flaky failure {seen}")
        self.output().open("w").close()


class Broken(dagcore.Task):
    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/broken")

    def run(self) -> None:
        ran(self)
        raise ValueError("broken on purpose")


class AfterBroken(dagcore.Task):
    def requires(self) -> Broken:
        return Broken()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/after-broken")

    def run(self) -> None:
        ran(self)
        self.output().open("w").close()


class NeedsTooMuch(dagcore.Task):
    """Needs more of a resource than exists: refused before anything is submitted."""

    resources = {"db": 5}  # noqa: RUF012 - Luigi's spelling

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/too-much")

    def run(self) -> None:
        ran(self)


class Slow(dagcore.Task):
    """Runs longer than the broker's visibility timeout, so Redis redelivers it meanwhile."""

    seconds = dagcore.FloatParameter(default=20.0)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/slow")

    def run(self) -> None:
        ran(self)
        time.sleep(self.seconds)
        self.output().open("w").close()


class WritesThenHangs(dagcore.Task):
    """Writes its output, says so, then hangs: the test SIGKILLs the worker before finish()."""

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/hangs")

    def run(self) -> None:
        ran(self)
        self.output().open("w").close()
        _redis().set("test:hangs:written", "1")
        time.sleep(600)


class AfterHang(dagcore.Task):
    def requires(self) -> WritesThenHangs:
        return WritesThenHangs()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/after-hang")

    def run(self) -> None:
        ran(self)
        self.output().open("w").close()


class Chain(dagcore.Task):
    """``run()`` yields ``Chain(depth - 1)``: a chain of dynamic requirements."""

    depth = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/chain-{self.depth}")

    def run(self) -> Any:
        ran(self)
        if self.depth > 0:
            yield Chain(depth=self.depth - 1)
        self.output().open("w").close()


class YieldsRunning(dagcore.Task):
    """Yields a task that another branch of the run is running at that moment."""

    def requires(self) -> Any:
        return []

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/yields-running")

    def run(self) -> Any:
        ran(self)
        deadline = time.time() + 20
        while not _redis().exists("test:sleeper:started") and time.time() < deadline:
            time.sleep(0.05)
        yield Sleeper()
        self.output().open("w").close()


class Sleeper(dagcore.Task):
    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/sleeper")

    def run(self) -> None:
        ran(self)
        _redis().set("test:sleeper:started", "1")
        time.sleep(1.0)
        self.output().open("w").close()


class DynamicPair(dagcore.WrapperTask):
    def requires(self) -> Any:
        return [Sleeper(), YieldsRunning()]


class Naps(dagcore.WrapperTask):
    n = dagcore.IntParameter(default=10)

    def requires(self) -> Any:
        return [Nap(i=i) for i in range(self.n)]


class Nap(dagcore.Task):
    i = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/nap-{self.i}")

    def run(self) -> None:
        ran(self)
        time.sleep(1.0)
        self.output().open("w").close()


def runs(task: dagcore.Task) -> int:
    """How many times ``task`` ran (for tests)."""
    return int(_redis().get(f"test:runs:{task.task_id}") or 0)


def out_dir() -> Path:
    return Path(out())


class TooSlow(dagcore.Task):
    """Exceeds its worker_timeout: Celery's soft time limit stops it."""

    worker_timeout = 2.0

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/too-slow")

    def run(self) -> None:
        ran(self)
        time.sleep(60)
        self.output().open("w").close()


class KillsItsWorker(dagcore.Task):
    """Kills the pool process running it, as the kernel's OOM killer would."""

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/kills-its-worker")

    def run(self) -> None:
        ran(self)
        os.kill(os.getpid(), 9)
