"""Batch application of history events on SQLite and PostgreSQL.

A batch is folded into one row per key in Python and the rest of the merge happens in SQL, so
these tests check that both halves agree (one event per batch versus everything in one batch),
that the status tie-break in SQL follows ``TaskStatus.rank`` for every pair of statuses, and
that concurrent writers of overlapping batches never deadlock.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    HistoryEvent,
    PlannedTask,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.models import Attempt, Run, TargetIO, TaskRun
from dagcore.history.store import SqlHistoryStore
from tests.unit.history.history_samples import T0, Spec, at, diamond, dump, run_events

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlHistoryStore]:
    """A store on an empty database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'history.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = SqlHistoryStore(url)
    yield opened
    opened.close()


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[SqlHistoryStore]:
    """A store on an empty PostgreSQL database."""
    opened = SqlHistoryStore(postgres_url)
    yield opened
    opened.close()


def _clear(store: SqlHistoryStore) -> None:
    with store.engine.begin() as connection:
        for model in (Run, TaskRun, Attempt, TargetIO):
            connection.execute(delete(model))


def _tricky_events(replan_module: str) -> list[HistoryEvent]:
    """Two runs plus duplicates, same-instant statuses, early events and a later re-plan."""
    events = run_events("r1", diamond()) + run_events("r2", diamond(), start=at(50))
    events += [
        # Same instant as the plan: the later stage (RUNNING) must win over PENDING/READY.
        TaskStatusChanged("r3", "A_1", TaskStatus.READY, T0),
        TasksPlanned("r3", [PlannedTask("A_1", "A", "m", {"x": "1"}, priority=2)], planned_at=T0),
        TaskStatusChanged("r3", "A_1", TaskStatus.RUNNING, T0),
        # A later plan of the same task: its fields overwrite (the last one applied wins, so
        # only a same-value re-plan is order-free), created_at stays the earliest.
        TasksPlanned(
            "r3", [PlannedTask("A_1", "A", replan_module, {"x": "1"}, priority=2)], planned_at=at(1)
        ),
        AttemptFinished("r3", "A_1", 2, at(4), AttemptStatus.FAILED, error_type="E"),
        AttemptStarted("r3", "A_1", 2, "h2", "w2", "c2", at(3)),
        AttemptStarted("r3", "A_1", 1, "h1", "w1", None, at(2)),
        TaskStatusChanged("r3", "A_1", TaskStatus.FAILED, at(4)),
        TaskStatusChanged("r3", "A_1", TaskStatus.UPSTREAM_FAILED, at(4)),
    ]
    return events + events[::7]  # at-least-once duplicates


class TestFoldAgreesWithSql:
    def test_one_event_per_batch_equals_one_batch(self, store: SqlHistoryStore) -> None:
        events = _tricky_events(replan_module="m2")
        for event in events:
            store.apply([event])
        one_by_one = dump(store.engine)
        _clear(store)
        store.apply(events)
        assert dump(store.engine) == one_by_one

        (task,) = store.tasks("r3")
        assert (task.status, task.module, task.params, task.priority) == (
            TaskStatus.UPSTREAM_FAILED,
            "m2",
            {"x": "1"},
            2,
        )
        assert (task.created_at, task.started_at, task.attempts) == (T0, at(2), 2)
        _, failed = store.attempts("r3")
        assert (failed.attempt, failed.host, failed.status) == (2, "h2", AttemptStatus.FAILED)

    def test_any_order_in_one_batch_equals_one_event_per_batch(
        self, store: SqlHistoryStore
    ) -> None:
        events = _tricky_events(replan_module="m")
        for event in events[::-1]:
            store.apply([event])
        one_by_one = dump(store.engine)
        for seed in range(3):
            _clear(store)
            store.apply(random.Random(seed).sample(events, len(events)))
            assert dump(store.engine) == one_by_one, f"seed {seed}"

    def test_same_instant_statuses_keep_the_later_stage(self, store: SqlHistoryStore) -> None:
        pairs = list(itertools.product(TaskStatus, repeat=2))

        def change(status: TaskStatus, first: TaskStatus, second: TaskStatus) -> HistoryEvent:
            return TaskStatusChanged("tie", f"{first.value}-{second.value}", status, T0)

        # Across batches the tie is decided in SQL, within one batch by the fold.
        store.apply([change(a, a, b) for a, b in pairs])
        store.apply([change(b, a, b) for a, b in pairs])
        across = {task.task_id: task.status for task in store.tasks("tie")}
        _clear(store)
        store.apply([change(x, a, b) for a, b in pairs for x in (a, b)])
        within = {task.task_id: task.status for task in store.tasks("tie")}

        expected = {f"{a.value}-{b.value}": max(a, b, key=lambda s: s.rank) for a, b in pairs}
        assert across == expected
        assert within == expected


def _wide_run() -> list[HistoryEvent]:
    specs = [
        Spec(
            f"T_{index:04d}",
            reads=[f"s3://in/{index % 17}"],
            writes=[f"s3://out/{index}"],
            failures=index % 5 == 0,
        )
        for index in range(300)
    ]
    return run_events("wide", specs)


def test_concurrent_overlapping_batches_never_deadlock(postgres_store: SqlHistoryStore) -> None:
    store = postgres_store
    events = _wide_run()
    store.apply(events)
    serial = dump(store.engine)
    _clear(store)

    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        # Each writer stores every event (full overlap) in its own order, with no retry: a
        # deadlock or any other error fails the test.
        stream = random.Random(seed).sample(events, len(events))
        try:
            barrier.wait(30)
            for index in range(0, len(stream), 60):
                store.apply(stream[index : index + 60])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in (11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert dump(store.engine) == serial
