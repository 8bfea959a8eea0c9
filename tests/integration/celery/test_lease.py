"""The lease keeper (celery_app.lease) against a real Redis: one thread renews every claim."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis import Redis

from celery_app.joins import RunStore
from celery_app.lease import Holding, LeaseKeeper
from celery_app.semaphore import NO_DEMAND, Demand, Slot
from dagcore.plan import Node, Plan

PREFIX = "dgtest"
LEASE_MS = 1500  # renewed every 0.5 s


@pytest.fixture
def store(redis_url: str) -> Iterator[RunStore]:
    client: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield RunStore(client, PREFIX)
    client.close()


def started(store: RunStore, *task_ids: str, demand: Demand = NO_DEMAND) -> list[int]:
    plan = Plan(roots=list(task_ids))
    for task_id in task_ids:
        plan.nodes[task_id] = Node(task_id, "tests.Fake", "tests", {"id": task_id})
    store.create_run("r", plan)
    store.ack_outbox("r", task_ids)
    tokens = []
    for task_id in task_ids:
        claim = store.claim("r", task_id, LEASE_MS, demand=demand)
        assert claim.ok and claim.token is not None
        tokens.append(claim.token)
    return tokens


def test_held_claims_outlive_their_lease_until_dropped(store: RunStore) -> None:
    demand = Demand((Slot("family:F", 1, 5),))
    tokens = started(store, "a", "b", demand=demand)
    keeper = LeaseKeeper(store, LEASE_MS)
    keys = [
        keeper.hold(Holding("r", task_id, token, demand))
        for task_id, token in zip(("a", "b"), tokens, strict=True)
    ]
    time.sleep(LEASE_MS / 1000 * 2.5)
    for task_id in ("a", "b"):
        # The claim and the slot are still held.
        assert store.redis.exists(f"{PREFIX}:claim:{task_id}")
        assert store.redis.zscore(f"{PREFIX}:sem:family:F:holders", f"r|{task_id}")
    keeper.drop(keys[0])
    time.sleep(LEASE_MS / 1000 + 0.7)
    assert not store.redis.exists(f"{PREFIX}:claim:a")  # no longer renewed: it ran out
    assert store.redis.exists(f"{PREFIX}:claim:b")
    assert store.release("b", tokens[1], run_id="r", demand=demand)


def test_a_lost_claim_is_flagged_and_written_to_the_run_events(store: RunStore) -> None:
    (token,) = started(store, "a")
    keeper = LeaseKeeper(store, LEASE_MS)
    holding = Holding("r", "a", token, NO_DEMAND)
    keeper.hold(holding)
    store.redis.delete(f"{PREFIX}:claim:a")  # expired, and another worker took the task over
    assert holding.lost.wait(LEASE_MS / 1000 + 1)
    events = [fields for _, fields in store.read_events("r")]
    assert {"type": "lease_lost", "task": "a", "lease": "claim"} in events
