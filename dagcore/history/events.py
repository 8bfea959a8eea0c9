"""History events: the run history as a stream of small, immutable, JSON-friendly facts.

Every change to the history is one of the event classes below. The local executor hands them to
a :class:`~dagcore.history.writer.HistoryWriter`; Celery workers ship them as JSON through a
Redis stream to a single batching writer. Because that stream delivers at least once and in no
guaranteed order, every event carries its natural key (run id, task id, attempt number) and
enough data for the store to merge it idempotently.

Timestamps are timezone-aware and normalised to UTC; they travel as ISO 8601 strings.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeAlias

from dagcore.errors import HistoryError
from dagcore.history.wire import FieldReader, to_jsonable

__all__ = [
    "AttemptFinished",
    "AttemptStarted",
    "AttemptStatus",
    "Direction",
    "HistoryEvent",
    "PlannedTask",
    "RunFinished",
    "RunStarted",
    "RunStatus",
    "TaskStatus",
    "TaskStatusChanged",
    "TasksPlanned",
    "event_from_dict",
    "event_from_json",
    "event_to_json",
    "utcnow",
]


class RunStatus(enum.StrEnum):
    """Status of a whole run; the final values follow Luigi's summary status codes."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_RETRY = "SUCCESS_WITH_RETRY"
    FAILED = "FAILED"
    FAILED_AND_SCHEDULING_FAILED = "FAILED_AND_SCHEDULING_FAILED"
    SCHEDULING_FAILED = "SCHEDULING_FAILED"
    NOT_RUN = "NOT_RUN"
    MISSING_EXT = "MISSING_EXT"
    CANCELLED = "CANCELLED"


class TaskStatus(enum.StrEnum):
    """Status of one task within one run.

    ``DONE`` means the task was already complete when the run was planned (nothing ran);
    ``SUCCESS`` means it ran in this run and succeeded.
    """

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    RETRY_WAIT = "RETRY_WAIT"
    SUCCESS = "SUCCESS"
    DONE = "DONE"
    FAILED = "FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    MISSING_EXTERNAL = "MISSING_EXTERNAL"
    DISABLED = "DISABLED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        """Whether the task cannot change status again within this run (barring a re-plan)."""
        return self in _TERMINAL_TASK_STATUSES

    @property
    def rank(self) -> int:
        """Tie-breaker when two statuses carry the same timestamp: later stages win."""
        return _TASK_STATUS_RANK[self]


_TERMINAL_TASK_STATUSES = frozenset(
    {
        TaskStatus.SUCCESS,
        TaskStatus.DONE,
        TaskStatus.FAILED,
        TaskStatus.UPSTREAM_FAILED,
        TaskStatus.MISSING_EXTERNAL,
        TaskStatus.DISABLED,
        TaskStatus.CANCELLED,
    }
)
_TASK_STATUS_RANK = {status: index for index, status in enumerate(TaskStatus)}


class AttemptStatus(enum.StrEnum):
    """Status of one attempt at running a task; ``RUNNING`` until it finishes."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    LOST = "LOST"
    YIELDED = "YIELDED"  # run() yielded incomplete requirements; it runs again after them


class Direction(enum.StrEnum):
    """Whether an attempt read or wrote a target (lineage)."""

    READ = "read"
    WRITE = "write"


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def _utc(owner: str, name: str, value: datetime) -> datetime:
    # Naive datetimes are ambiguous across worker hosts in different zones, so refuse them
    # instead of guessing.
    if not isinstance(value, datetime):
        raise HistoryError(f"{owner}.{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise HistoryError(
            f"{owner}.{name} is a naive datetime ({value.isoformat()}); "
            "pass a timezone-aware one such as datetime.now(timezone.utc)"
        )
    return value.astimezone(UTC)


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields in __post_init__ through object.__setattr__.
    object.__setattr__(obj, name, value)


