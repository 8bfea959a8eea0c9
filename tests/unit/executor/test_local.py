"""The local executor, end to end through ``dagcore.build`` with SQLite history."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import dagcore
from dagcore.event import Event
from dagcore.history.events import AttemptStatus, RunStatus, TaskStatus
from dagcore.history.store import SqlHistoryStore
from dagcore.summary import StatusCode, Summary
from dagcore.task import Task
from tests.unit.executor import tasks as t


def _build(roots: list[Task], **kwargs: Any) -> Summary:
    summary = dagcore.build(roots, detailed_summary=True, **kwargs)
    assert isinstance(summary, Summary)
    return summary


@pytest.fixture
def store() -> SqlHistoryStore:
    return SqlHistoryStore.from_url("sqlite:///.dagcore/history.db")


def _intervals(paths: list[Path]) -> list[tuple[float, float]]:
    out = []
    for path in paths:
        start, end = path.read_text().split()
        out.append((float(start), float(end)))
    return out


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_workers_1_runs_in_the_calling_process(store: SqlHistoryStore) -> None:
    summary = _build([t.Step(i=3)], workers=1)
    assert summary.status is StatusCode.SUCCESS and summary.exit_code == 0
    pids = {Path(f"out/step-{i}").read_text() for i in range(4)}
    assert pids == {str(os.getpid())}
    run = store.get_run(summary.run_id)
    assert run is not None and run.status is RunStatus.SUCCESS
    statuses = {task.task_id: task.status for task in store.tasks(summary.run_id)}
    assert set(statuses.values()) == {TaskStatus.SUCCESS}
    attempts = store.attempts(summary.run_id)
    assert len(attempts) == 4 and {a.status for a in attempts} == {AttemptStatus.SUCCESS}
    step1 = next(a for a in attempts if a.task_id == t.Step(i=1).task_id)
    assert step1.reads == (Path("out/step-0").resolve().as_uri(),)
    assert step1.writes == (Path("out/step-1").resolve().as_uri(),)


def test_second_run_runs_nothing() -> None:
    assert dagcore.build([t.Step(i=2)])
    again = _build([t.Step(i=2)])
    assert again.status is StatusCode.SUCCESS
    assert "complete ones were encountered" in again.summary_text
    assert "ran successfully" not in again.summary_text


def test_workers_2_uses_a_process_pool() -> None:
    summary = _build([t.Fan(family="Limited", n=4)], workers=2)
    assert summary.status is StatusCode.SUCCESS
    assert dagcore.build([t.Step(i=5)], workers=2)
    pids = {Path(f"out/step-{i}").read_text() for i in range(6)}
    assert str(os.getpid()) not in pids


@pytest.mark.parametrize("workers", [1, 2])
def test_retries_are_recorded_as_attempts(workers: int, store: SqlHistoryStore) -> None:
    summary = _build([t.Flaky(name=f"w{workers}")], workers=workers)
    assert summary.status is StatusCode.SUCCESS_WITH_RETRY
    attempts = store.attempts(summary.run_id)
    assert [a.status for a in attempts] == [
        AttemptStatus.FAILED,
        AttemptStatus.FAILED,
        AttemptStatus.SUCCESS,
    ]
    assert attempts[0].error_type == "RuntimeError"
    assert "flaky failure 1" in (attempts[0].error_message or "")
    assert "Traceback" in (attempts[0].traceback or "")
    # retry_delay = 0.2 s between a failure and the next attempt
    for before, after in zip(attempts, attempts[1:], strict=False):
        assert before.finished_at is not None and after.started_at is not None
        assert (after.started_at - before.finished_at).total_seconds() >= 0.19


def test_failure_blocks_dependents_but_not_others(store: SqlHistoryStore) -> None:
    summary = _build([t.AfterFailure(), t.Independent()], workers=1)
    assert summary.status is StatusCode.FAILED
    assert summary.exit_code == 30  # [retcode] task_failed
    assert not Path("out/after-failure").exists()
    assert Path("out/independent").exists()
    assert "had failed dependencies" in summary.summary_text
    assert "this task always fails" in summary.summary_text
    statuses = {task.family: task.status for task in store.tasks(summary.run_id)}
    assert statuses["AfterFailure"] is TaskStatus.UPSTREAM_FAILED
    assert statuses["AlwaysFails"] is TaskStatus.FAILED


@pytest.mark.parametrize("workers", [1, 4])
def test_max_running_is_never_exceeded(workers: int, store: SqlHistoryStore) -> None:
    summary = _build([t.Fan(family="Limited", n=8)], workers=workers)
    assert summary.status is StatusCode.SUCCESS
    measured = _intervals([Path(f"out/limited-{i}") for i in range(8)])
    assert _max_overlap(measured) <= 2
    if workers > 1:
        assert _max_overlap(measured) == 2  # the limit is used, not just respected
    recorded = [
        (a.started_at.timestamp(), a.finished_at.timestamp())
        for a in store.attempts(summary.run_id)
        if a.started_at is not None
        and a.finished_at is not None
        and a.task_id.startswith("Limited_")
    ]
    assert len(recorded) == 8 and _max_overlap(recorded) <= 2


def test_resources_cap_concurrency() -> None:
    summary = _build([t.Fan(family="UsesDb", n=6)], workers=3, resources={"db": 1})
    assert summary.status is StatusCode.SUCCESS
    assert _max_overlap(_intervals([Path(f"out/db-{i}") for i in range(6)])) == 1


def test_resource_larger_than_capacity_is_a_clear_error() -> None:
    class Greedy(Task):
        resources = {"gpu": 4}

        def output(self) -> dagcore.LocalTarget:
            return dagcore.LocalTarget("out/greedy")

    with pytest.raises(dagcore.errors.ExecutionError, match=r"needs 4 of resource 'gpu'.*gpu=4"):
        dagcore.build([Greedy()], resources={"gpu": 2})


def test_priorities_order_ready_tasks() -> None:
    roots = [t.Ordered(name=f"p{p}", prio=p) for p in (1, 50, 10, 0, 30)]
    assert dagcore.build(roots, workers=1)
    assert Path("out/order.log").read_text().split() == ["p50", "p30", "p10", "p1", "p0"]


@pytest.mark.parametrize("workers", [1, 2])
def test_dynamic_dependencies(workers: int, store: SqlHistoryStore) -> None:
    summary = _build([t.Dynamic()], workers=workers)
    assert summary.status is StatusCode.SUCCESS
    assert Path("out/dynamic").read_text() == "60"
    # run() restarts after each batch of new requirements, as in Luigi
    assert Path("out/dynamic-runs.log").read_text().split() == ["run", "run", "run"]
    assert sorted(Path("out/leaf-runs.log").read_text().split()) == ["1", "2", "3"]
    families = {task.family for task in store.tasks(summary.run_id)}
    assert families == {"Dynamic", "Leaf"}
    statuses = [a.status for a in store.attempts(summary.run_id, t.Dynamic().task_id)]
    assert statuses == [AttemptStatus.YIELDED, AttemptStatus.YIELDED, AttemptStatus.SUCCESS]


def test_event_handlers_fire_in_process() -> None:
    seen: list[tuple[str, str]] = []

    def record(name: str):  # type: ignore[no-untyped-def]
        def handler(task: Task, *args: object) -> None:
            seen.append((name, task.get_task_family()))

        return handler

    for event in (Event.START, Event.SUCCESS, Event.FAILURE, Event.PROCESSING_TIME):
        Task.event_handler(event)(record(event))
    try:
        _build([t.AfterFailure(), t.Step(i=0)], workers=1)
    finally:
        Task._event_callbacks.pop(Task, None)
    assert (Event.START, "Step") in seen and (Event.SUCCESS, "Step") in seen
    assert (Event.PROCESSING_TIME, "Step") in seen
    assert (Event.FAILURE, "AlwaysFails") in seen
    assert (Event.START, "AfterFailure") not in seen


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_timeout_kills_and_records_timeout(workers: int, store: SqlHistoryStore) -> None:
    summary = _build([t.Slow()], workers=workers)
    assert summary.status is StatusCode.FAILED
    attempts = store.attempts(summary.run_id)
    assert [a.status for a in attempts] == [AttemptStatus.TIMEOUT]
    assert "worker_timeout" in (attempts[0].error_message or "")
    assert attempts[0].finished_at is not None and attempts[0].started_at is not None
    assert (attempts[0].finished_at - attempts[0].started_at).total_seconds() < 10


def test_a_missing_input_leaves_only_its_dependents_pending() -> None:
    """Luigi's semantics: everything that does not need the missing input runs."""

    class Missing(dagcore.ExternalTask):
        def output(self) -> dagcore.LocalTarget:
            return dagcore.LocalTarget("out/not-there")

    class NeedsMissing(Task):
        def requires(self) -> Missing:
            return Missing()

        def output(self) -> dagcore.LocalTarget:
            return dagcore.LocalTarget("out/needs-missing")

    summary = _build([NeedsMissing(), t.Independent()])
    assert summary.status is StatusCode.MISSING_EXT
    assert summary.exit_code == 20  # [retcode] missing_data
    assert summary.scheduling_succeeded  # what build() returns: True, as in Luigi
    assert Path("out/independent").exists()
    assert not Path("out/needs-missing").exists()
    assert "* 1 ran successfully:\n    - 1 Independent()" in summary.summary_text
    assert "had missing dependencies:\n        - 1 NeedsMissing()" in summary.summary_text
    assert dagcore.build([NeedsMissing()]) is True


