"""Luigi's object-level API: Worker, Scheduler, execution_summary, rpc."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dagcore
from dagcore import execution_summary
from dagcore.execution_summary import LuigiRunResult, LuigiStatusCode
from dagcore.interface import _WorkerSchedulerFactory
from dagcore.rpc import RemoteScheduler, RPCError
from dagcore.scheduler import DONE, FAILED, PENDING, Scheduler
from dagcore.worker import TaskException, TaskProcess, Worker


class Part(dagcore.Task):
    num = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/part-{self.num}")

    def run(self) -> None:
        if self.num == 0:
            raise ValueError("part zero is broken")
        self.set_status_message(f"writing {self.num}")
        self.set_progress_percentage(50)
        self.output().open("w").close()


class Whole(dagcore.Task):
    def requires(self) -> list[Part]:
        return [Part(num=i) for i in range(4)]

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/whole")

    def run(self) -> None:
        self.output().open("w").close()


class Raw(dagcore.ExternalTask):
    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/raw")


class UsesRaw(dagcore.Task):
    def requires(self) -> Raw:
        return Raw()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/uses-raw")

    def run(self) -> None:
        self.output().open("w").close()


def test_worker_runs_what_it_added_and_reports_to_the_scheduler() -> None:
    Path("out").mkdir()
    Path("out/part-1").touch()
    scheduler = Scheduler()
    with Worker(scheduler=scheduler) as worker:
        assert worker.add(Whole()) is True
        assert worker.run() is False  # Part(num=0) failed
    assert set(scheduler.task_list(DONE)) == {Part(num=i).task_id for i in (1, 2, 3)}
    assert set(scheduler.task_list(FAILED)) == {Part(num=0).task_id}
    assert set(scheduler.task_list(PENDING)) == {Whole().task_id}
    message = scheduler.get_task_status_message(Part(num=2).task_id)
    assert message["statusMessage"] == "writing 2"
    progress = scheduler.get_task_progress_percentage(Part(num=3).task_id)
    assert progress["progressPercentage"] == 50
    sets = execution_summary._summary_dict(worker)
    assert sets["already_done"] == {Part(num=1)}
    assert sets["completed"] == {Part(num=2), Part(num=3)}
    assert sets["failed"] == {Part(num=0)}
    assert sets["upstream_failure"] == {Whole()}
    text = execution_summary.summary(worker)
    assert "* 2 ran successfully:\n    - 2 Part(num=2,3)\n" in text
    assert "    * 1 had failed dependencies:\n        - 1 Whole()\n" in text
    assert "This progress looks :( because there were failed tasks" in text
    # Part(num=0) is not run again by the next worker: the scheduler waits for its retry delay.
    assert Path("out/part-3").exists() and not Path("out/whole").exists()


def test_missing_external_input_leaves_its_dependents_pending() -> None:
    with Worker(scheduler=Scheduler()) as worker:
        worker.add(UsesRaw())
        worker.add(Part(num=5))
        assert worker.run() is True
    sets = execution_summary._summary_dict(worker)
    assert sets["still_pending_ext"] == {Raw()}
    assert sets["upstream_missing_dependency"] == {UsesRaw()}
    assert sets["completed"] == {Part(num=5)}
    assert execution_summary._tasks_status(sets) is LuigiStatusCode.MISSING_EXT


def test_external_inputs_are_rechecked_when_asked() -> None:
    checks: list[int] = []

    class Appears(dagcore.ExternalTask):
        def complete(self) -> bool:
            checks.append(1)
            return len(checks) >= 4

    class NeedsIt(dagcore.Task):
        done = False

        def requires(self) -> Appears:
            return Appears()

        def complete(self) -> bool:
            return self.done

        def run(self) -> None:
            type(self).done = True

    scheduler = Scheduler(retry_delay=0)
    with Worker(scheduler=scheduler, retry_external_tasks=True) as worker:
        worker.add(NeedsIt())
        worker.run()
    assert NeedsIt.done and len(checks) >= 4


def test_forked_worker_processes_run_tasks() -> None:
    with Worker(scheduler=Scheduler(), worker_processes=2) as worker:
        worker.add(UsesRaw())  # Raw missing: nothing of it runs
        for i in (1, 2, 3):
            worker.add(Part(num=i))
        assert worker.run() is True
    assert all(Path(f"out/part-{i}").exists() for i in (1, 2, 3))


def test_task_process_reports_unfulfilled_requirements() -> None:
    class Result:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def put(self, item: Any) -> None:
            self.items.append(item)

    queue = Result()
    process = TaskProcess(UsesRaw(), "w", queue, status_reporter=None)
    process.run()
    ((task_id, status, expl, missing, _),) = queue.items
    assert task_id == UsesRaw().task_id and status == FAILED
    assert missing == [f"{Raw().task_id} (out/raw)"]
    assert "Unfulfilled dependency at run time" in expl


def test_build_with_luigis_factory_returns_luigis_result() -> None:
    factory = _WorkerSchedulerFactory()
    result = dagcore.build([Part(num=7)], worker_scheduler_factory=factory, detailed_summary=True)
    assert isinstance(result, LuigiRunResult)
    assert result.status is LuigiStatusCode.SUCCESS and result.scheduling_succeeded
    assert dagcore.build([Part(num=0)], worker_scheduler_factory=factory) is False


def test_non_tasks_are_refused() -> None:
    class NoInit(dagcore.Task):
        def __init__(self) -> None:
            pass

    with pytest.raises(TaskException, match="not initialized"):
        dagcore.build([NoInit()])
    with pytest.raises(TaskException, match="non-task"):
        dagcore.build([None])  # type: ignore[list-item]


def test_scheduler_resources_and_priorities() -> None:
    scheduler = Scheduler(resources={"db": 1})
    for name, priority in (("low", 1), ("high", 9)):
        scheduler.add_task(
            task_id=name, worker="w", priority=priority, resources={"db": 1}, family="F"
        )
    first = scheduler.get_work(worker="w")
    assert first["task_id"] == "high"
    assert scheduler.get_work(worker="w")["task_id"] is None  # db is taken
    scheduler.decrease_running_task_resources("high", {"db": 1})
    assert scheduler.get_running_task_resources("high")["resources"] == {"db": 0}
    assert scheduler.get_work(worker="w")["task_id"] == "low"


def test_remote_scheduler_says_what_to_do_instead() -> None:
    with pytest.raises(RPCError, match="no central scheduler"):
        RemoteScheduler()
