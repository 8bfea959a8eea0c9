"""SIGTERM on a worker: a soft shutdown that gives back the claim and slots of unfinished tasks.

Leases are long (60 s) here, so a task can only move on quickly if the stopped worker released
what it held instead of leaving it to expire.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

import dagcore
from celery_app.semaphore import SemaphoreView
from dagcore.history.events import AttemptStatus
from dagcore.history.store import SqlHistoryStore
from dagcore.summary import StatusCode, Summary
from tests.integration.celery import semaphore_families as sf
from tests.integration.celery.conftest import CeleryEnv, StartWorker

MODULE = "tests.integration.celery.semaphore_families"

pytestmark = pytest.mark.timeout(120)


def test_sigterm_hands_an_unfinished_task_to_another_worker(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history_url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", history_url)
    celery_env.configure("[celery]\nlease_seconds = 60\n[worker]\nshutdown_timeout = 1\n")
    first = start_worker([MODULE], concurrency=1)
    client: redis.Redis[Any] = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    hog = sf.Hog(name="a")
    results: list[Summary] = []

    def submit() -> None:
        summary = dagcore.build([hog], executor="celery", detailed_summary=True)
        assert isinstance(summary, Summary)
        results.append(summary)

    thread = threading.Thread(target=submit, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not client.smembers(sf.RUNNING):
        assert time.monotonic() < deadline, "the Hog never started"
        time.sleep(0.02)

    first.process.send_signal(signal.SIGTERM)
    assert first.wait_exit(20) == 0, first.output()
    # Released at once, not after the 60 s lease.
    assert client.get(f"dagcore:claim:{hog.task_id}") is None
    assert SemaphoreView(client).state("family:Hog").used == 0

    start_worker([MODULE], concurrency=1)
    thread.join(40)
    assert results, "the run did not finish after the task was handed back"
    assert results[0].status is StatusCode.SUCCESS, results[0].summary_text
    starts = client.lrange(sf.STARTED, 0, -1)
    assert [s.rpartition("|")[0] for s in starts] == [hog.task_id, hog.task_id]

    store = SqlHistoryStore.from_url(history_url)
    try:
        deadline = time.monotonic() + 15
        while True:
            statuses = [a.status for a in store.attempts(results[0].run_id, hog.task_id)]
            if AttemptStatus.SUCCESS in statuses or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        store.close()
    assert statuses == [AttemptStatus.CANCELLED, AttemptStatus.SUCCESS]
