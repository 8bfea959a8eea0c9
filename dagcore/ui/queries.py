"""The UI's reads of the history database, shaped for the JSON API.

Every function takes an SQLAlchemy :class:`~sqlalchemy.engine.Engine` of a migrated history
database and returns plain JSON-ready values. Large runs are answered with column-wise lists
(task ids once, then indexes) so that a 30,000-task run stays a few megabytes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select

from dagcore.history.events import Direction
from dagcore.history.models import Attempt, Run, TargetIO, TaskEdge, TaskRun
from dagcore.history.records import Lineage
from dagcore.history.store import task_counts

__all__ = [
    "RunFilter",
    "iso",
    "lineage_graph",
    "list_runs",
    "parse_time",
    "run_delta",
    "run_detail",
    "run_graph",
    "run_timeline",
    "task_detail",
    "get_run",
    "family_of",
]


def iso(value: datetime | None) -> str | None:
    """An ISO 8601 string, or ``None``."""
    return value.isoformat() if value is not None else None


def parse_time(value: str | None) -> datetime | None:
    """Parse an ISO 8601 time from a query string (UTC when no offset is given).

    Raises:
        ValueError: not an ISO 8601 time.
    """
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def family_of(task: str) -> str:
    """The family part of a task's repr (``Family(param=value)``) or id (``Family_..._hash``)."""
    if "(" in task:
        return task.split("(", 1)[0]
    return task.split("_", 1)[0]


class RunFilter:
    """The filters of ``/api/runs``: status, root family, executor, time window, limit."""

    def __init__(
        self,
        status: str | None = None,
        family: str | None = None,
        executor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> None:
        self.status = status
        self.family = family
        self.executor = executor
        self.since = since
        self.until = until
        self.limit = max(1, min(limit, 5000))


def _root_families(runs: list[Any]) -> dict[str, set[str]]:
    # Roots are recorded as the tasks' reprs, ``Family(param=value)``.
    return {run.run_id: {family_of(root) for root in run.root_tasks or ()} for run in runs}


def _counts(engine: Engine, run_ids: list[str]) -> dict[str, dict[str, int]]:
    with engine.connect() as connection:
        return task_counts(connection, run_ids)


def _run_dict(run: Any, counts: dict[str, int], families: set[str]) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "executor": run.executor or "",
        "user": run.username or "",
        "host": run.host or "",
        "command": run.command or "",
        "root_tasks": list(run.root_tasks or ()),
        "root_families": sorted(families),
        "params": run.params or {},
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_seconds": _seconds(run.started_at, run.finished_at),
        "exit_code": run.exit_code,
        "summary": run.summary or "",
        "task_counts": counts,
        "total_tasks": sum(counts.values()),
    }


def list_runs(engine: Engine, filters: RunFilter) -> list[dict[str, Any]]:
    """The runs matching ``filters``, newest first."""
    query = select(Run.__table__).order_by(Run.started_at.desc().nulls_last(), Run.run_id.desc())
    if filters.status:
        query = query.where(Run.status == filters.status.upper())
    if filters.executor:
        query = query.where(Run.executor == filters.executor)
    if filters.since is not None:
        query = query.where(Run.started_at >= filters.since)
    if filters.until is not None:
        query = query.where(Run.started_at <= filters.until)
    # The root family lives in task rows, so filter it after a wider window of runs.
    query = query.limit(filters.limit * 20 if filters.family else filters.limit)
    with engine.connect() as connection:
        runs = list(connection.execute(query))
    families = _root_families(runs)
    if filters.family:
        runs = [run for run in runs if filters.family in families[run.run_id]][: filters.limit]
    counts = _counts(engine, [run.run_id for run in runs])
    return [_run_dict(run, counts.get(run.run_id, {}), families[run.run_id]) for run in runs]


