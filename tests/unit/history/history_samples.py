"""Sample history events shared by the history tests (unit and integration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select

from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    HistoryEvent,
    PlannedTask,
    RunFinished,
    RunStarted,
    RunStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.models import Attempt, Run, TargetIO, TaskRun

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds: float, start: datetime = T0) -> datetime:
    """A timestamp ``seconds`` after ``start``."""
    return start + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Spec:
    """One task of a sample run.

    ``failures`` failed attempts come before the last one; ``succeed`` decides the last one.
    ``done`` tasks were already complete at planning and never run.
    """

    task_id: str
    reads: Sequence[str] = ()
    writes: Sequence[str] = ()
    failures: int = 0
    succeed: bool = True
    done: bool = False
    params: dict[str, str] = field(default_factory=dict)


def _task_events(run_id: str, spec: Spec, clock: float, start: datetime) -> list[HistoryEvent]:
    events: list[HistoryEvent] = [
        TaskStatusChanged(run_id, spec.task_id, TaskStatus.RUNNING, at(clock, start))
    ]
    attempts = spec.failures + 1
    for number in range(1, attempts + 1):
        last = number == attempts
        ok = last and spec.succeed
        began, ended = at(clock + 2 * number - 1, start), at(clock + 2 * number, start)
        events.append(
            AttemptStarted(run_id, spec.task_id, number, "host-a", f"worker-{number}", None, began)
        )
        events.append(
            AttemptFinished(
                run_id,
                spec.task_id,
                number,
                ended,
                AttemptStatus.SUCCESS if ok else AttemptStatus.FAILED,
                error_type=None if ok else "ValueError",
                error_message=None if ok else f"bad input in {spec.task_id}",
                traceback=None if ok else 'Traceback (most recent call last):\n  File "x.py"\n',
                reads=spec.reads,
                writes=spec.writes if ok else (),
            )
        )
        if not last:
            events.append(
                TaskStatusChanged(
                    run_id, spec.task_id, TaskStatus.RETRY_WAIT, at(clock + 2 * number, start)
                )
            )
    final = TaskStatus.SUCCESS if spec.succeed else TaskStatus.FAILED
    events.append(TaskStatusChanged(run_id, spec.task_id, final, at(clock + 2 * attempts, start)))
    return events


def run_events(
    run_id: str,
    specs: Sequence[Spec],
    start: datetime = T0,
    *,
    finish: bool = True,
    user: str = "alice",
) -> list[HistoryEvent]:
    """The events of one run executing ``specs`` in order, in the order they happen."""
    planned = [
        PlannedTask(
            task_id=spec.task_id,
            family=spec.task_id.split("_")[0],
            module="examples.sample",
            params=spec.params,
            queue="default",
            priority=0,
            resources={"cpu": 1},
            status=TaskStatus.DONE if spec.done else TaskStatus.PENDING,
        )
        for spec in specs
    ]
    events: list[HistoryEvent] = [
        RunStarted(
            run_id=run_id,
            started_at=start,
            user=user,
            host="host-a",
            command="dagcore run --module examples.sample D",
            root_tasks=[specs[-1].task_id],
            executor="local",
            params={"workers": "1"},
        ),
        TasksPlanned(run_id, planned, planned_at=start),
    ]
    clock = 1.0
    for spec in specs:
        if spec.done:
            continue
        events += _task_events(run_id, spec, clock, start)
        clock += 2 * (spec.failures + 1) + 1
    if finish:
        ok = all(spec.succeed for spec in specs)
        events.append(
            RunFinished(
                run_id,
                at(clock, start),
                RunStatus.SUCCESS if ok else RunStatus.FAILED,
                0 if ok else 1,
                "Scheduled tasks: all done\n",
            )
        )
    return events


def diamond(prefix: str = "mem://") -> list[Spec]:
    """A -> (B, C) -> D through targets a, b, c, d; A reads the source ``src``."""
    return [
        Spec("A_1", reads=[f"{prefix}src"], writes=[f"{prefix}a"]),
        Spec("B_1", reads=[f"{prefix}a"], writes=[f"{prefix}b"]),
        Spec("C_1", reads=[f"{prefix}a"], writes=[f"{prefix}c"], failures=1),
        Spec("D_1", reads=[f"{prefix}b", f"{prefix}c"], writes=[f"{prefix}d"]),
    ]


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the four history tables, in key order, for comparing database states."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for model in (Run, TaskRun, Attempt, TargetIO):
            table: Table = model.__table__  # type: ignore[assignment]
            query = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in connection.execute(query)]
    return out
