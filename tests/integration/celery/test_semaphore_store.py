"""The Redis semaphore and the reaper's scripts, on a real Redis (no workers).

Slots are taken in the claim script; these tests drive :class:`RunStore` the way a worker does
and read the semaphores back with :class:`SemaphoreView`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from redis import Redis

from celery_app.joins import OutboxEntry, RunStore
from celery_app.reaper import Reaper
from celery_app.semaphore import RUN_CAPACITY, Demand, SemaphoreView, Slot, demand_of
from dagcore.plan import Node, Plan
from tests.integration.celery import semaphore_families as sf

PREFIX = "semtest"
LEASE_MS = 30_000


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis[str]]:
    connection: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


@pytest.fixture
def store(client: Redis[str]) -> RunStore:
    return RunStore(client, PREFIX)


@pytest.fixture
def view(client: Redis[str]) -> SemaphoreView:
    return SemaphoreView(client, PREFIX)


def flat_plan(*task_ids: str) -> Plan:
    plan = Plan(roots=list(task_ids))
    for task_id in task_ids:
        plan.nodes[task_id] = Node(task_id, "tests.Fake", "tests", {"id": task_id})
    return plan


def limit(capacity: int, family: str = "F") -> Demand:
    return Demand((Slot(f"family:{family}", 1, capacity),))


def resources(**units: int) -> Demand:
    return Demand(tuple(Slot(f"resource:{n}", u, RUN_CAPACITY) for n, u in sorted(units.items())))


def start(store: RunStore, run_id: str, *task_ids: str, **capacities: int) -> None:
    store.create_run(run_id, flat_plan(*task_ids), capacities=capacities)
    store.ack_outbox(run_id, task_ids)


def test_demand_of_a_task_lists_its_family_limit_and_resources() -> None:
    assert demand_of(sf.Jittered(i=1)).slots == (Slot("family:Jittered", 1, 3),)
    assert demand_of(sf.Gpu(i=1)).slots == (
        Slot("resource:db", 1, RUN_CAPACITY),
        Slot("resource:gpu", 1, RUN_CAPACITY),
    )
    assert not demand_of(sf.JitteredAll(n=1))


def test_max_running_queues_the_task_past_the_limit(store: RunStore, view: SemaphoreView) -> None:
    start(store, "r", "a", "b", "c")
    first = store.claim("r", "a", LEASE_MS, demand=limit(2))
    second = store.claim("r", "b", LEASE_MS, demand=limit(2))
    assert first.ok and second.ok
    assert store.claim("r", "c", LEASE_MS, demand=limit(2)).status == "queued"
    state = view.state("family:F")
    assert (state.used, state.capacity, state.waiters) == (2, 2, ["r|c"])
    # A queued task does not hold the claim: nobody else is kept waiting for it.
    assert store.redis.get(f"{PREFIX}:claim:c") is None


def test_a_release_hands_the_slot_to_the_waiter_ahead_of_new_arrivals(
    store: RunStore, view: SemaphoreView
) -> None:
    start(store, "r", "a", "b", "late")
    held = store.claim("r", "a", LEASE_MS, demand=limit(1))
    assert store.claim("r", "b", LEASE_MS, demand=limit(1)).status == "queued"
    assert held.token is not None
    settled = store.settle("r", "a", held.token, done=True, demand=limit(1), lease_ms=LEASE_MS)
    # b holds the slot already and is back in the outbox; the releasing worker publishes it.
    assert settled.publish == [OutboxEntry("r", "b")]
    assert store.pending_outbox("r") == ["b"]
    assert view.state("family:F").holders == {"r|b": 1}
    assert store.claim("r", "late", LEASE_MS, demand=limit(1)).status == "queued"
    assert store.claim("r", "b", LEASE_MS, demand=limit(1)).ok  # its message arrives


def test_waiters_are_served_by_priority_then_arrival(store: RunStore, view: SemaphoreView) -> None:
    start(store, "r", "holder", "low", "high", "high2")
    held = store.claim("r", "holder", LEASE_MS, demand=limit(1))
    for task_id, priority in [("low", 0), ("high", 10), ("high2", 10)]:
        assert store.claim("r", task_id, LEASE_MS, demand=limit(1), priority=priority).status == (
            "queued"
        )
    assert view.state("family:F").waiters == ["r|high", "r|high2", "r|low"]
    assert held.token is not None and store.release(
        "holder", held.token, run_id="r", demand=limit(1)
    )
    assert view.state("family:F").holders == {"r|high": 1}


def test_all_resources_are_taken_in_one_step_or_none(store: RunStore, view: SemaphoreView) -> None:
    start(store, "r", "db-user", "both", gpu=1, db=2)
    assert store.claim("r", "db-user", LEASE_MS, demand=resources(db=2)).ok
    # The gpu is free but db is not: "both" takes nothing and waits for both.
    assert store.claim("r", "both", LEASE_MS, demand=resources(gpu=1, db=1)).status == "queued"
    assert view.state("resource:gpu").used == 0
    assert view.state("resource:db").used == 2
    assert view.state("resource:db").capacity == 2  # from the run's capacities


def test_a_waiter_that_does_not_fit_does_not_block_the_ones_behind_it(
    store: RunStore, view: SemaphoreView
) -> None:
    start(store, "r", "a", "big", "small", db=2)
    held = store.claim("r", "a", LEASE_MS, demand=resources(db=1))
    assert store.claim("r", "big", LEASE_MS, demand=resources(db=2)).status == "queued"
    assert store.claim("r", "small", LEASE_MS, demand=resources(db=1)).ok
    assert held.token is not None
    store.release("a", held.token, run_id="r", demand=resources(db=1))
    assert view.state("resource:db").waiters == ["r|big"]  # 1 free, big needs 2


def test_an_unconfigured_resource_has_capacity_one(store: RunStore) -> None:
    start(store, "r", "a", "b")
    assert store.claim("r", "a", LEASE_MS, demand=resources(tape=1)).ok
    assert store.claim("r", "b", LEASE_MS, demand=resources(tape=1)).status == "queued"


def test_slots_are_shared_by_every_run(store: RunStore) -> None:
    start(store, "r1", "a")
    start(store, "r2", "b")
    assert store.claim("r1", "a", LEASE_MS, demand=limit(1)).ok
    assert store.claim("r2", "b", LEASE_MS, demand=limit(1)).status == "queued"


def test_renewal_keeps_slots_and_reports_a_lost_one(store: RunStore, view: SemaphoreView) -> None:
    start(store, "r", "a", "b")
    held = store.claim("r", "a", 300, demand=limit(1))
    assert held.token is not None
    assert store.renew("a", held.token, 300, run_id="r", demand=limit(1)) == "held"
    time.sleep(0.4)
    # The lease ran out: the next arrival frees the slot and takes it (the claim is gone too).
    assert store.claim("r", "b", LEASE_MS, demand=limit(1)).ok
    assert store.renew("a", held.token, 300, run_id="r", demand=limit(1)) == "lost"
    assert view.state("family:F").holders == {"r|b": 1}


def test_reap_semaphores_frees_dead_holders_and_grants_waiters(
    store: RunStore, view: SemaphoreView
) -> None:
    start(store, "r", "dead", "next")
    assert store.claim("r", "dead", 200, demand=limit(1)).ok
    assert store.claim("r", "next", LEASE_MS, demand=limit(1)).status == "queued"
    assert store.reap_semaphores(LEASE_MS) == (0, 0)  # the lease is still good
    time.sleep(0.3)
    assert store.reap_semaphores(LEASE_MS) == (1, 1)
    assert view.state("family:F").holders == {"r|next": 1}
    assert store.pending_outbox("r") == ["next"]
    assert store.take_woken() == [OutboxEntry("r", "next")]


def test_reap_claims_hands_a_dead_holders_task_back_to_every_run(store: RunStore) -> None:
    start(store, "r1", "S")
    start(store, "r2", "S")
    assert store.claim("r1", "S", 200).ok
    assert store.claim("r2", "S", LEASE_MS).status == "busy"
    assert store.reap_claims() == 0
    time.sleep(0.3)
    # The run parked on the claim, and the holder's own run: it never settled the task.
    assert store.reap_claims() == 2
    assert store.pending_outbox("r2") == ["S"] and store.pending_outbox("r1") == ["S"]
    assert sorted(store.take_woken()) == [OutboxEntry("r1", "S"), OutboxEntry("r2", "S")]
    assert store.claim("r2", "S", LEASE_MS).ok
    assert store.reap_claims() == 0


def test_reap_claims_leaves_claims_that_are_renewed_or_settled(store: RunStore) -> None:
    start(store, "r", "kept", "done", "failed")
    kept = store.claim("r", "kept", 200)
    finished = store.claim("r", "done", 200)
    failing = store.claim("r", "failed", 200)
    assert kept.token is not None and finished.token is not None
    assert failing.token is not None
    store.settle("r", "done", finished.token, done=True)
    store.fail("r", "failed", "Boom", "no", 1)
    time.sleep(0.1)
    assert store.renew("kept", kept.token, LEASE_MS, run_id="r") == "held"
    time.sleep(0.2)
    # "failed" died without releasing, but it failed for good: nothing comes back.
    assert store.reap_claims() == 0
    assert store.pending_outbox("r") == [] and store.take_woken() == []


def test_a_task_started_too_often_without_settling_is_lost(store: RunStore) -> None:
    start(store, "r", "oom")
    for _ in range(2):
        claim = store.claim("r", "oom", 50, max_starts=2)
        assert claim.ok
        time.sleep(0.1)  # the worker died: nothing settles, the lease runs out
    lost = store.claim("r", "oom", 50, max_starts=2)
    assert (lost.status, lost.starts) == ("lost", 2)
    assert store.claim("r", "oom", 50, max_starts=2).ok  # the count starts over


def test_a_settled_attempt_resets_the_start_count(store: RunStore) -> None:
    start(store, "r", "t")
    for _ in range(4):
        claim = store.claim("r", "t", LEASE_MS, max_starts=2)
        assert claim.ok and claim.token is not None
        store.release("t", claim.token, run_id="r")


def test_a_waiter_of_a_finished_run_is_dropped(store: RunStore, view: SemaphoreView) -> None:
    start(store, "r1", "a")
    start(store, "r2", "b")
    held = store.claim("r1", "a", LEASE_MS, demand=limit(1))
    assert store.claim("r2", "b", LEASE_MS, demand=limit(1)).status == "queued"
    store.cancel("r2")
    assert held.token is not None
    store.release("a", held.token, run_id="r1", demand=limit(1))
    state = view.state("family:F")
    assert (state.used, state.waiters) == (0, [])


def test_reaper_lock_lets_one_reaper_work(store: RunStore, client: Redis[str]) -> None:
    def publish(entries: Sequence[OutboxEntry]) -> int:
        return 0

    first = Reaper(store, publish, LEASE_MS, interval=0.2)
    second = Reaper(store, publish, LEASE_MS, interval=0.2)
    assert first.run_once().leading
    assert not second.run_once().leading
    first.resign()
    assert second.run_once().leading
    assert not first.run_once().leading


def test_reaper_publishes_outboxes_left_unpublished_across_two_passes(store: RunStore) -> None:
    store.create_run("r", flat_plan("a", "b"))  # nobody publishes the outbox
    published: list[OutboxEntry] = []

    def publish(entries: Sequence[OutboxEntry]) -> int:
        published.extend(entries)
        store.ack_entries(entries)
        return len(entries)

    reaper = Reaper(store, publish, LEASE_MS, interval=0.2)
    assert reaper.run_once().messages_sent == 0  # first sight: maybe someone is on it
    report = reaper.run_once()
    assert (report.runs_published, report.messages_sent) == (1, 2)
    assert published == [OutboxEntry("r", "a"), OutboxEntry("r", "b")]
    assert store.pending_outbox("r") == []
    store.mark_finished("r")
    reaper.run_once()
    assert store.live_runs() == []
