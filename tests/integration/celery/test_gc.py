"""TTLs on what a run leaves in Redis, and ``dagcore gc``, after real runs on a real worker.

The runs use the key prefix ``gcx``; keys of the default prefix ``dagcore`` (another
deployment on the same Redis), of a look-alike prefix ``gcx2``, the test families' own
``test:*`` counters and Celery's kombu keys must all come out of gc untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import dagcore
from celery_app.gc import main as gc_main
from celery_app.joins import RunStore
from celery_app.keys import DEFAULT_TTL_SECONDS, Keys
from dagcore.plan import Node, Plan
from dagcore.summary import StatusCode, Summary
from tests.integration.celery import graph_families as g
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.celery.workerproc import WorkerProcess

MODULE = "tests.integration.celery.graph_families"
PREFIX = "gcx"
KEYS = Keys(PREFIX)
# Streams their writer trims or caps, so they may live without a TTL (see celery_app.gc).
ALLOWED_WITHOUT_TTL = {f"{PREFIX}:history", f"{PREFIX}:history:dead"}


@pytest.fixture
def client(celery_env: CeleryEnv) -> Iterator[redis.Redis[str]]:
    connection: redis.Redis[str] = redis.Redis.from_url(
        celery_env.redis_url, decode_responses=True, socket_timeout=30
    )
    yield connection
    connection.close()


@pytest.fixture
def finished_run(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, WorkerProcess]]:
    """A diamond run through a real worker, finished; yields its run id and the worker."""
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    celery_env.configure(f'[celery]\nkey_prefix = "{PREFIX}"\nlease_seconds = 3\n')
    worker = start_worker([MODULE], concurrency=2)
    summary = dagcore.build(
        [g.G(shape="diamond", name="D")], executor="celery", detailed_summary=True
    )
    assert isinstance(summary, Summary)
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    yield summary.run_id, worker


def _keys(client: redis.Redis[str], pattern: str = "*") -> list[str]:
    return sorted(set(client.scan_iter(match=pattern, count=1000)))


def _type_of(client: redis.Redis[Any], key: str | bytes) -> str:
    reply = client.execute_command("TYPE", key)
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def _snapshot(url: str) -> dict[bytes, tuple[str, bool, bytes | None]]:
    """Every key of the database: type, whether it expires, serialized value."""
    raw: redis.Redis[bytes] = redis.Redis.from_url(url, socket_timeout=30)
    try:
        keys = sorted(set(raw.scan_iter(count=1000)))
        return {key: (_type_of(raw, key), raw.ttl(key) >= 0, raw.dump(key)) for key in keys}
    finally:
        raw.close()


def _plan(*ids: str) -> Plan:
    plan = Plan(roots=[ids[-1]])
    for i, task_id in enumerate(ids):
        deps = [ids[i - 1]] if i else []
        plan.nodes[task_id] = Node(task_id, "tests.Fake", "tests", {"id": task_id}, deps)
    return plan


def _other_deployments(client: redis.Redis[str]) -> dict[str, Any]:
    """Keys gc must never touch, none with a TTL, some shaped exactly like dagcore's."""
    other = Keys("dagcore").run("theirs")
    client.hset(other.meta, mapping={"status": "FINISHED", "created": "1.0", "ended": "1.0"})
    client.hset(other.nodes, "X", "{}")
    client.sadd("dagcore:runs", "gone-run")
    client.set("gcx2:fence:T", 3)
    client.hset("gcx2:run:{old}:meta", mapping={"status": "FINISHED", "ended": "1.0"})
    client.set("team:cache", "value")
    return {"keys": [other.meta, other.nodes, "dagcore:runs", "gcx2:fence:T", "team:cache"]}


def _without_ttl(client: redis.Redis[str]) -> list[str]:
    return [
        f"{key} ({_type_of(client, key)})"
        for key in _keys(client, f"{PREFIX}:*")
        if client.ttl(key) == -1 and key not in ALLOWED_WITHOUT_TTL
    ]


