"""Running one attempt of one task in the current process, the way Luigi's worker does.

Shared by every executor (the local one in-process or in a pool worker, the Celery workers):
check the requirements are complete, fire START, call ``run()`` (driving a generator through
the requirements it yields), fire SUCCESS or FAILURE and PROCESSING_TIME. The result is an
:class:`Outcome`, a small picklable record; nothing here writes history or talks to a broker.
"""

from __future__ import annotations

import enum
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from dagcore.event import Event
from dagcore.task import DynamicRequirements, Task, flatten, getpaths

__all__ = ["Outcome", "OutcomeStatus", "TaskRef", "Yielded", "drive", "execute", "target_uri"]


class OutcomeStatus(enum.StrEnum):
    """How an attempt ended."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    YIELDED = "YIELDED"  # run() yielded incomplete requirements: run again once they are done
    TIMEOUT = "TIMEOUT"
    LOST = "LOST"  # the process running it died
    CANCELLED = "CANCELLED"


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Enough to rebuild a task anywhere the module is importable."""

    module: str
    family: str
    params: dict[str, str]

    @classmethod
    def of(cls, task: Task) -> TaskRef:
        """The reference of a live task."""
        return cls(task.task_module, task.get_task_family(), task.to_str_params())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt produced."""

    status: OutcomeStatus
    started: float
    finished: float
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    explanation: str | None = None
    new_deps: list[TaskRef] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    status_message: str | None = None
    progress: float | None = None
    tracking_url: str | None = None

    @property
    def elapsed(self) -> float:
        """Seconds the attempt took."""
        return self.finished - self.started


def target_uri(target: Any) -> str:
    """A stable identifier of a target for lineage."""
    uri = getattr(target, "uri", None)
    if isinstance(uri, str):
        return uri
    path = getattr(target, "path", None)
    return str(path) if path is not None else repr(target)


def _uris(struct: Any) -> list[str]:
    try:
        return [target_uri(t) for t in flatten(struct)]
    except Exception:  # lineage is best effort; a broken output() already fails elsewhere
        return []


def _input_uris(task: Task) -> list[str]:
    try:
        inputs = task.input()
    except Exception:  # e.g. requires() returned None: Luigi never asks, so neither may we fail
        return []
    return _uris(inputs)


class Yielded(Exception):
    """run() yielded requirements that are not complete yet (``deps`` lists them)."""

    def __init__(self, deps: list[Task]) -> None:
        super().__init__("incomplete dynamic requirements")
        self.deps = deps


def drive(task: Task, gen: Generator[Any, Any, Any]) -> None:
    """Run a generator-style ``run()`` while the requirements it yields are complete.

    Raises:
        Yielded: a yielded requirement is not complete; ``run()`` must run again later.
    """
    send: Any = None
    while True:
        try:
            yielded = gen.send(send)
        except StopIteration:
            return
        if isinstance(yielded, DynamicRequirements):
            deps = yielded.flat_requirements
            complete = yielded.complete()
            paths = yielded.paths
        else:
            deps = flatten(yielded)
            complete = all(dep.complete() for dep in deps)
            paths = getpaths(yielded)
        if not complete:
            gen.close()
            raise Yielded(deps)
        send = paths


def _check_requirements(task: Task) -> None:
    missing = [dep for dep in task.deps() if not dep.complete()]
    if missing:
        names = ", ".join(repr(dep) for dep in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise RuntimeError(
            f"Unfulfilled dependencies of {task!r} at run time: {names}{more}. "
            "Their outputs were expected to exist; check that they write where output() says."
        )


def execute(
    task: Task, check_requirements: bool = True, clock: Callable[[], float] = time.time
) -> Outcome:
    """Run one attempt of ``task`` here and now; never raises for task errors.

    ``clock`` times the attempt (its difference is what PROCESSING_TIME handlers get).
    Any exception from ``run()`` is a failure, BaseException included (as in Luigi), except
    KeyboardInterrupt, which cancels the attempt.
    """
    started = clock()
    try:
        if check_requirements:
            _check_requirements(task)
        task.trigger_event(Event.START, task)
        result = task.run()
        if isinstance(result, Generator):
            drive(task, result)
    except Yielded as yielded:
        return Outcome(
            OutcomeStatus.YIELDED,
            started,
            time.time(),
            new_deps=[TaskRef.of(dep) for dep in yielded.deps],
            reads=_input_uris(task),
        )
    except KeyboardInterrupt:
        return _failure(task, started, OutcomeStatus.CANCELLED, KeyboardInterrupt())
    except BaseException as exc:
        return _failure(task, started, OutcomeStatus.FAILED, exc)
    finished = clock()
    task.trigger_event(Event.PROCESSING_TIME, task, finished - started)
    try:
        explanation = task.on_success()
    except Exception as exc:  # Luigi treats a failing on_success as a task failure too
        return _failure(task, started, OutcomeStatus.FAILED, exc)
    task.trigger_event(Event.SUCCESS, task)
    return Outcome(
        OutcomeStatus.SUCCESS,
        started,
        finished,
        explanation=explanation if isinstance(explanation, str) else None,
        reads=_input_uris(task),
        writes=_uris(task.output()),
        status_message=task.status_message,
        progress=task.progress_percentage,
        tracking_url=task.tracking_url,
    )


def _failure(task: Task, started: float, status: OutcomeStatus, exc: BaseException) -> Outcome:
    tb = traceback.format_exc()
    try:
        explanation = task.on_failure(exc) if not isinstance(exc, KeyboardInterrupt) else None
    except Exception:
        explanation = "on_failure() raised:\n" + traceback.format_exc()
    task.trigger_event(Event.FAILURE, task, exc)
    return Outcome(
        status,
        started,
        time.time(),
        error_type=type(exc).__qualname__,
        error_message=str(exc),
        traceback=tb,
        explanation=explanation,
        reads=_input_uris(task),
        status_message=task.status_message,
        progress=task.progress_percentage,
        tracking_url=task.tracking_url,
    )
