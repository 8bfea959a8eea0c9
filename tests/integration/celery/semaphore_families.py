"""Task families for the semaphore and reaper tests, imported by real `dagcore worker` processes.

Each ``run()`` adds ``<task_id>|<pid>`` to the Redis set ``test:running`` while it runs, so a
test can count, from Redis, how many tasks of a limited family run at once, and find the pool
process running a given task (to SIGKILL it).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import redis

import dagcore

RUNNING = "test:running"
STARTED = "test:started"


def _redis() -> redis.Redis[Any]:
    return redis.Redis.from_url(os.environ["DAGCORE_BROKER_URL"], decode_responses=True)


def _out() -> str:
    return os.environ.get("DAGCORE_TEST_OUT", "out")


class _Tracked(dagcore.Task):
    """Marks itself running in Redis around ``work()``."""

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{_out()}/{self.task_id}")

    def work(self, client: redis.Redis[Any]) -> None:
        raise NotImplementedError

    def run(self) -> None:
        client = _redis()
        member = f"{self.task_id}|{os.getpid()}"
        client.sadd(RUNNING, member)
        client.rpush(STARTED, f"{self.task_id}|{time.time()}")
        try:
            self.work(client)
        finally:
            client.srem(RUNNING, member)
        with self.output().open("w") as sink:
            sink.write("done\n")


class Jittered(_Tracked):
    """At most three at a time, fleet-wide; sleeps 20-200 ms (seeded by ``i``)."""

    max_running = 3
    i = dagcore.IntParameter()

    def work(self, client: redis.Redis[Any]) -> None:
        time.sleep(random.Random(self.i).uniform(0.02, 0.2))


class JitteredAll(dagcore.WrapperTask):
    """``n`` Jittered tasks."""

    n = dagcore.IntParameter()

    def requires(self) -> list[Jittered]:
        return [Jittered(i=i) for i in range(self.n)]


class Hog(_Tracked):
    """Alone in its family; the first Hog to start sleeps until killed, the rest end at once."""

    max_running = 1
    name = dagcore.Parameter()

    def work(self, client: redis.Redis[Any]) -> None:
        if client.set("test:hog-first", self.name, nx=True):
            time.sleep(120)


class Hogs(dagcore.WrapperTask):
    """Two Hogs: one runs, the other waits in line for its slot."""

    def requires(self) -> list[Hog]:
        return [Hog(name="a"), Hog(name="b")]


class Gpu(_Tracked):
    """Needs one ``gpu`` and one ``db``: both or neither."""

    resources = {"gpu": 1, "db": 1}
    i = dagcore.IntParameter()

    def work(self, client: redis.Redis[Any]) -> None:
        time.sleep(0.05)


class DbOnly(_Tracked):
    """Needs two ``db``."""

    resources = {"db": 2}
    i = dagcore.IntParameter()

    def work(self, client: redis.Redis[Any]) -> None:
        time.sleep(0.05)


class Mixed(dagcore.WrapperTask):
    """Gpu and DbOnly tasks competing for ``db``."""

    n = dagcore.IntParameter()

    def requires(self) -> list[dagcore.Task]:
        return [Gpu(i=i) for i in range(self.n)] + [DbOnly(i=i) for i in range(self.n)]


class Gate(dagcore.Task):
    """Ends after half a second: whatever requires it starts after the Flaky one failed."""

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{_out()}/gate")

    def run(self) -> None:
        time.sleep(0.5)
        with self.output().open("w") as sink:
            sink.write("open\n")


class Flaky(_Tracked):
    """Fails its first attempt (name "flaky"); its slot must be free during the retry delay."""

    max_running = 1
    retry_count = 1
    retry_delay = 3.0
    name = dagcore.Parameter()

    def requires(self) -> list[dagcore.Task]:
        return [Gate()] if self.name == "friend" else []

    def work(self, client: redis.Redis[Any]) -> None:
        if self.name == "flaky" and client.incr("test:flaky") == 1:
            raise RuntimeError("first attempt fails")


class FlakyAndFriend(dagcore.WrapperTask):
    """A Flaky task that fails once and a friend, behind a Gate, sharing one slot."""

    def requires(self) -> list[Flaky]:
        return [Flaky(name="flaky"), Flaky(name="friend")]


class Low(_Tracked):
    """A quick task of the default priority."""

    i = dagcore.IntParameter()

    def work(self, client: redis.Redis[Any]) -> None:
        return None


class High(Low):
    """A quick task of a high priority."""

    priority = 100


class LowsThenHighs(dagcore.WrapperTask):
    """50 Low tasks, then 50 High ones: all ready at once."""

    def requires(self) -> list[Low]:
        return [Low(i=i) for i in range(50)] + [High(i=i) for i in range(50)]
