"""The embedded executor recording into a real PostgreSQL history database."""

from __future__ import annotations

from pathlib import Path

import pytest

import dagcore
from dagcore.configuration import reset_config
from dagcore.history.events import AttemptStatus, RunStatus, TaskStatus
from dagcore.history.store import SqlHistoryStore
from dagcore.summary import Summary
from tests.unit.executor import tasks as t


@pytest.mark.parametrize("workers", [1, 2])
def test_build_records_runs_tasks_attempts_and_lineage_in_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    reset_config()
    summary = dagcore.build(
        [t.Step(i=2), t.Flaky(name="pg", failures=1)], workers=workers, detailed_summary=True
    )
    assert isinstance(summary, Summary)
    store = SqlHistoryStore.from_url(postgres_url)
    try:
        run = store.get_run(summary.run_id)
        assert run is not None and run.status is RunStatus.SUCCESS_WITH_RETRY
        assert run.exit_code == 0 and "dagcore Execution Summary" in run.summary
        tasks = {task.family: task for task in store.tasks(summary.run_id) if task.family != "Step"}
        assert tasks["Flaky"].status is TaskStatus.SUCCESS and tasks["Flaky"].attempts == 2
        flaky = store.attempts(summary.run_id, t.Flaky(name="pg", failures=1).task_id)
        assert [a.status for a in flaky] == [AttemptStatus.FAILED, AttemptStatus.SUCCESS]
        assert flaky[0].host and flaky[0].error_type == "RuntimeError"
        lineage = store.lineage(Path("out/step-2").resolve().as_uri())
        produced = [step.producer.task_id for step in lineage.steps if step.producer]
        assert produced == [t.Step(i=i).task_id for i in (2, 1, 0)]
    finally:
        store.close()
