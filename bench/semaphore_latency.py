"""How long a task waits for a semaphore slot once the holder lets go.

Usage: python -m bench.semaphore_latency N WORKERS (on a fleet started with this module)
N tasks of one family with ``max_running = 1`` run one after the other; each records when its
``run()`` starts and ends. The gap between one task's end and the next one's start is the
release -> next waiter latency: settle (finish + release + grant), publishing the granted
waiter's message and a worker process picking it up. Prints
``semaphore-latency n=... median_ms=... p90_ms=... wall_s=... tasks_per_s=...``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

import redis

import dagcore

_TIMES = "bench:semaphore:times"
_OUT = os.environ.get("ETL_OUT", "/tmp/dagcore-semaphore-bench")


def _redis() -> redis.Redis[Any]:
    return redis.Redis.from_url(os.environ["DAGCORE_BROKER_URL"], decode_responses=True)


class OneAtATime(dagcore.Task):
    """Alone in its family at any moment, fleet-wide."""

    max_running = 1
    stamp = dagcore.Parameter()
    i = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{_OUT}/{self.stamp}/{self.i}")

    def run(self) -> None:
        client = _redis()
        client.rpush(_TIMES, f"start {time.time()}")
        time.sleep(0.01)
        with self.output().open("w") as sink:
            sink.write("done")
        client.rpush(_TIMES, f"end {time.time()}")


class AllOfThem(dagcore.WrapperTask):
    stamp = dagcore.Parameter()
    n = dagcore.IntParameter()

    def requires(self) -> list[OneAtATime]:
        return [OneAtATime(stamp=self.stamp, i=i) for i in range(self.n)]


def gaps(entries: list[str]) -> list[float]:
    """Seconds from each ``end`` to the ``start`` that follows it."""
    out: list[float] = []
    last_end: float | None = None
    for entry in entries:
        kind, _, stamp = entry.partition(" ")
        if kind == "end":
            last_end = float(stamp)
        elif last_end is not None:
            out.append(float(stamp) - last_end)
            last_end = None
    return out


def main(argv: list[str]) -> int:
    n, workers = int(argv[0]), int(argv[1])
    client = _redis()
    client.delete(_TIMES)
    started = time.time()
    stamp = f"run{int(started * 1000)}"
    ok = dagcore.build([AllOfThem(stamp=stamp, n=n)], executor="celery", log_level="WARNING")
    wall = time.time() - started
    waits = sorted(gaps(client.lrange(_TIMES, 0, -1)))
    if not waits:
        print("semaphore-latency: no waits measured", file=sys.stderr)
        return 1
    p90 = waits[int(0.9 * (len(waits) - 1))]
    print(
        f"semaphore-latency n={n} workers={workers} ok={ok} "
        f"median_ms={statistics.median(waits) * 1000:.1f} p90_ms={p90 * 1000:.1f} "
        f"wall_s={wall:.2f} tasks_per_s={n / wall:.1f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