def test_every_key_a_run_leaves_has_a_ttl_and_a_dry_run_changes_nothing(
    celery_env: CeleryEnv,
    finished_run: tuple[str, WorkerProcess],
    client: redis.Redis[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id, worker = finished_run
    every_key = [*KEYS.run(run_id).all(), KEYS.attempts(run_id)]
    run_keys = [key for key in every_key if client.exists(key)]
    assert KEYS.run(run_id).meta in run_keys and KEYS.run(run_id).done in run_keys
    assert client.hget(KEYS.run(run_id).meta, "status") == "SUCCESS"
    offenders = _without_ttl(client)
    assert offenders == [], f"keys under {PREFIX}: without a TTL after a run: {offenders}"
    for key in run_keys:
        assert 0 < client.ttl(key) <= DEFAULT_TTL_SECONDS, key

    assert worker.stop() == 0  # nothing writes to Redis from here on
    _other_deployments(client)
    client.set(f"{PREFIX}:fence:no-ttl", 1)  # a key gc would give a TTL
    client.sadd(KEYS.runs, "gone-run")  # a member gc would remove (a new set: no TTL either)
    before = _snapshot(celery_env.redis_url)
    capsys.readouterr()
    assert gc_main(["--older-than", "0", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert report["runs_deleted"] == {"ended": 1, "orphaned": 0}
    assert report["run_keys_deleted"] == len(run_keys)
    assert report["ttl_given"] == {"fence": 1, "runs": 1}
    assert report["stale_entries"]["runs"] == 1
    assert _snapshot(celery_env.redis_url) == before


def test_gc_removes_finished_runs_and_orphans_and_leaves_the_rest(
    finished_run: tuple[str, WorkerProcess],
    client: redis.Redis[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id, worker = finished_run
    assert worker.stop() == 0
    finished = [key for key in KEYS.run(run_id).all() if client.exists(key)]
    others = _other_deployments(client)["keys"]
    kombu = _keys(client, "_kombu.*")
    assert kombu, "Celery's bindings should be in Redis after a run"

    store = RunStore(client, PREFIX)
    store.create_run("still-running", _plan("R1", "R2"))
    client.sadd(KEYS.runs, "still-running")
    running = [key for key in KEYS.run("still-running").all() if client.exists(key)]
    # An orphan whose meta is gone and whose keys have no TTL (a leak), and one written just
    # now (a run being created writes its meta last): only the first goes.
    old_orphan = KEYS.run("old-orphan")
    client.hset(old_orphan.nodes, "A", "{}")
    client.sadd(old_orphan.done, "A")
    young = KEYS.run("young-orphan")
    client.hset(young.nodes, "A", "{}")
    client.expire(young.nodes, DEFAULT_TTL_SECONDS)
    # Shared sets and lists naming runs that are gone, beside live entries.
    client.sadd(KEYS.runs, "gone-run", "old-orphan")
    client.rpush(KEYS.woken, "gone-run|A", "still-running|A", "gone-run|B")
    client.rpush(KEYS.claimwait("T1"), "still-running", "gone-run")
    client.rpush(KEYS.claimwait("T2"), "gone-run")
    client.set(KEYS.fence("T1"), 4)  # no TTL
    client.xadd(KEYS.history, {"e": "{}"})

    # Ended too recently for the default of a day: kept, but every TTL is set.
    assert gc_main(["--older-than", "1d"]) == 0
    out = capsys.readouterr().out
    assert "kept 1 running run(s), 1 ended more recently" in out, out
    assert all(client.exists(key) for key in finished)
    assert not client.exists(*old_orphan.all())  # no TTL: it could be any age
    assert client.exists(young.nodes)

    assert gc_main(["--older-than", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["runs_deleted"] == {"ended": 1, "orphaned": 0}
    assert report["runs_kept"] == {"running": 1, "ended_recently": 0, "young_orphan": 1}
    assert [key for key in finished if client.exists(key)] == []
    assert all(client.exists(key) for key in running)
    assert client.hget(KEYS.run("still-running").meta, "status") == "RUNNING"
    assert client.exists(young.nodes)
    assert client.smembers(KEYS.runs) == {"still-running"}
    assert client.lrange(KEYS.woken, 0, -1) == ["still-running|A"]
    assert client.lrange(KEYS.claimwait("T1"), 0, -1) == ["still-running"]
    assert not client.exists(KEYS.claimwait("T2"))
    offenders = _without_ttl(client)
    assert offenders == [], f"keys under {PREFIX}: without a TTL after gc: {offenders}"
    assert 0 < client.ttl(KEYS.fence("T1")) <= DEFAULT_TTL_SECONDS
    assert client.ttl(KEYS.history) == -1  # trimmed by its writer, never expired

    for key in others:
        assert client.exists(key) and client.ttl(key) == -1, f"gc touched {key}"
    assert client.sismember("dagcore:runs", "gone-run")
    assert client.hget("gcx2:run:{old}:meta", "status") == "FINISHED"
    assert _keys(client, "_kombu.*") == kombu
    assert client.get(f"test:runs:{g.G(shape='diamond', name='D').task_id}") == "1"

    # A second pass finds nothing more to do.
    assert gc_main(["--older-than", "0", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["runs_deleted"] == {"ended": 0, "orphaned": 0}
    assert sum(again["ttl_given"].values()) == 0
    assert sum(again["stale_entries"].values()) == 0