def get_run(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """One run (exact id, or a unique prefix), or ``None``."""
    with engine.connect() as connection:
        run = connection.execute(select(Run.__table__).where(Run.run_id == run_id)).first()
        if run is None:
            matches = list(
                connection.execute(
                    select(Run.__table__)
                    .where(Run.run_id.startswith(run_id, autoescape=True))
                    .limit(2)
                )
            )
            if len(matches) != 1:
                return None
            run = matches[0]
    families = _root_families([run])
    counts = _counts(engine, [run.run_id])
    return _run_dict(run, counts.get(run.run_id, {}), families[run.run_id])


def _max_status_at(engine: Engine, run_id: str) -> str | None:
    query = select(func.max(TaskRun.status_at)).where(TaskRun.run_id == run_id)
    with engine.connect() as connection:
        value = connection.execute(query).scalar()
    if isinstance(value, str):  # SQLite's max() returns the stored text, not a datetime
        value = parse_time(value)
    return iso(value)


def _label(family: str, params: dict[str, Any] | None) -> str:
    shown = ", ".join(f"{key}={value}" for key, value in (params or {}).items())
    return f"{family}({shown})"


def run_graph(engine: Engine, run_id: str) -> dict[str, Any]:
    """The run's DAG in compact form, with the delta ``cursor``.

    ``tasks`` are ``[id, family, status, attempts, label]`` rows; ``edges`` are
    ``[upstream index, downstream index]`` pairs.
    """
    tasks = select(
        TaskRun.task_id, TaskRun.family, TaskRun.status, TaskRun.attempts, TaskRun.params
    ).where(TaskRun.run_id == run_id)
    edges = select(TaskEdge.task_id, TaskEdge.upstream_id).where(TaskEdge.run_id == run_id)
    with engine.connect() as connection:
        rows: list[list[Any]] = [
            [task_id, family or family_of(task_id), status, attempts, _label(family, params)]
            for task_id, family, status, attempts, params in connection.execute(
                tasks.order_by(TaskRun.task_id)
            )
        ]
        index = {row[0]: n for n, row in enumerate(rows)}
        pairs = [
            [index[upstream], index[task_id]]
            for task_id, upstream in connection.execute(edges)
            if task_id in index and upstream in index
        ]
    return {"tasks": rows, "edges": pairs, "cursor": _max_status_at(engine, run_id)}


def run_delta(engine: Engine, run_id: str, since: datetime | None) -> dict[str, Any]:
    """What changed in a run since ``cursor``: its status and the tasks whose status moved.

    Tasks whose status time equals the cursor come again (clients apply them idempotently), so
    two changes within one timestamp are never missed.
    """
    query = select(
        TaskRun.task_id, TaskRun.family, TaskRun.status, TaskRun.attempts, TaskRun.params
    ).where(TaskRun.run_id == run_id)
    if since is not None:
        query = query.where(TaskRun.status_at >= since)
    with engine.connect() as connection:
        rows = [
            [task_id, family or family_of(task_id), status, attempts, _label(family, params)]
            for task_id, family, status, attempts, params in connection.execute(query)
        ]
        run = connection.execute(
            select(Run.status, Run.finished_at).where(Run.run_id == run_id)
        ).first()
    return {
        "status": run.status if run else None,
        "finished_at": iso(run.finished_at) if run else None,
        "tasks": rows,
        "cursor": _max_status_at(engine, run_id),
    }


def _attempt_dict(row: Any, io: dict[tuple[str, int, str], list[str]]) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "attempt": row.attempt,
        "host": row.host,
        "worker": row.worker,
        "celery_id": row.celery_id,
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "duration_seconds": _seconds(row.started_at, row.finished_at),
        "status": row.status,
        "error_type": row.error_type,
        "error_message": row.error_message,
        "traceback": row.traceback,
        "status_message": row.status_message,
        "progress": row.progress,
        "tracking_url": row.tracking_url,
        "reads": io.get((row.task_id, row.attempt, Direction.READ.value), []),
        "writes": io.get((row.task_id, row.attempt, Direction.WRITE.value), []),
    }


def _task_dict(row: Any) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "family": row.family,
        "module": row.module,
        "params": row.params or {},
        "queue": row.queue,
        "priority": row.priority,
        "resources": row.resources or {},
        "status": row.status,
        "status_at": iso(row.status_at),
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "duration_seconds": _seconds(row.started_at, row.finished_at),
        "attempts": row.attempts,
    }