def test_fail_fast_refuses_the_whole_run() -> None:
    class Missing(dagcore.ExternalTask):
        def output(self) -> dagcore.LocalTarget:
            return dagcore.LocalTarget("out/not-there")

    class NeedsMissing(Task):
        def requires(self) -> Missing:
            return Missing()

    summary = _build([NeedsMissing(), t.Independent()], fail_fast=True)
    assert summary.status is StatusCode.MISSING_EXT
    assert summary.exit_code == 20
    assert not Path("out/independent").exists()  # failed fast: nothing ran


def test_fail_fast_from_the_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing(dagcore.ExternalTask):
        def output(self) -> dagcore.LocalTarget:
            return dagcore.LocalTarget("out/not-there")

    config = tmp_path / "dagcore.toml"
    config.write_text("[core]\nfail_fast = true\n")
    monkeypatch.setenv("DAGCORE_CONFIG_PATH", str(config))
    dagcore.configuration.reset_config()
    try:
        summary = _build([Missing(), t.Independent()])
    finally:
        monkeypatch.delenv("DAGCORE_CONFIG_PATH")
        dagcore.configuration.reset_config()
    assert not Path("out/independent").exists()
    assert summary.status is StatusCode.MISSING_EXT


def test_a_broken_task_is_a_scheduling_failure_and_the_rest_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Task):
        def requires(self) -> Task:
            raise KeyError("partition")

    class NeedsBroken(Task):
        def requires(self) -> Task:
            return Broken()

    broken = _build([NeedsBroken(), t.Independent()])
    assert broken.status is StatusCode.SCHEDULING_FAILED
    assert broken.exit_code == 35
    assert not broken.scheduling_succeeded
    assert Path("out/independent").exists()
    assert "dependencies whose scheduling failed:\n        - 1 NeedsBroken()" in broken.summary_text
    # The error line names the exception and where it was raised.
    assert "KeyError: 'partition' (at " in broken.summary_text
    assert "test_local.py:" in broken.summary_text
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Will not run Broken()" in logged and 'raise KeyError("partition")' in logged


def test_a_failed_task_logs_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    class Fails(Task):
        def run(self) -> None:
            raise ValueError("no good")

    assert dagcore.build([Fails()]) is False
    failures = [r for r in caplog.records if "failed    Fails()" in r.getMessage()]
    assert failures and "Traceback" in failures[0].getMessage()
    assert 'raise ValueError("no good")' in failures[0].getMessage()


def test_history_outage_does_not_fail_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE_HISTORY_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    dagcore.configuration.reset_config()
    assert dagcore.build([t.Step(i=1)])
    assert Path("out/step-1").exists()
