"""Conversion of ORM rows into the detached records returned by queries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagcore.history.events import AttemptStatus, Direction, RunStatus, TaskStatus
from dagcore.history.models import Attempt, Run, TaskRun
from dagcore.history.records import AttemptRecord, RunRecord, TaskRunRecord

__all__ = ["attempt_record", "run_record", "task_record"]


def _str_map(value: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


def _int_map(value: dict[str, Any] | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


def run_record(row: Run, task_counts: Mapping[str, int]) -> RunRecord:
    """Detach a ``runs`` row, adding its per-status task counts."""
    return RunRecord(
        run_id=row.run_id,
        status=RunStatus(row.status),
        executor=row.executor or "",
        user=row.user or "",
        host=row.host or "",
        command=row.command or "",
        root_tasks=tuple(row.root_tasks or ()),
        params=_str_map(row.params),
        started_at=row.started_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        summary=row.summary or "",
        task_counts=dict(task_counts),
    )


def task_record(row: TaskRun) -> TaskRunRecord:
    """Detach a ``task_runs`` row."""
    return TaskRunRecord(
        run_id=row.run_id,
        task_id=row.task_id,
        family=row.family,
        module=row.module,
        params=_str_map(row.params),
        queue=row.queue,
        priority=row.priority,
        resources=_int_map(row.resources),
        status=TaskStatus(row.status),
        status_at=row.status_at,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=row.attempts,
    )


def attempt_record(row: Attempt, io: Mapping[tuple[str, int, str], list[str]]) -> AttemptRecord:
    """Detach an ``attempts`` row; ``io`` maps (task id, attempt, direction) to URIs."""
    key = (row.task_id, row.attempt)
    return AttemptRecord(
        run_id=row.run_id,
        task_id=row.task_id,
        attempt=row.attempt,
        host=row.host,
        worker=row.worker,
        celery_id=row.celery_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=AttemptStatus(row.status),
        error_type=row.error_type,
        error_message=row.error_message,
        traceback=row.traceback,
        status_message=row.status_message,
        progress=row.progress,
        tracking_url=row.tracking_url,
        reads=tuple(io.get((*key, Direction.READ.value), ())),
        writes=tuple(io.get((*key, Direction.WRITE.value), ())),
    )
