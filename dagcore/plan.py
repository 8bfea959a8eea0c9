"""The plan of a run and the pure state machine every executor drives.

A :class:`Plan` is what the resolver (:mod:`dagcore.graph`) produces: one :class:`Node` per task
(everything an executor needs to run it anywhere: family, module, serialised parameters, queue,
resources, retry policy, effective priority) and the edges between them. :class:`RunState`
tracks a run over a plan: ``done(task_id)`` returns the tasks that just became ready,
``failed(task_id)`` the tasks that can no longer run. It does no I/O, so the local and the
Celery executors share it and tests drive it directly.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = ["Node", "Plan", "RetryPolicy", "RunState", "TaskState", "error_line"]


class TaskState(enum.StrEnum):
    """Where a task is in a run. DONE covers both "ran" and "was already complete"."""

    PENDING = "PENDING"
    READY = "READY"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        """True for states a task never leaves within the run."""
        return self in _FINISHED


_FINISHED = frozenset(
    {TaskState.DONE, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon a failed task is tried again.

    Parameters:
        count: extra attempts after the first failure (0: no retry).
        delay: seconds before the first retry.
        backoff: factor applied to the delay after each further failure.
    """

    count: int = 0
    delay: float = 0.0
    backoff: float = 1.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 is the first retry)."""
        return self.delay * self.backoff ** max(attempt - 2, 0)

    def allows(self, attempt: int) -> bool:
        """True if attempt number ``attempt`` (1-based) may run."""
        return attempt <= self.count + 1


@dataclass(slots=True)
class Node:
    """One task of a plan, self-contained enough to be run by a worker that only has this."""

    task_id: str
    family: str
    module: str
    params: dict[str, str]
    deps: list[str] = field(default_factory=list)
    queue: str = "default"
    priority: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    max_running: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float | None = None
    complete: bool = False
    external: bool = False
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (used by ``dagcore graph --format json`` and messages)."""
        return {
            "task_id": self.task_id,
            "family": self.family,
            "module": self.module,
            "params": self.params,
            "deps": self.deps,
            "queue": self.queue,
            "priority": self.priority,
            "resources": self.resources,
            "max_running": self.max_running,
            "retry": {
                "count": self.retry.count,
                "delay": self.retry.delay,
                "backoff": self.retry.backoff,
            },
            "timeout": self.timeout,
            "complete": self.complete,
            "external": self.external,
            "label": self.label,
        }


@dataclass
class Plan:
    """The resolved graph of a run.

    ``tasks`` holds the live task objects for in-process executors; it is never serialised.
    ``broken`` maps task ids to the error text of a ``requires()``/``complete()`` that raised
    (such a node is marked ``external``: it never runs), ``missing`` lists external tasks whose
    outputs are absent, ``cycle`` the task ids of a dependency cycle (first repeated at the
    end). A plan with any of those still runs what does not depend on them, as Luigi does;
    ``ok`` is False for it, which ``--fail-fast`` and ``dagcore graph --check`` refuse.
    """

    roots: list[str]
    nodes: dict[str, Node] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict, repr=False)
    broken: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    cycle: list[str] | None = None

    @property
    def ok(self) -> bool:
        """True if every planned task can run (nothing broken, missing or cyclic)."""
        return not self.broken and not self.missing and self.cycle is None

    def label(self, task_id: str) -> str:
        """A readable name for a task: ``Family(param=value)``."""
        node = self.nodes.get(task_id)
        return node.label if node is not None and node.label else task_id

    def problems(self) -> list[str]:
        """One line per reason the plan cannot run."""
        lines: list[str] = []
        if self.cycle:
            lines.append("dependency cycle: " + " -> ".join(self.label(t) for t in self.cycle))
        for task_id, error in self.broken.items():
            lines.append(f"broken task {self.label(task_id)}: {error_line(error)}")
        for task_id in self.missing:
            lines.append(f"missing external input {self.label(task_id)}")
        return lines

    def to_run(self) -> list[str]:
        """Ids of the tasks this plan would run (not already complete, not external)."""
        return [t for t, n in self.nodes.items() if not n.complete and not n.external]

    def dependents(self) -> dict[str, list[str]]:
        """For every task id, the ids of the tasks that require it."""
        out: dict[str, list[str]] = {task_id: [] for task_id in self.nodes}
        for task_id, node in self.nodes.items():
            for dep in node.deps:
                out[dep].append(task_id)
        return out


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')


def error_line(error: str) -> str:
    """One line for an error text: its last line, and where it was raised if it has a traceback.

    ``complete() of X failed:\n<traceback>`` becomes ``ValueError: boom (at tasks.py:12)``.
    """
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return "error"
    where = ""
    for line in reversed(lines):
        match = _FRAME.match(line)
        if match:
            where = f" (at {match['file']}:{match['line']})"
            break
    return lines[-1].strip() + where


