"""Idempotent merging of a batch of history events into the SQL tables.

The event stream is at-least-once and unordered, so a batch may hold duplicates, events ahead
of the row they belong to (an attempt before its plan), and several events for one row (an
attempt's start and end). The batch is first folded in Python into one row per primary key,
with the same rules the database applies (:mod:`dagcore.history.upsert`):

- descriptive fields (a run's command, a task's family) are overwritten by the event that
  brings them;
- a task's status keeps whichever status carries the latest timestamp (ties go to the later
  stage of the life cycle);
- counters keep the maximum seen and start times the minimum;
- lineage rows and plan edges are inserted once.

A row starts as a placeholder (empty text, no timestamps) that the events of the batch fill
in, which is also what an early event leaves in the table until the missing one arrives.

Then each table gets one executemany of its cached upsert statement, tables in a fixed order
and rows sorted by key. Folding bounds the work by the number of rows rather than events, and
the fixed order means concurrent writers lock rows in the same sequence and cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table

from dagcore.errors import HistoryError
from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    Direction,
    HistoryEvent,
    RunFinished,
    RunStarted,
    RunStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.upsert import (
    ATTEMPTS,
    RUNS,
    TARGET_IO,
    TASK_EDGES,
    TASK_RUNS,
    upsert_statement,
)

__all__ = ["FoldedBatch", "apply_events", "fold_events"]

Row = dict[str, Any]
_RunKey = tuple[str]
_TaskKey = tuple[str, str]
_AttemptKey = tuple[str, str, int]
_IOKey = tuple[str, str, int, str, str]
_EdgeKey = tuple[str, str, str]


def _earlier(current: datetime | None, incoming: datetime | None) -> datetime | None:
    if current is None or (incoming is not None and incoming < current):
        return incoming
    return current


class FoldedBatch:
    """A batch of events folded into one row per primary key of each table."""

    def __init__(self) -> None:
        self.runs: dict[_RunKey, Row] = {}
        self.tasks: dict[_TaskKey, Row] = {}
        self.attempts: dict[_AttemptKey, Row] = {}
        self.target_io: set[_IOKey] = set()
        self.edges: set[_EdgeKey] = set()

    def run(self, run_id: str) -> Row:
        """The row of ``run_id``, created as a placeholder on first use."""
        row = self.runs.get((run_id,))
        if row is None:
            row = self.runs[(run_id,)] = {
                "run_id": run_id,
                "status": RunStatus.RUNNING.value,
                "executor": "",
                "username": "",
                "host": "",
                "command": "",
                "root_tasks": [],
                "params": {},
                "started_at": None,
                "finished_at": None,
                "exit_code": None,
                "summary": "",
            }
        return row

    def task(self, run_id: str, task_id: str) -> Row:
        """The ``task_runs`` row of a task, created as a placeholder on first use."""
        row = self.tasks.get((run_id, task_id))
        if row is None:
            row = self.tasks[(run_id, task_id)] = {
                "run_id": run_id,
                "task_id": task_id,
                "family": "",
                "module": "",
                "params": {},
                "resources": {},
                "queue": "",
                "priority": 0,
                "status": TaskStatus.PENDING.value,
                "status_at": None,
                "created_at": None,
                "started_at": None,
                "finished_at": None,
                "attempts": 0,
            }
        return row

    def attempt(self, run_id: str, task_id: str, attempt: int) -> Row:
        """The row of one attempt, created as a placeholder (still running) on first use."""
        row = self.attempts.get((run_id, task_id, attempt))
        if row is None:
            row = self.attempts[(run_id, task_id, attempt)] = {
                "run_id": run_id,
                "task_id": task_id,
                "attempt": attempt,
                "host": None,
                "worker": None,
                "celery_id": None,
                "started_at": None,
                "finished_at": None,
                "status": AttemptStatus.RUNNING.value,
                "error_type": None,
                "error_message": None,
                "traceback": None,
                "status_message": None,
                "progress": None,
                "tracking_url": None,
            }
        return row

    def task_status(self, run_id: str, task_id: str, status: TaskStatus, at: datetime) -> None:
        """Record that a task reached ``status`` at ``at``, unless it holds a later one."""
        row = self.task(run_id, task_id)
        current: datetime | None = row["status_at"]
        if current is not None and (
            at < current or (at == current and status.rank <= TaskStatus(row["status"]).rank)
        ):
            return
        row["status"] = status.value
        row["status_at"] = at
        row["finished_at"] = at if status.is_terminal else None

    def task_attempt(
        self, run_id: str, task_id: str, attempt: int, started: datetime | None
    ) -> None:
        """Count an attempt of a task and keep its earliest start."""
        row = self.task(run_id, task_id)
        row["attempts"] = max(row["attempts"], attempt)
        row["started_at"] = _earlier(row["started_at"], started)

    def sorted_rows(self) -> Iterator[tuple[Table, list[Row]]]:
        """Each table with its rows in key order, tables in the fixed order of every writer."""
        io_rows = [
            {"run_id": r, "task_id": t, "attempt": a, "direction": d, "uri": u}
            for r, t, a, d, u in sorted(self.target_io)
        ]
        yield RUNS, [self.runs[key] for key in sorted(self.runs)]
        yield TASK_RUNS, [self.tasks[key] for key in sorted(self.tasks)]
        yield ATTEMPTS, [self.attempts[key] for key in sorted(self.attempts)]
        yield TARGET_IO, io_rows
        yield (
            TASK_EDGES,
            [{"run_id": r, "task_id": t, "upstream_id": u} for r, t, u in sorted(self.edges)],
        )


def _add_run_started(batch: FoldedBatch, event: RunStarted) -> None:
    batch.run(event.run_id).update(
        executor=event.executor,
        username=event.user,
        host=event.host,
        command=event.command,
        root_tasks=list(event.root_tasks),
        params=dict(event.params),
        started_at=event.started_at,
    )


def _add_run_finished(batch: FoldedBatch, event: RunFinished) -> None:
    batch.run(event.run_id).update(
        status=event.status.value,
        finished_at=event.finished_at,
        exit_code=event.exit_code,
        summary=event.summary_text,
    )


def _add_planned(batch: FoldedBatch, event: TasksPlanned) -> None:
    planned_at = event.planned_at
    for task in event.tasks:
        row = batch.task(event.run_id, task.task_id)
        row.update(
            family=task.family,
            module=task.module,
            params=dict(task.params),
            resources=dict(task.resources),
            queue=task.queue,
            priority=task.priority,
        )
        row["created_at"] = _earlier(row["created_at"], planned_at)
        batch.edges.update((event.run_id, task.task_id, dep) for dep in task.deps)
        batch.task_status(event.run_id, task.task_id, task.status, planned_at)


def _add_attempt_started(batch: FoldedBatch, event: AttemptStarted) -> None:
    batch.attempt(event.run_id, event.task_id, event.attempt).update(
        host=event.host,
        worker=event.worker,
        celery_id=event.celery_id,
        started_at=event.started_at,
    )
    batch.task_attempt(event.run_id, event.task_id, event.attempt, event.started_at)


def _add_attempt_finished(batch: FoldedBatch, event: AttemptFinished) -> None:
    batch.attempt(event.run_id, event.task_id, event.attempt).update(
        status=event.status.value,
        finished_at=event.finished_at,
        error_type=event.error_type,
        error_message=event.error_message,
        traceback=event.traceback,
        status_message=event.status_message,
        progress=event.progress,
        tracking_url=event.tracking_url,
    )
    batch.task_attempt(event.run_id, event.task_id, event.attempt, None)
    for direction, uris in ((Direction.READ, event.reads), (Direction.WRITE, event.writes)):
        for uri in uris:
            batch.target_io.add((event.run_id, event.task_id, event.attempt, direction.value, uri))


def fold_events(events: Iterable[HistoryEvent]) -> FoldedBatch:
    """Fold ``events`` into one row per key, as applying them one by one would leave it.

    Raises:
        HistoryError: An item of ``events`` is not a history event.
    """
    batch = FoldedBatch()
    for event in events:
        if isinstance(event, TaskStatusChanged):
            batch.task_status(event.run_id, event.task_id, event.status, event.at)
        elif isinstance(event, AttemptStarted):
            _add_attempt_started(batch, event)
        elif isinstance(event, AttemptFinished):
            _add_attempt_finished(batch, event)
        elif isinstance(event, TasksPlanned):
            _add_planned(batch, event)
        elif isinstance(event, RunStarted):
            _add_run_started(batch, event)
        elif isinstance(event, RunFinished):
            _add_run_finished(batch, event)
        else:
            raise HistoryError(f"cannot store {type(event).__name__}: not a history event")
    return batch


def apply_events(connection: Connection, events: Sequence[HistoryEvent]) -> None:
    """Merge a batch of events into the tables through ``connection``.

    The caller owns the transaction; the batch is applied completely or not at all.

    Raises:
        HistoryError: An item of ``events`` is not a history event, or the dialect is neither
            SQLite nor PostgreSQL.
    """
    batch = fold_events(events)
    dialect = connection.dialect.name
    for table, rows in batch.sorted_rows():
        if rows:
            connection.execute(upsert_statement(dialect, table.name), rows)