def _attempts(engine: Engine, run_id: str, task_ids: list[str] | None) -> list[dict[str, Any]]:
    query = select(Attempt.__table__).where(Attempt.run_id == run_id)
    io_query = select(TargetIO.task_id, TargetIO.attempt, TargetIO.direction, TargetIO.uri).where(
        TargetIO.run_id == run_id
    )
    if task_ids is not None:
        query = query.where(Attempt.task_id.in_(task_ids))
        io_query = io_query.where(TargetIO.task_id.in_(task_ids))
    io: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    with engine.connect() as connection:
        for task, attempt, direction, uri in connection.execute(io_query.order_by(TargetIO.uri)):
            io[(task, attempt, direction)].append(uri)
        rows = connection.execute(query.order_by(Attempt.task_id, Attempt.attempt))
        return [_attempt_dict(row, io) for row in rows]


def run_detail(
    engine: Engine, run_id: str, limit: int | None = None, offset: int = 0
) -> dict[str, Any]:
    """``/api/runs/RUN_ID``: the run's tasks and their attempts (with what each read and
    wrote); with ``limit``, one page of tasks in task id order and ``next_offset``."""
    query = select(TaskRun.__table__).where(TaskRun.run_id == run_id).order_by(TaskRun.task_id)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    with engine.connect() as connection:
        tasks = [_task_dict(row) for row in connection.execute(query)]
    if limit is None:
        return {"tasks": tasks, "attempts": _attempts(engine, run_id, None)}
    page = [task["task_id"] for task in tasks]
    return {
        "tasks": tasks,
        "attempts": _attempts(engine, run_id, page),
        "next_offset": offset + limit if len(tasks) == limit else None,
    }


def run_timeline(engine: Engine, run_id: str) -> dict[str, Any]:
    """Attempts as Gantt bars: ``[task index, attempt, lane, start, end, status]`` rows."""
    query = select(
        Attempt.task_id,
        Attempt.attempt,
        Attempt.host,
        Attempt.worker,
        Attempt.started_at,
        Attempt.finished_at,
        Attempt.status,
    ).where(Attempt.run_id == run_id)
    tasks: dict[str, int] = {}
    bars = []
    with engine.connect() as connection:
        for row in connection.execute(query.order_by(Attempt.started_at, Attempt.task_id)):
            index = tasks.setdefault(row.task_id, len(tasks))
            lane = " / ".join(part for part in (row.host, row.worker) if part) or "unknown"
            bars.append(
                [index, row.attempt, lane, iso(row.started_at), iso(row.finished_at), row.status]
            )
    return {"tasks": list(tasks), "bars": bars}


def task_detail(engine: Engine, run_id: str, task_id: str) -> dict[str, Any] | None:
    """One task of a run: its row, every attempt, and its upstream and downstream tasks."""
    query = select(TaskRun.__table__).where(TaskRun.run_id == run_id, TaskRun.task_id == task_id)
    up = select(TaskEdge.upstream_id).where(TaskEdge.run_id == run_id, TaskEdge.task_id == task_id)
    down = select(TaskEdge.task_id).where(
        TaskEdge.run_id == run_id, TaskEdge.upstream_id == task_id
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
        if row is None:
            return None
        upstream = sorted(connection.scalars(up))
        downstream = sorted(connection.scalars(down))
    return {
        "task": _task_dict(row),
        "attempts": _attempts(engine, run_id, [task_id]),
        "upstream": upstream,
        "downstream": downstream,
    }


def lineage_graph(lineage: Lineage) -> dict[str, Any]:
    """A lineage walk as a graph: target and task nodes, edges input -> task -> output."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str]] = set()
    for step in lineage.steps:
        target = "t:" + step.uri
        nodes[target] = {"id": target, "kind": "target", "label": step.uri, "depth": step.depth}
        producer = step.producer
        if producer is None:
            continue
        task = f"a:{producer.run_id}:{producer.task_id}:{producer.attempt}"
        nodes.setdefault(
            task,
            {
                "id": task,
                "kind": "task",
                "label": producer.task_id,
                "run_id": producer.run_id,
                "task_id": producer.task_id,
                "family": producer.family,
                "attempt": producer.attempt,
                "status": producer.status.value,
                "host": producer.host,
                "finished_at": iso(producer.finished_at),
            },
        )
        edges.add((task, target))
        for uri in step.inputs:
            source = "t:" + uri
            nodes.setdefault(source, {"id": source, "kind": "target", "label": uri})
            edges.add((source, task))
    return {
        "uri": lineage.uri,
        "truncated": lineage.truncated,
        "nodes": list(nodes.values()),
        "edges": [{"source": a, "target": b} for a, b in sorted(edges)],
    }