class RunState:
    """The state of every task of a run; pure and O(degree) per transition.

    Already-complete nodes start DONE. ``ready()`` hands out the initial runnable tasks; after
    that, each ``done`` returns exactly the tasks it made ready, so executors never scan.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state: dict[str, TaskState] = {}
        self._waiting: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {}
        self._initial: list[str] = []
        self.add_nodes(plan.nodes.values(), initial=True)

    # -- construction ---------------------------------------------------------------------------

    def add_nodes(self, nodes: Iterable[Node], initial: bool = False) -> list[str]:
        """Add nodes (the plan itself, or dynamic requirements); return those now ready.

        Nodes already known are ignored, so overlapping fragments are safe.
        """
        fresh = [node for node in nodes if node.task_id not in self.state]
        for node in fresh:
            self.plan.nodes.setdefault(node.task_id, node)
            self.state[node.task_id] = TaskState.DONE if node.complete else TaskState.PENDING
            self._dependents.setdefault(node.task_id, [])
        for node in fresh:
            for dep in node.deps:
                self._dependents.setdefault(dep, []).append(node.task_id)
        ready: list[str] = []
        for node in fresh:
            if node.complete:
                continue
            waiting = sum(1 for dep in node.deps if self.state.get(dep) is not TaskState.DONE)
            self._waiting[node.task_id] = waiting
            blocked = any(
                self.state.get(dep) in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)
                for dep in node.deps
            )
            if blocked:
                self.state[node.task_id] = TaskState.UPSTREAM_FAILED
            elif waiting == 0 and not node.external:
                self.state[node.task_id] = TaskState.READY
                ready.append(node.task_id)
        if initial:
            self._initial = ready
        return ready

    def ready(self) -> list[str]:
        """The tasks runnable at the start (each handed out once)."""
        initial, self._initial = self._initial, []
        return initial

    # -- transitions ----------------------------------------------------------------------------

    def start(self, task_id: str) -> None:
        """Mark a READY task RUNNING."""
        self._expect(task_id, TaskState.READY)
        self.state[task_id] = TaskState.RUNNING

    def retry(self, task_id: str) -> None:
        """A RUNNING task failed but will be tried again: back to READY."""
        self._expect(task_id, TaskState.RUNNING)
        self.state[task_id] = TaskState.READY

    def done(self, task_id: str) -> list[str]:
        """Mark a task DONE; return the dependents that became READY."""
        if self.state.get(task_id) is TaskState.DONE:
            return []  # idempotent: a duplicate report changes nothing
        self.state[task_id] = TaskState.DONE
        ready: list[str] = []
        for dependent in self._dependents.get(task_id, ()):
            if self.state[dependent] is not TaskState.PENDING:
                continue
            left = self._waiting[dependent] - 1
            self._waiting[dependent] = left
            if left == 0 and not self.plan.nodes[dependent].external:
                self.state[dependent] = TaskState.READY
                ready.append(dependent)
        return ready

    def failed(self, task_id: str, state: TaskState = TaskState.FAILED) -> list[str]:
        """Mark a task FAILED (or CANCELLED); return every task that now cannot run."""
        self.state[task_id] = state
        blocked: list[str] = []
        queue = deque(self._dependents.get(task_id, ()))
        while queue:
            dependent = queue.popleft()
            if self.state[dependent] not in (TaskState.PENDING, TaskState.READY):
                continue
            self.state[dependent] = TaskState.UPSTREAM_FAILED
            blocked.append(dependent)
            queue.extend(self._dependents.get(dependent, ()))
        return blocked

    def requeue(self, task_id: str, nodes: Iterable[Node], direct: list[str]) -> list[str]:
        """A running task yielded requirements: wait for them, then run it again.

        Parameters:
            task_id: the RUNNING task.
            nodes: newly planned nodes (the requirements and what they need); known ones
                are ignored.
            direct: ids of the yielded requirements themselves.

        Returns:
            The tasks that are now READY (new requirements, or the task itself if all the
            yielded requirements were already done).
        """
        self._expect(task_id, TaskState.RUNNING)
        node = self.plan.nodes[task_id]
        ready = self.add_nodes(nodes)
        known = set(node.deps)
        for dep in direct:
            if dep not in known:
                node.deps.append(dep)
                known.add(dep)
                self._dependents.setdefault(dep, []).append(task_id)
        pending = [d for d in node.deps if self.state[d] is not TaskState.DONE]
        if any(self.state[d] in (TaskState.FAILED, TaskState.UPSTREAM_FAILED) for d in pending):
            self.state[task_id] = TaskState.UPSTREAM_FAILED
            return ready
        self._waiting[task_id] = len(pending)
        if pending:
            self.state[task_id] = TaskState.PENDING
        else:
            self.state[task_id] = TaskState.READY
            ready.append(task_id)
        return ready

    def cancel_pending(self) -> list[str]:
        """Cancel every task that has not started; return their ids."""
        cancelled = [t for t, s in self.state.items() if s in (TaskState.PENDING, TaskState.READY)]
        for task_id in cancelled:
            self.state[task_id] = TaskState.CANCELLED
        return cancelled

    # -- queries --------------------------------------------------------------------------------

    def is_finished(self) -> bool:
        """True when no task can make progress any more."""
        return all(
            s.finished or (s is TaskState.PENDING and self.plan.nodes[t].external)
            for t, s in self.state.items()
        )

    def count(self, state: TaskState) -> int:
        """How many tasks are in ``state``."""
        return sum(1 for s in self.state.values() if s is state)

    def in_state(self, state: TaskState) -> Iterator[str]:
        """Ids of the tasks in ``state``."""
        return (t for t, s in self.state.items() if s is state)

    def _expect(self, task_id: str, *allowed: TaskState) -> None:
        current = self.state.get(task_id)
        if current not in allowed:
            raise ValueError(
                f"task {task_id} is {current}, expected one of {[a.value for a in allowed]}"
            )
