"""What every executor shares: the run context it is given and the result it returns.

Executors are plugins: ``dagcore.executors`` entry points name a class with
``from_settings(settings, **options)`` and ``execute(plan, context) -> RunResult``. The local
executor ships with dagcore; the Celery one lives in ``celery_app`` and is found the same way,
so dagcore never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from dagcore.errors import ExecutionError
from dagcore.executor.runner import Outcome, OutcomeStatus
from dagcore.history.events import (
    AttemptFinished,
    AttemptStatus,
    PlannedTask,
    TaskStatus,
    utcnow,
)
from dagcore.plan import Plan, RunState, TaskState

if TYPE_CHECKING:
    from dagcore.history.events import HistoryEvent

__all__ = [
    "ATTEMPT_STATUS",
    "Executor",
    "attempt_finished",
    "HistorySink",
    "RunContext",
    "RunResult",
    "load_executor",
    "planned_tasks",
]


class HistorySink(Protocol):
    """Where executors send history events (the writer buffers; it never raises)."""

    def emit(self, event: HistoryEvent) -> None: ...


class _NoHistory:
    def emit(self, event: HistoryEvent) -> None:
        return None


@dataclass
class RunContext:
    """What an executor needs besides the plan.

    Parameters:
        run_id: the id recorded in history.
        history: receives AttemptStarted/AttemptFinished/TaskStatusChanged events.
        on_progress: called with the run state after each change (progress display).
        resources: global resource capacities.
        workers: parallelism (a hint for remote executors).
    """

    run_id: str
    history: HistorySink = field(default_factory=_NoHistory)
    on_progress: Callable[[RunState], None] | None = None
    resources: dict[str, int] = field(default_factory=dict)
    workers: int = 1


@dataclass
class RunResult:
    """How a run went: final task states and every attempt's outcome."""

    run_id: str
    plan: Plan
    state: RunState
    attempts: dict[str, list[Outcome]] = field(default_factory=dict)
    cancelled: bool = False
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None

    def failed_attempts(self, task_id: str) -> int:
        """How many attempts of ``task_id`` did not succeed."""
        return sum(
            1
            for o in self.attempts.get(task_id, ())
            if o.status not in (OutcomeStatus.SUCCESS, OutcomeStatus.YIELDED)
        )

    def succeeded(self) -> bool:
        """True if every planned task is DONE."""
        return all(s is TaskState.DONE for s in self.state.state.values())


class Executor(Protocol):
    """Runs a plan to the end."""

    name: str

    def execute(self, plan: Plan, context: RunContext) -> RunResult: ...


def load_executor(name: str, **options: Any) -> Executor:
    """Build the executor registered under ``name`` in the ``dagcore.executors`` group.

    Raises:
        ExecutionError: no such executor is installed (the message lists the installed ones).
    """
    found = {ep.name: ep for ep in entry_points(group="dagcore.executors")}
    entry = found.get(name)
    if entry is None:
        installed = ", ".join(sorted(found)) or "none"
        hint = " (install dagcore[celery])" if name == "celery" else ""
        raise ExecutionError(f"Unknown executor {name!r}{hint}; installed: {installed}")
    factory = entry.load()
    return factory(**options)  # type: ignore[no-any-return]


def planned_tasks(plan: Plan, task_ids: Iterable[str]) -> list[PlannedTask]:
    """History records for plan nodes (at the start, or when dynamic requirements join)."""
    out = []
    for task_id in task_ids:
        node = plan.nodes[task_id]
        if node.complete:
            status = TaskStatus.DONE
        elif task_id in plan.broken:
            status = TaskStatus.FAILED  # its requires()/complete() raised: it cannot run
        elif node.external:
            status = TaskStatus.MISSING_EXTERNAL
        else:
            status = TaskStatus.PENDING
        out.append(
            PlannedTask(
                task_id=task_id,
                family=node.family,
                module=node.module,
                params=node.params,
                queue=node.queue,
                priority=node.priority,
                resources=node.resources,
                status=status,
                deps=node.deps,
            )
        )
    return out


ATTEMPT_STATUS = {
    OutcomeStatus.SUCCESS: AttemptStatus.SUCCESS,
    OutcomeStatus.FAILED: AttemptStatus.FAILED,
    OutcomeStatus.TIMEOUT: AttemptStatus.TIMEOUT,
    OutcomeStatus.LOST: AttemptStatus.LOST,
    OutcomeStatus.CANCELLED: AttemptStatus.CANCELLED,
    OutcomeStatus.YIELDED: AttemptStatus.YIELDED,
}


def attempt_finished(run_id: str, task_id: str, attempt: int, outcome: Outcome) -> AttemptFinished:
    """The history event of an attempt's outcome (what every executor records)."""
    return AttemptFinished(
        run_id,
        task_id,
        attempt,
        utcnow(),
        ATTEMPT_STATUS[outcome.status],
        error_type=outcome.error_type,
        error_message=outcome.error_message,
        traceback=(
            outcome.traceback
            if outcome.status is OutcomeStatus.SUCCESS
            else outcome.explanation or outcome.traceback
        ),
        reads=outcome.reads,
        writes=outcome.writes,
        status_message=outcome.status_message,
        progress=outcome.progress,
        tracking_url=outcome.tracking_url,
    )
