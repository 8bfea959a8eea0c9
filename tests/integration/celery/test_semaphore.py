"""max_running, resources and priorities across a fleet: real Redis, real worker processes.

The families (``semaphore_families``) put ``<task_id>|<pid>`` in the Redis set ``test:running``
while they run; a sampler thread reads it every few milliseconds, so the limits are checked on
what actually runs, from Redis, throughout the run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

import dagcore
from dagcore.summary import StatusCode, Summary
from dagcore.task import Task
from tests.integration.celery import semaphore_families as sf
from tests.integration.celery.conftest import CeleryEnv, StartWorker

MODULE = "tests.integration.celery.semaphore_families"
LEASE_SECONDS = 2
REAPER_INTERVAL = 0.5

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fleet(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> StartWorker:
    """Outputs in tmp_path, SQLite history, short leases and a quick reaper."""
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", f"sqlite:///{tmp_path / 'history.db'}")
    celery_env.configure(
        f"[celery]\nlease_seconds = {LEASE_SECONDS}\nreaper_interval = {REAPER_INTERVAL}\n"
    )
    return start_worker


class Sampler:
    """Samples ``test:running`` on a thread; members of killed processes are left out."""

    def __init__(self, client: redis.Redis[Any], weight: Callable[[str], int]) -> None:
        self.client = client
        self.weight = weight
        self.dead_pids: set[str] = set()
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def members(self) -> list[str]:
        return [
            m
            for m in self.client.smembers(sf.RUNNING)
            if m.rpartition("|")[2] not in self.dead_pids
        ]

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(self.weight(m) for m in self.members()))
            self.samples += 1
            time.sleep(0.003)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _build(roots: list[Task], **kwargs: Any) -> Summary:
    summary = dagcore.build(roots, executor="celery", detailed_summary=True, **kwargs)
    assert isinstance(summary, Summary)
    return summary


def _client(celery_env: CeleryEnv) -> redis.Redis[Any]:
    return redis.Redis.from_url(celery_env.redis_url, decode_responses=True)


def _kill_a_holder(sampler: Sampler, prefix: str, deadline: float) -> str:
    """SIGKILL the pool process of a task that is running now; returns its pid."""
    while time.monotonic() < deadline:
        for member in sampler.members():
            if member.startswith(prefix):
                pid = member.rpartition("|")[2]
                sampler.dead_pids.add(pid)
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    continue
                return pid
        time.sleep(0.005)
    raise AssertionError(f"no {prefix} task was seen running")


def test_max_running_holds_across_two_workers_when_a_holder_is_killed(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    fleet([MODULE], concurrency=3)
    fleet([MODULE], concurrency=3)
    client = _client(celery_env)
    results: list[Summary] = []
    with Sampler(client, lambda _: 1) as sampler:
        submit = threading.Thread(target=lambda: results.append(_build([sf.JitteredAll(n=200)])))
        submit.start()
        time.sleep(1.0)
        _kill_a_holder(sampler, "Jittered_", time.monotonic() + 30)
        submit.join(100)
    assert results, "the run did not end"
    summary = results[0]
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert "201 ran successfully" in summary.summary_text
    assert sampler.samples > 100
    assert sampler.peak == 3, f"peak of {sampler.peak} Jittered tasks running at once"


def test_a_waiter_gets_the_slot_of_a_killed_holder_within_lease_plus_reaper_interval(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    fleet([MODULE], concurrency=2)
    client = _client(celery_env)
    results: list[Summary] = []
    with Sampler(client, lambda _: 1) as sampler:
        submit = threading.Thread(target=lambda: results.append(_build([sf.Hogs()])))
        submit.start()
        deadline = time.monotonic() + 30
        while (first := client.get("test:hog-first")) is None:
            assert time.monotonic() < deadline, "no Hog started"
            time.sleep(0.01)
        time.sleep(0.3)  # the other Hog reached the semaphore and waits in line
        _kill_a_holder(sampler, f"Hog_{first}_", deadline)
        killed_at = time.time()
        other = "b" if first == "a" else "a"
        while not any(e.startswith(f"Hog_{other}_") for e in client.lrange(sf.STARTED, 0, -1)):
            assert time.monotonic() < deadline, "the waiting Hog never started"
            time.sleep(0.01)
        started = next(
            float(e.rpartition("|")[2])
            for e in client.lrange(sf.STARTED, 0, -1)
            if e.startswith(f"Hog_{other}_")
        )
        submit.join(60)
    waited = started - killed_at
    # Nothing else finishes: only the reaper can free the dead holder's slot.
    assert waited <= LEASE_SECONDS + REAPER_INTERVAL + 2.0, f"waited {waited:.2f}s"
    assert results and results[0].status is StatusCode.SUCCESS, results and results[0].summary_text
    assert sampler.peak == 1


def test_resources_are_shared_out_and_taken_all_at_once(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    fleet([MODULE], concurrency=4)
    client = _client(celery_env)

    def db_units(member: str) -> int:
        return 2 if member.startswith("DbOnly_") else 1

    with Sampler(client, db_units) as sampler:
        summary = _build([sf.Mixed(n=15)], resources={"db": 2, "gpu": 1})
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert "31 ran successfully" in summary.summary_text
    assert sampler.peak == 2, f"{sampler.peak} units of db in use at once (capacity 2)"


def test_a_task_needing_more_than_exists_fails_before_submitting(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    with pytest.raises(dagcore.errors.ExecutionError, match="needs 2 of resource 'db'"):
        _build([sf.DbOnly(i=0)], resources={"db": 1})


def test_the_slot_is_free_during_a_retry_delay(fleet: StartWorker, celery_env: CeleryEnv) -> None:
    fleet([MODULE], concurrency=2)
    client = _client(celery_env)
    summary = _build([sf.FlakyAndFriend()])
    assert summary.status is StatusCode.SUCCESS_WITH_RETRY, summary.summary_text
    starts = [e.rpartition("|")[0] for e in client.lrange(sf.STARTED, 0, -1)]
    flaky = sf.Flaky(name="flaky").task_id
    friend = sf.Flaky(name="friend").task_id
    # The friend (ready half a second in) ran during the flaky one's 3 s retry delay, in the
    # slot the failed attempt gave back, not after the retry.
    assert starts == [flaky, friend, flaky], starts


def test_high_priority_ready_tasks_start_first(fleet: StartWorker, celery_env: CeleryEnv) -> None:
    # Submitted with no worker running: all 100 messages are queued before any is taken, 50
    # low-priority ones first; Redis priority lists and prefetch 1 hand out the high ones first.
    summary = _build([sf.LowsThenHighs()], detach=True)
    assert summary.run_id
    fleet([MODULE], concurrency=1)
    client = _client(celery_env)
    deadline = time.monotonic() + 60
    while client.llen(sf.STARTED) < 100:
        assert time.monotonic() < deadline, f"{client.llen(sf.STARTED)} of 100 tasks started"
        time.sleep(0.1)
    order = [entry.partition("_")[0] for entry in client.lrange(sf.STARTED, 0, -1)]
    assert order == ["High"] * 50 + ["Low"] * 50, order
