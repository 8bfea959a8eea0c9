"""The history store contract, run against SQLite and a real PostgreSQL.

Every test gets an empty database: a SQLite file in ``tmp_path`` or a freshly created PostgreSQL
database (the ``postgres_url`` fixture of ``tests/integration/conftest.py``).
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, inspect, text

from dagcore.errors import HistoryError
from dagcore.history.events import (
    AttemptFinished,
    AttemptStatus,
    HistoryEvent,
    PlannedTask,
    RunFinished,
    RunStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.models import Attempt, Base, Run, TargetIO, TaskRun
from dagcore.history.report import run_to_json
from dagcore.history.store import HistoryUnavailableError, SqlHistoryStore
from tests.unit.history.history_samples import T0, Spec, at, diamond, dump, run_events

pytestmark = pytest.mark.integration

HISTORY_TABLES = {"runs", "task_runs", "attempts", "target_io", "task_edges"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'history.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlHistoryStore]:
    """A store on the empty database, closed after the test."""
    opened = SqlHistoryStore(store_url)
    yield opened
    opened.close()


def _clear(store: SqlHistoryStore) -> None:
    with store.engine.begin() as connection:
        for model in (Run, TaskRun, Attempt, TargetIO):
            connection.execute(delete(model))


def _apply_with_retry(store: SqlHistoryStore, batch: list[HistoryEvent]) -> None:
    # Concurrent writers may deadlock on PostgreSQL; that surfaces as a transient error that the
    # real writers retry, and so does this helper.
    for _ in range(50):
        try:
            store.apply(batch)
            return
        except HistoryUnavailableError:
            continue
    raise AssertionError("apply kept failing")


class TestSchema:
    def test_schema_is_created_on_first_use(self, store: SqlHistoryStore) -> None:
        if store.engine.dialect.name == "sqlite":
            assert store.engine.url.database is not None
            assert not Path(store.engine.url.database).exists()
        else:
            assert not HISTORY_TABLES & set(inspect(store.engine).get_table_names())

        assert store.list_runs() == []

        assert HISTORY_TABLES <= set(inspect(store.engine).get_table_names())
        with store.engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == "0002"

    def test_models_match_the_latest_migration(self, store: SqlHistoryStore) -> None:
        store.migrate()
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == []

    def test_second_store_on_same_database_reuses_the_schema(self, store_url: str) -> None:
        first, second = SqlHistoryStore(store_url), SqlHistoryStore(store_url)
        try:
            first.apply(run_events("r1", diamond()))
            second.migrate()
            assert [run.run_id for run in second.list_runs()] == ["r1"]
        finally:
            first.close()
            second.close()

    def test_simultaneous_first_use_migrates_once(self, store_url: str) -> None:
        stores = [SqlHistoryStore(store_url) for _ in range(4)]
        barrier = threading.Barrier(len(stores))
        errors: list[BaseException] = []

        def first_use(store: SqlHistoryStore, run_id: str) -> None:
            try:
                barrier.wait(30)
                store.apply(run_events(run_id, diamond()))
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [
            threading.Thread(target=first_use, args=(store, f"r{index}"))
            for index, store in enumerate(stores)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        try:
            assert errors == []
            assert len(stores[0].list_runs()) == 4
            with stores[0].engine.connect() as connection:
                rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [tuple(row) for row in rows] == [("0002",)]
        finally:
            for store in stores:
                store.close()


class TestApply:
    def test_applying_a_batch_twice_changes_nothing(self, store: SqlHistoryStore) -> None:
        events = run_events("r1", diamond())
        store.apply(events)
        before = dump(store.engine)
        store.apply(events)
        assert dump(store.engine) == before
        assert len(before["task_runs"]) == 4
        assert len(before["attempts"]) == 5

    def test_any_order_and_duplicates_give_the_same_rows(self, store: SqlHistoryStore) -> None:
        events = run_events("r1", diamond()) + run_events("r2", diamond(), start=at(600))
        store.apply(events)
        reference = dump(store.engine)
        for seed in range(4):
            _clear(store)
            rng = random.Random(seed)
            stream = events + rng.sample(events, len(events) // 2)  # at-least-once duplicates
            rng.shuffle(stream)
            cut = rng.randrange(1, len(stream))
            store.apply(stream[:cut])
            store.apply(stream[cut:])
            assert dump(store.engine) == reference, f"seed {seed}"

    def test_a_stale_status_does_not_replace_a_newer_one(self, store: SqlHistoryStore) -> None:
        store.apply(run_events("r1", [Spec("A_1")]))
        store.apply([TaskStatusChanged("r1", "A_1", TaskStatus.RUNNING, at(1))])
        store.apply([TasksPlanned("r1", [PlannedTask("A_1", "A", "m")], planned_at=T0)])
        (task,) = store.tasks("r1")
        assert task.status is TaskStatus.SUCCESS
        assert task.finished_at == at(3)

        store.apply([TaskStatusChanged("r1", "A_1", TaskStatus.PENDING, at(10))])
        assert store.tasks("r1")[0].status is TaskStatus.PENDING

    def test_events_ahead_of_their_parents_are_completed_later(
        self, store: SqlHistoryStore
    ) -> None:
        events = run_events("r1", [Spec("A_1", reads=["s://x"], writes=["s://y"])])
        finished = [e for e in events if isinstance(e, (AttemptFinished, RunFinished))]
        store.apply(finished)
        run = store.get_run("r1")
        assert run is not None and run.status is RunStatus.SUCCESS and run.started_at is None
        (early,) = store.tasks("r1")
        assert (early.family, early.attempts, early.status) == ("", 1, TaskStatus.PENDING)
        (attempt,) = store.attempts("r1")
        assert attempt.host is None and attempt.status is AttemptStatus.SUCCESS

        store.apply(events)
        run = store.get_run("r1")
        assert run is not None and run.started_at == T0 and run.user == "alice"
        (task,) = store.tasks("r1")
        assert (task.family, task.module, task.status) == ("A", "examples.sample", "SUCCESS")
        assert task.started_at == at(2)
        (attempt,) = store.attempts("r1")
        assert (attempt.host, attempt.status) == ("host-a", AttemptStatus.SUCCESS)
        assert attempt.writes == ("s://y",)

    def test_concurrent_writers_of_one_run_agree(self, store: SqlHistoryStore) -> None:
        events = run_events("r1", diamond()) + run_events("r2", diamond(), start=at(100))
        store.apply(events)
        reference = dump(store.engine)
        _clear(store)
        errors: list[BaseException] = []

        def writer(seed: int) -> None:
            rng = random.Random(seed)
            stream = rng.sample(events, len(events))
            try:
                for index in range(0, len(stream), 7):
                    _apply_with_retry(store, stream[index : index + 7])
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(seed,)) for seed in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        assert dump(store.engine) == reference

    def test_a_large_plan_is_stored_in_one_batch(self, store: SqlHistoryStore) -> None:
        planned = [
            PlannedTask(f"T_{index:05d}", "T", "m", {"i": str(index)}, priority=index % 3)
            for index in range(5000)
        ]
        store.apply([TasksPlanned("big", planned, planned_at=T0)])
        store.apply([TaskStatusChanged("big", "T_00042", TaskStatus.FAILED, at(5))])
        tasks = store.tasks("big")
        assert len(tasks) == 5000
        assert {task.task_id: task.status for task in tasks}["T_00042"] is TaskStatus.FAILED
        assert sum(task.status is TaskStatus.PENDING for task in tasks) == 4999


class TestQueries:
    def test_list_runs_is_newest_first_with_task_counts(self, store: SqlHistoryStore) -> None:
        for index in range(5):
            store.apply(run_events(f"run{index}", diamond(), start=at(3600 * index)))
        store.apply(run_events("failing", [Spec("A_1", succeed=False)], start=at(-60)))

        runs = store.list_runs(limit=3)
        assert [run.run_id for run in runs] == ["run4", "run3", "run2"]
        assert runs[0].task_counts == {"SUCCESS": 4}
        assert runs[0].duration is not None and runs[0].duration > timedelta(0)
        everything = store.list_runs(limit=100)
        assert everything[-1].run_id == "failing"
        assert everything[-1].status is RunStatus.FAILED
        assert everything[-1].task_counts == {"FAILED": 1}

    def test_get_run_accepts_a_unique_prefix(self, store: SqlHistoryStore) -> None:
        for run_id in ("3fa85f64aa", "3fa85f64bb", "7c9e6679cc", "a_c%"):
            store.apply(run_events(run_id, [Spec("A_1")]))

        found = store.get_run("7c9e")
        assert found is not None and found.run_id == "7c9e6679cc"
        exact = store.get_run("3fa85f64bb")
        assert exact is not None and exact.root_tasks == ("A_1",)
        with pytest.raises(HistoryError, match="3fa85f64aa, 3fa85f64bb"):
            store.get_run("3fa8")
        assert store.get_run("ffff") is None
        assert store.get_run("") is None
        # LIKE wildcards in the prefix are literal characters.
        assert store.get_run("%") is None
        matched = store.get_run("a_")
        assert matched is not None and matched.run_id == "a_c%"
        assert store.get_run("_") is None

    def test_tasks_and_attempts(self, store: SqlHistoryStore) -> None:
        store.apply(run_events("r1", [*diamond(), Spec("Z_1", done=True)]))
        tasks = {task.task_id: task for task in store.tasks("r1")}
        assert set(tasks) == {"A_1", "B_1", "C_1", "D_1", "Z_1"}
        assert tasks["C_1"].attempts == 2 and tasks["C_1"].status is TaskStatus.SUCCESS
        assert tasks["Z_1"].status is TaskStatus.DONE and tasks["Z_1"].attempts == 0
        assert tasks["A_1"].resources == {"cpu": 1}
        assert tasks["A_1"].duration == tasks["A_1"].finished_at - tasks["A_1"].started_at  # type: ignore[operator]

        attempts = store.attempts("r1")
        assert [(a.task_id, a.attempt) for a in attempts] == [
            ("A_1", 1),
            ("B_1", 1),
            ("C_1", 1),
            ("C_1", 2),
            ("D_1", 1),
        ]
        failed, retried = store.attempts("r1", "C_1")
        assert failed.status is AttemptStatus.FAILED
        assert failed.error_type == "ValueError" and failed.error_message == "bad input in C_1"
        assert failed.traceback is not None and failed.traceback.startswith("Traceback")
        assert failed.writes == () and failed.reads == ("mem://a",)
        assert retried.status is AttemptStatus.SUCCESS and retried.worker == "worker-2"
        assert store.attempts("r1", "D_1")[0].reads == ("mem://b", "mem://c")
        assert store.tasks("nope") == [] and store.attempts("nope") == []


class TestLineage:
    def test_diamond_is_walked_transitively_visiting_each_target_once(
        self, store: SqlHistoryStore
    ) -> None:
        store.apply(run_events("r1", diamond()))
        lineage = store.lineage("mem://d")
        assert lineage.uris == ["mem://d", "mem://b", "mem://c", "mem://a", "mem://src"]
        assert [step.depth for step in lineage.steps] == [0, 1, 1, 2, 3]
        assert not lineage.truncated
        top = lineage.steps[0]
        assert top.producer is not None
        assert (top.producer.run_id, top.producer.task_id, top.producer.attempt) == (
            "r1",
            "D_1",
            1,
        )
        assert top.inputs == ("mem://b", "mem://c")
        c_step = lineage.step("mem://c")
        assert c_step is not None and c_step.producer is not None
        assert c_step.producer.attempt == 2  # the failed first attempt wrote nothing
        source = lineage.step("mem://src")
        assert source is not None and source.producer is None and source.inputs == ()
        assert store.lineage("mem://unknown").steps[0].producer is None

    def test_cycles_terminate_and_depth_is_bounded(self, store: SqlHistoryStore) -> None:
        store.apply(run_events("r1", [Spec("X_1", reads=["c://y"], writes=["c://x"])]))
        store.apply(
            run_events("r2", [Spec("Y_1", reads=["c://x"], writes=["c://y"])], start=at(100))
        )
        cycle = store.lineage("c://x")
        assert cycle.uris == ["c://x", "c://y"] and not cycle.truncated

        chain = [Spec(f"S_{i}", reads=[f"k://{i}"], writes=[f"k://{i + 1}"]) for i in range(12)]
        store.apply(run_events("r3", chain, start=at(1000)))
        full = store.lineage("k://12")
        assert len(full.steps) == 13 and not full.truncated
        short = store.lineage("k://12", max_depth=4)
        assert short.uris == [f"k://{i}" for i in range(12, 7, -1)]
        assert short.truncated

    def test_the_producer_is_the_version_that_was_read(self, store: SqlHistoryStore) -> None:
        store.apply(run_events("old", [Spec("W_1", writes=["v://data"])]))
        store.apply(
            run_events("use", [Spec("U_1", reads=["v://data"], writes=["v://out"])], start=at(100))
        )
        store.apply(run_events("new", [Spec("W_1", writes=["v://data"])], start=at(200)))

        via_consumer = store.lineage("v://out").step("v://data")
        assert via_consumer is not None and via_consumer.producer is not None
        assert via_consumer.producer.run_id == "old"
        latest = store.lineage("v://data").steps[0].producer
        assert latest is not None and latest.run_id == "new"


def test_run_json_has_iso_timestamps_and_plain_statuses(store: SqlHistoryStore) -> None:
    store.apply(run_events("r1", diamond()))
    run = store.get_run("r1")
    assert run is not None
    data = json.loads(run_to_json(run, store.tasks("r1"), store.attempts("r1")))
    assert data["run"]["status"] == "SUCCESS"
    assert datetime.fromisoformat(data["run"]["started_at"]) == T0
    assert data["run"]["task_counts"] == {"SUCCESS": 4}
    assert [task["task_id"] for task in data["tasks"]] == ["A_1", "B_1", "C_1", "D_1"]
    failed = [a for a in data["attempts"] if a["status"] == "FAILED"]
    assert failed[0]["error_type"] == "ValueError"
    assert datetime.fromisoformat(failed[0]["finished_at"]).utcoffset() == timedelta(0)