class _EventBase:
    """Shared JSON conversion for the event dataclasses."""

    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict with a ``kind`` discriminator."""
        out: dict[str, Any] = {"kind": self.kind}
        for item in fields(self):  # type: ignore[arg-type]
            out[item.name] = to_jsonable(getattr(self, item.name))
        return out


@dataclass(frozen=True)
class PlannedTask:
    """One node of a run's plan, as recorded in the history."""

    task_id: str
    family: str
    module: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)
    queue: str = "default"
    priority: int = 0
    resources: Mapping[str, int] = field(default_factory=dict, hash=False)
    status: TaskStatus = TaskStatus.PENDING
    # The task ids this task requires (the plan's edges), for drawing the run's graph.
    deps: Sequence[str] = ()

    def __post_init__(self) -> None:
        _set(self, "deps", tuple(str(dep) for dep in self.deps))
        _set(self, "params", {str(k): str(v) for k, v in self.params.items()})
        _set(self, "resources", {str(k): int(v) for k, v in self.resources.items()})
        _set(self, "status", TaskStatus(self.status))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {item.name: to_jsonable(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedTask:
        """Build a planned task from :meth:`to_dict` output."""
        read = FieldReader("tasks_planned.tasks[]", data)
        return cls(
            task_id=read.text("task_id"),
            family=read.text("family"),
            module=read.text("module"),
            params=read.mapping("params"),
            queue=read.text("queue"),
            priority=read.integer("priority", 0),
            resources=read.mapping("resources"),
            status=read.choice("status", TaskStatus),
            deps=read.texts("deps"),
        )


@dataclass(frozen=True)
class RunStarted(_EventBase):
    """A run began: who started what, where, and with which executor."""

    kind: ClassVar[str] = "run_started"

    run_id: str
    started_at: datetime
    user: str
    host: str
    command: str
    root_tasks: Sequence[str]
    executor: str
    params: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _set(self, "started_at", _utc("RunStarted", "started_at", self.started_at))
        _set(self, "root_tasks", tuple(self.root_tasks))
        _set(self, "params", {str(k): str(v) for k, v in self.params.items()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunStarted:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        return cls(
            run_id=read.text("run_id"),
            started_at=read.time("started_at"),
            user=read.text("user"),
            host=read.text("host"),
            command=read.text("command"),
            root_tasks=read.texts("root_tasks"),
            executor=read.text("executor"),
            params=read.mapping("params"),
        )


@dataclass(frozen=True)
class TasksPlanned(_EventBase):
    """Nodes joined a run's plan (at the start, or later through dynamic dependencies)."""

    kind: ClassVar[str] = "tasks_planned"

    run_id: str
    tasks: Sequence[PlannedTask]
    planned_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        _set(self, "tasks", tuple(self.tasks))
        _set(self, "planned_at", _utc("TasksPlanned", "planned_at", self.planned_at))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TasksPlanned:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        raw = data.get("tasks", [])
        if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
            raise HistoryError(f"history event {cls.kind!r}: 'tasks' should be a list of objects")
        return cls(
            run_id=read.text("run_id"),
            tasks=tuple(PlannedTask.from_dict(item) for item in raw),
            planned_at=read.time("planned_at"),
        )


@dataclass(frozen=True)
class TaskStatusChanged(_EventBase):
    """A task of a run moved to a new status at a given time."""

    kind: ClassVar[str] = "task_status_changed"

    run_id: str
    task_id: str
    status: TaskStatus
    at: datetime

    def __post_init__(self) -> None:
        _set(self, "status", TaskStatus(self.status))
        _set(self, "at", _utc("TaskStatusChanged", "at", self.at))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskStatusChanged:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        return cls(
            run_id=read.text("run_id"),
            task_id=read.text("task_id"),
            status=read.choice("status", TaskStatus),
            at=read.time("at"),
        )


@dataclass(frozen=True)
class AttemptStarted(_EventBase):
    """An attempt (1-based) at running a task began on a worker."""

    kind: ClassVar[str] = "attempt_started"

    run_id: str
    task_id: str
    attempt: int
    host: str
    worker: str
    celery_id: str | None
    started_at: datetime

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise HistoryError(
                f"AttemptStarted for task {self.task_id!r}: attempt numbers start at 1, "
                f"got {self.attempt}"
            )
        _set(self, "started_at", _utc("AttemptStarted", "started_at", self.started_at))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptStarted:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        return cls(
            run_id=read.text("run_id"),
            task_id=read.text("task_id"),
            attempt=read.integer("attempt"),
            host=read.text("host"),
            worker=read.text("worker"),
            celery_id=read.opt_text("celery_id"),
            started_at=read.time("started_at"),
        )


@dataclass(frozen=True)
class AttemptFinished(_EventBase):
    """An attempt ended; carries its error (if any) and the targets it read and wrote."""

    kind: ClassVar[str] = "attempt_finished"

    run_id: str
    task_id: str
    attempt: int
    finished_at: datetime
    status: AttemptStatus
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    reads: Sequence[str] = ()
    writes: Sequence[str] = ()
    status_message: str | None = None
    progress: float | None = None
    tracking_url: str | None = None

    def __post_init__(self) -> None:
        status = AttemptStatus(self.status)
        if status is AttemptStatus.RUNNING:
            raise HistoryError(
                f"AttemptFinished for task {self.task_id!r} attempt {self.attempt}: a finished "
                "attempt needs a final status (SUCCESS, FAILED, TIMEOUT, CANCELLED or LOST)"
            )
        if self.attempt < 1:
            raise HistoryError(
                f"AttemptFinished for task {self.task_id!r}: attempt numbers start at 1, "
                f"got {self.attempt}"
            )
        _set(self, "status", status)
        _set(self, "finished_at", _utc("AttemptFinished", "finished_at", self.finished_at))
        _set(self, "reads", tuple(self.reads))
        _set(self, "writes", tuple(self.writes))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AttemptFinished:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        return cls(
            run_id=read.text("run_id"),
            task_id=read.text("task_id"),
            attempt=read.integer("attempt"),
            finished_at=read.time("finished_at"),
            status=read.choice("status", AttemptStatus),
            error_type=read.opt_text("error_type"),
            error_message=read.opt_text("error_message"),
            traceback=read.opt_text("traceback"),
            reads=read.texts("reads"),
            writes=read.texts("writes"),
            status_message=read.opt_text("status_message"),
            progress=read.opt_number("progress"),
            tracking_url=read.opt_text("tracking_url"),
        )


@dataclass(frozen=True)
class RunFinished(_EventBase):
    """A run ended with a summary status, exit code and the rendered summary."""

    kind: ClassVar[str] = "run_finished"

    run_id: str
    finished_at: datetime
    status: RunStatus
    exit_code: int
    summary_text: str = ""

    def __post_init__(self) -> None:
        _set(self, "status", RunStatus(self.status))
        _set(self, "finished_at", _utc("RunFinished", "finished_at", self.finished_at))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunFinished:
        """Build the event from :meth:`to_dict` output."""
        read = FieldReader(cls.kind, data)
        return cls(
            run_id=read.text("run_id"),
            finished_at=read.time("finished_at"),
            status=read.choice("status", RunStatus),
            exit_code=read.integer("exit_code"),
            summary_text=read.opt_text("summary_text") or "",
        )


HistoryEvent: TypeAlias = (
    RunStarted | TasksPlanned | TaskStatusChanged | AttemptStarted | AttemptFinished | RunFinished
)

_DECODERS: dict[str, Callable[[Mapping[str, Any]], HistoryEvent]] = {
    RunStarted.kind: RunStarted.from_dict,
    TasksPlanned.kind: TasksPlanned.from_dict,
    TaskStatusChanged.kind: TaskStatusChanged.from_dict,
    AttemptStarted.kind: AttemptStarted.from_dict,
    AttemptFinished.kind: AttemptFinished.from_dict,
    RunFinished.kind: RunFinished.from_dict,
}


def event_from_dict(data: Mapping[str, Any]) -> HistoryEvent:
    """Rebuild an event from the dict produced by its ``to_dict()``.

    Unknown extra keys are ignored so that an older writer can read events from a newer worker.

    Raises:
        HistoryError: The ``kind`` is unknown or a field is missing or malformed.
    """
    kind = data.get("kind")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        known = ", ".join(sorted(_DECODERS))
        raise HistoryError(f"unknown history event kind {kind!r}; expected one of {known}")
    return decoder(data)


# One encoder for every event: json.dumps with options builds a new one per call.
_EVENT_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def event_to_json(event: HistoryEvent) -> str:
    """Serialise an event as one compact JSON line."""
    return _EVENT_ENCODER.encode(event.to_dict())


def event_from_json(text: str | bytes) -> HistoryEvent:
    """Parse one JSON document produced by :func:`event_to_json`.

    Raises:
        HistoryError: The text is not JSON or not a valid event.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HistoryError(f"history event is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise HistoryError("history event JSON must be an object with a 'kind' field")
    return event_from_dict(data)
