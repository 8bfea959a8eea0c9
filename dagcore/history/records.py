"""Read-side records returned by history store queries.

These are plain frozen dataclasses, detached from any database session, so callers (the CLI,
tests, a web view) can keep them around and render them without touching SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dagcore.history.events import AttemptStatus, RunStatus, TaskStatus

__all__ = ["AttemptRecord", "Lineage", "LineageStep", "Producer", "RunRecord", "TaskRunRecord"]


def _span(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return end - start


@dataclass(frozen=True)
class RunRecord:
    """One run, with how many of its tasks are in each status.

    Text fields are empty strings while only the end of a run has been stored (events may
    arrive out of order).
    """

    run_id: str
    status: RunStatus
    executor: str
    user: str
    host: str
    command: str
    root_tasks: tuple[str, ...]
    params: Mapping[str, str] = field(hash=False)
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    summary: str
    task_counts: Mapping[str, int] = field(hash=False)

    @property
    def duration(self) -> timedelta | None:
        """Wall time of the run, once it has both a start and an end."""
        return _span(self.started_at, self.finished_at)

    @property
    def total_tasks(self) -> int:
        """Number of tasks planned in the run."""
        return sum(self.task_counts.values())


@dataclass(frozen=True)
class TaskRunRecord:
    """One task within one run."""

    run_id: str
    task_id: str
    family: str
    module: str
    params: Mapping[str, str] = field(hash=False)
    queue: str
    priority: int
    resources: Mapping[str, int] = field(hash=False)
    status: TaskStatus
    status_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int

    @property
    def duration(self) -> timedelta | None:
        """Time from the first attempt's start to the task's final status."""
        return _span(self.started_at, self.finished_at)


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt at running a task, with the targets it read and wrote."""

    run_id: str
    task_id: str
    attempt: int
    host: str | None
    worker: str | None
    celery_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    status: AttemptStatus
    error_type: str | None
    error_message: str | None
    traceback: str | None
    status_message: str | None
    progress: float | None
    tracking_url: str | None
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    @property
    def duration(self) -> timedelta | None:
        """Wall time of the attempt once it finished."""
        return _span(self.started_at, self.finished_at)


@dataclass(frozen=True)
class Producer:
    """The attempt that wrote a target."""

    run_id: str
    task_id: str
    family: str
    attempt: int
    status: AttemptStatus
    host: str | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class LineageStep:
    """One target in a lineage walk.

    Attributes:
        uri: The target.
        depth: Distance from the target the walk started at (0 for that target).
        producer: The attempt that wrote it, or ``None`` for a source nobody recorded writing.
        inputs: The targets that producer read; each appears as its own step unless the walk was
            cut off by its depth or size limit.
    """

    uri: str
    depth: int
    producer: Producer | None
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    """Where a target came from: its producer, that producer's inputs, and so on upstream.

    Steps are in breadth-first order and each URI appears once, so shared inputs (a diamond)
    and cycles are reported once instead of being expanded again.
    """

    uri: str
    steps: tuple[LineageStep, ...]
    truncated: bool

    def step(self, uri: str) -> LineageStep | None:
        """Return the step for ``uri``, or ``None`` if the walk did not reach it."""
        for item in self.steps:
            if item.uri == uri:
                return item
        return None

    @property
    def uris(self) -> Sequence[str]:
        """Every URI in the walk, in breadth-first order."""
        return [item.uri for item in self.steps]
