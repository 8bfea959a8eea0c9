"""Global claims of task ids (celery_app.joins): busy, parked waiters, hand-over, fencing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis

from celery_app.joins import RunStore
from dagcore.plan import Node, Plan

PREFIX = "dgtest"
LEASE_MS = 30_000


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis[str]]:
    connection: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


@pytest.fixture
def store(client: Redis[str]) -> RunStore:
    return RunStore(client, PREFIX)


def shared_plan(user: str) -> Plan:
    """``user`` requires ``S``; two runs built from this share the task S."""
    return Plan(
        roots=[user],
        nodes={
            "S": Node("S", "F", "m", {}),
            user: Node(user, "F", "m", {}, ["S"]),
        },
    )


def two_runs(store: RunStore) -> None:
    for run_id, user in (("r1", "U1"), ("r2", "U2")):
        assert store.create_run(run_id, shared_plan(user)) == ["S"]
        store.ack_outbox(run_id, ["S"])


def waiters(client: Redis[str]) -> list[str]:
    return client.lrange(f"{PREFIX}:claimwait:S", 0, -1)


def test_busy_wait_and_hand_over_across_two_runs(store: RunStore, client: Redis[str]) -> None:
    two_runs(store)
    first = store.claim("r1", "S", LEASE_MS)
    assert first.ok and first.token is not None
    for _ in range(3):  # r2's copy is turned away and parked once, however often it asks
        busy = store.claim("r2", "S", LEASE_MS)
        assert (busy.status, busy.holder, busy.token) == ("busy", "r1", None)
    assert waiters(client) == ["r2"]
    # r1 finishes S: its dependent is ready, and r2 gets S back to publish.
    assert store.finish("r1", "S") == ["U1"]
    assert store.pending_outbox("r2") == ["S"]
    assert waiters(client) == []
    store.ack_outbox("r2", ["S"])
    # r2's republished copy arrives before r1 released: parked again, woken by the release.
    assert store.claim("r2", "S", LEASE_MS).status == "busy"
    assert store.release("S", first.token)
    assert store.pending_outbox("r2") == ["S"]
    second = store.claim("r2", "S", LEASE_MS)
    assert second.ok and second.token is not None and second.token > first.token
    assert store.finish("r2", "S") == ["U2"]
    assert store.release("S", second.token)
    assert store.claim("r1", "S", LEASE_MS).status == "done"
    assert store.claim("r2", "S", LEASE_MS).status == "done"


def test_release_after_a_failure_hands_the_task_over(store: RunStore, client: Redis[str]) -> None:
    two_runs(store)
    first = store.claim("r1", "S", LEASE_MS)
    assert store.claim("r2", "S", LEASE_MS).status == "busy"
    assert store.fail("r1", "S", "IOError", "disk full", 1)
    assert first.token is not None and store.release("S", first.token)
    assert store.pending_outbox("r2") == ["S"] and waiters(client) == []
    assert store.claim("r2", "S", LEASE_MS).ok  # r2 tries it itself


def test_a_redelivered_copy_in_the_same_run_is_turned_away(
    store: RunStore, client: Redis[str]
) -> None:
    store.create_run("r1", shared_plan("U1"))
    store.ack_outbox("r1", ["S"])
    first = store.claim("r1", "S", LEASE_MS)
    assert store.claim("r1", "S", LEASE_MS).status == "busy"
    assert waiters(client) == ["r1"]
    assert store.finish("r1", "S") == ["U1"]
    # Parked copy of a run that has S done: nothing to hand over, only U1 to publish.
    assert store.pending_outbox("r1") == ["U1"] and waiters(client) == []
    assert first.token is not None and store.release("S", first.token)
    assert store.claim("r1", "S", LEASE_MS).status == "done"


def test_waiters_of_a_cancelled_run_are_not_woken(store: RunStore, client: Redis[str]) -> None:
    two_runs(store)
    first = store.claim("r1", "S", LEASE_MS)
    assert store.claim("r2", "S", LEASE_MS).status == "busy"
    assert store.cancel("r2")
    assert first.token is not None and store.release("S", first.token)
    assert store.pending_outbox("r2") == [] and waiters(client) == []


def test_fencing_a_stale_token_cannot_renew_or_release(store: RunStore, client: Redis[str]) -> None:
    two_runs(store)
    stale = store.claim("r1", "S", 50)
    assert stale.ok and stale.token is not None
    time.sleep(0.12)  # the lease runs out (r1's worker stalled)
    fresh = store.claim("r2", "S", LEASE_MS)
    assert fresh.ok and fresh.token is not None and fresh.token > stale.token
    assert store.renew("S", stale.token, LEASE_MS) == "lost"
    assert not store.release("S", stale.token)
    assert client.get(f"{PREFIX}:claim:S") == f"r2|{fresh.token}"
    assert client.pttl(f"{PREFIX}:claim:S") > 50
    client.pexpire(f"{PREFIX}:claim:S", 1000)
    assert store.renew("S", fresh.token, LEASE_MS) == "held"
    assert client.pttl(f"{PREFIX}:claim:S") > 1000
    assert store.release("S", fresh.token)
    assert client.get(f"{PREFIX}:claim:S") is None
    assert not store.release("S", fresh.token)  # releasing twice is a no-op
    with pytest.raises(ValueError, match="lease_ms"):
        store.claim("r1", "S", 0)


def test_only_the_first_claim_ever_of_a_task_records_its_start(
    store: RunStore, client: Redis[str]
) -> None:
    two_runs(store)
    history = ['{"kind":"a"}', '{"kind":"b"}']
    first = store.claim("r1", "S", LEASE_MS, celery_id="c1", started=history)
    assert (first.ok, first.started, first.attempt) == (True, True, 1)
    started = {"type": "started", "task": "S", "attempt": "1", "celery_id": "c1"}
    assert [fields for _, fields in store.read_events("r1")] == [started]
    assert [e["e"] for _, e in client.xrange(f"{PREFIX}:history")] == history
    assert first.token is not None
    store.release("S", first.token, run_id="r1")
    # A second attempt in the run, and the first claim of another run sharing the task: the
    # task may have been completed meanwhile, so the caller checks and records the start.
    for run_id in ("r1", "r2"):
        again = store.claim(run_id, "S", LEASE_MS, celery_id="c2", started=history)
        assert again.ok and not again.started
        assert again.token is not None
        store.release("S", again.token, run_id=run_id)
    assert len(store.read_events("r1")) == 1 and store.read_events("r2") == []
    assert client.xlen(f"{PREFIX}:history") == 2


def test_a_start_the_claim_left_to_the_caller_is_recorded_in_one_step(
    store: RunStore, client: Redis[str]
) -> None:
    two_runs(store)
    store.started("r2", "S", 3, "c9", ['{"kind":"x"}', '{"kind":"y"}'])
    started = {"type": "started", "task": "S", "attempt": "3", "celery_id": "c9"}
    assert [fields for _, fields in store.read_events("r2")] == [started]
    assert [e["e"] for _, e in client.xrange(f"{PREFIX}:history")] == [
        '{"kind":"x"}',
        '{"kind":"y"}',
    ]
    assert 0 < client.ttl(store.keys.run("r2").events) <= store.ttl_seconds
