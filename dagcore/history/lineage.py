"""Lineage: walking from a target to the attempt that wrote it, then to that attempt's inputs.

A target may have been written many times (re-runs, daily overwrites). For the target a walk
starts from, the latest successful write is its producer. For an input of some attempt, the
producer is the latest successful write that finished before that attempt started: the version
it actually read. When no write fits, the walk falls back to the latest write, successful first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from dagcore.history.events import AttemptStatus, Direction
from dagcore.history.models import Attempt, TargetIO, TaskRun
from dagcore.history.records import Lineage, LineageStep, Producer

__all__ = ["MAX_LINEAGE_STEPS", "walk_lineage"]

# Bounds a walk over a huge history; the result says it was truncated.
MAX_LINEAGE_STEPS = 10_000
# Writes of one URI considered when choosing its producer, most recent first.
_MAX_CANDIDATES = 200


def _candidate_key(row: Any, before: datetime | None) -> tuple[bool, bool, bool]:
    succeeded = row.status == AttemptStatus.SUCCESS.value
    fits = before is None or (row.finished_at is not None and row.finished_at <= before)
    return (succeeded and fits, succeeded, fits)


def find_producer(session: Session, uri: str, before: datetime | None) -> Producer | None:
    """Return the attempt that wrote the version of ``uri`` current at ``before``."""
    attempt_join = and_(
        Attempt.run_id == TargetIO.run_id,
        Attempt.task_id == TargetIO.task_id,
        Attempt.attempt == TargetIO.attempt,
    )
    task_join = and_(TaskRun.run_id == TargetIO.run_id, TaskRun.task_id == TargetIO.task_id)
    query = (
        select(
            TargetIO.run_id,
            TargetIO.task_id,
            TargetIO.attempt,
            Attempt.status,
            Attempt.host,
            Attempt.started_at,
            Attempt.finished_at,
            TaskRun.family,
        )
        .select_from(TargetIO)
        .outerjoin(Attempt, attempt_join)
        .outerjoin(TaskRun, task_join)
        .where(TargetIO.uri == uri, TargetIO.direction == Direction.WRITE.value)
        .order_by(Attempt.finished_at.desc().nulls_last(), TargetIO.run_id, TargetIO.attempt)
        .limit(_MAX_CANDIDATES)
    )
    best: Any = None
    best_key: tuple[bool, bool, bool] | None = None
    # Rows come newest first; only a strictly better kind of write displaces an earlier pick.
    for row in session.execute(query):
        key = _candidate_key(row, before)
        if best_key is None or key > best_key:
            best, best_key = row, key
    if best is None:
        return None
    return Producer(
        run_id=best.run_id,
        task_id=best.task_id,
        family=best.family or "",
        attempt=best.attempt,
        status=AttemptStatus(best.status or AttemptStatus.RUNNING.value),
        host=best.host,
        started_at=best.started_at,
        finished_at=best.finished_at,
    )


def _inputs(session: Session, producer: Producer) -> tuple[str, ...]:
    query = (
        select(TargetIO.uri)
        .where(
            TargetIO.run_id == producer.run_id,
            TargetIO.task_id == producer.task_id,
            TargetIO.attempt == producer.attempt,
            TargetIO.direction == Direction.READ.value,
        )
        .order_by(TargetIO.uri)
    )
    return tuple(session.scalars(query))


def walk_lineage(session: Session, uri: str, max_depth: int) -> Lineage:
    """Walk upstream from ``uri`` breadth first, visiting each URI once.

    Visiting each URI once makes the walk safe on cycles and linear on diamonds. Inputs beyond
    ``max_depth`` producer hops, or beyond :data:`MAX_LINEAGE_STEPS` steps, are not explained
    and the result is marked truncated.
    """
    steps: list[LineageStep] = []
    seen = {uri}
    frontier: list[tuple[str, datetime | None]] = [(uri, None)]
    truncated = False
    depth = 0
    while frontier:
        upcoming: list[tuple[str, datetime | None]] = []
        for current, before in frontier:
            producer = find_producer(session, current, before)
            inputs = _inputs(session, producer) if producer is not None else ()
            steps.append(LineageStep(uri=current, depth=depth, producer=producer, inputs=inputs))
            for item in inputs:
                if item in seen:
                    continue
                if depth + 1 > max_depth or len(seen) >= MAX_LINEAGE_STEPS:
                    truncated = True
                    continue
                seen.add(item)
                upcoming.append((item, producer.started_at if producer else None))
        frontier = upcoming
        depth += 1
    return Lineage(uri=uri, steps=tuple(steps), truncated=truncated)
