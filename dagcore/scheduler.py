"""An in-process scheduler with Luigi's ``Scheduler`` interface, for Luigi-style workers.

Luigi splits a run between a scheduler (which holds every task's state) and workers (which add
tasks, ask for work and report back). dagcore's own runs go through a resolved plan and an
executor instead, but code written for Luigi builds ``Scheduler()`` and ``Worker()`` objects by
hand, so this module keeps the scheduler side of that protocol: task states, priorities,
resources, status messages and progress, in this process. There is no central scheduler
server; :mod:`dagcore.rpc` explains what to use instead.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from dagcore.parameter import FloatParameter, IntParameter
from dagcore.task import Config

__all__ = [
    "BATCH_RUNNING",
    "DISABLED",
    "DONE",
    "FAILED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "SUSPENDED",
    "UNKNOWN",
    "Scheduler",
    "scheduler",
]

logger = logging.getLogger("dagcore.scheduler")

PENDING = "PENDING"
FAILED = "FAILED"
DONE = "DONE"
RUNNING = "RUNNING"
BATCH_RUNNING = "BATCH_RUNNING"
SUSPENDED = "SUSPENDED"
UNKNOWN = "UNKNOWN"
DISABLED = "DISABLED"
STATUSES = (PENDING, FAILED, DONE, RUNNING, BATCH_RUNNING, SUSPENDED, UNKNOWN, DISABLED)

UPSTREAM_RUNNING = "UPSTREAM_RUNNING"
UPSTREAM_MISSING_INPUT = "UPSTREAM_MISSING_INPUT"
UPSTREAM_FAILED = "UPSTREAM_FAILED"
UPSTREAM_DISABLED = "UPSTREAM_DISABLED"

WORKER_STATE_ACTIVE = "active"
WORKER_STATE_DISABLED = "disabled"

# Luigi's defaults: a failed task is retried after 15 minutes, many times.
_DEFAULT_RETRY_DELAY = 900.0
_DEFAULT_RETRY_COUNT = 999999999


class scheduler(Config):  # noqa: N801 - Luigi's config section and class name
    """``[scheduler]`` settings this scheduler uses (Luigi's names and defaults)."""

    retry_delay = FloatParameter(default=_DEFAULT_RETRY_DELAY)
    retry_count = IntParameter(default=_DEFAULT_RETRY_COUNT)


@dataclass
class _Task:
    """The scheduler's record of one task."""

    task_id: str
    status: str = PENDING
    family: str = ""
    module: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    deps: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    runnable: bool = False
    priority: float = 0
    resources: dict[str, int] = field(default_factory=dict)
    running_resources: dict[str, int] = field(default_factory=dict)
    worker_running: str | None = None
    time_running: float | None = None
    last_updated: float = field(default_factory=time.time)
    failures: int = 0
    expl: str | None = None
    status_message: str | None = None
    progress_percentage: float | None = None
    tracking_url: str | None = None
    retry_policy: dict[str, Any] = field(default_factory=dict)
    accepts_messages: bool = False

    def public(self) -> dict[str, Any]:
        """The task as ``task_list`` shows it (Luigi's keys)."""
        return {
            "name": self.family,
            "display_name": self.task_id,
            "status": self.status,
            "workers": sorted(self.workers),
            "worker_running": self.worker_running,
            "time_running": self.time_running,
            "last_updated": self.last_updated,
            "params": dict(self.params),
            "priority": self.priority,
            "resources": dict(self.resources),
            "resources_running": dict(self.running_resources),
            "deps": sorted(self.deps),
            "status_message": self.status_message,
            "progress_percentage": self.progress_percentage,
            "tracking_url": self.tracking_url,
        }


class _State:
    """What the scheduler holds; ``_metrics_collector`` as Luigi's state has it."""

    def __init__(self, metrics_collector: Any) -> None:
        self.tasks: dict[str, _Task] = {}
        self.workers: dict[str, dict[str, Any]] = {}
        self._metrics_collector = metrics_collector


def _collector(kind: Any, custom_import: str | None) -> Any:
    """The metrics collector a scheduler reports task statistics to (None: none)."""
    if kind is None and custom_import is None:
        return None
    if custom_import:
        module_name, _, name = custom_import.rpartition(".")
        return getattr(importlib.import_module(module_name), name)()
    try:
        metrics = importlib.import_module("dagcore.metrics")
    except ImportError:  # the metrics module is optional
        return None
    getter = getattr(getattr(metrics, "MetricsCollectors", None), "get", None)
    return getter(kind) if callable(getter) else None


class Scheduler:
    """Task states for the workers of this process, with Luigi's method names.

    Parameters:
        config: accepted for Luigi compatibility.
        resources: resource capacities (a resource nobody configured has capacity 1).
        retry_delay: seconds before a FAILED task may run again (default: ``[scheduler]
            retry_delay``, 900 as in Luigi).
        retry_count: failures after which a task is DISABLED (``[scheduler] retry_count``).
        metrics_collector, metrics_custom_import: where ``report_task_statistics`` goes.
        kwargs: further Luigi scheduler settings; accepted and ignored.
    """

    def __init__(
        self,
        config: Any = None,
        resources: dict[str, int] | None = None,
        task_history_impl: Any = None,
        *,
        retry_delay: float | None = None,
        retry_count: int | None = None,
        metrics_collector: Any = None,
        metrics_custom_import: str | None = None,
        **kwargs: Any,
    ) -> None:
        del config, task_history_impl
        self._config = dict(kwargs)
        self._resources: dict[str, int] = dict(resources or {})
        settings = scheduler() if retry_delay is None or retry_count is None else None
        self._retry_delay = float(retry_delay if retry_delay is not None else settings.retry_delay)  # type: ignore[union-attr]
        self._retry_count = int(retry_count if retry_count is not None else settings.retry_count)  # type: ignore[union-attr]
        self._state = _State(_collector(metrics_collector, metrics_custom_import))

    # -- workers --------------------------------------------------------------------------------

    def add_worker(self, worker: str, info: Any = None, **kwargs: Any) -> None:
        """Register a worker (and what it says about itself)."""
        record = self._state.workers.setdefault(worker, {"info": {}, "last_active": time.time()})
        if info:
            record["info"].update(dict(info))
        record["last_active"] = time.time()

    def ping(self, *, worker: str, **kwargs: Any) -> None:
        self.add_worker(worker)

    def worker_list(self, **kwargs: Any) -> list[dict[str, Any]]:
        """The registered workers and how many tasks each is running."""
        running: dict[str, int] = {}
        for task in self._state.tasks.values():
            if task.status == RUNNING and task.worker_running:
                running[task.worker_running] = running.get(task.worker_running, 0) + 1
        return [
            {"name": name, "num_running": running.get(name, 0), **record["info"]}
            for name, record in self._state.workers.items()
        ]

    # -- tasks ----------------------------------------------------------------------------------

    def add_task(  # noqa: C901 - one branch per optional field a worker may report
        self,
        task_id: str | None = None,
        status: str = PENDING,
        runnable: bool = True,
        deps: list[str] | None = None,
        new_deps: list[str] | None = None,
        expl: str | None = None,
        resources: dict[str, int] | None = None,
        priority: float = 0,
        family: str = "",
        module: str | None = None,
        params: dict[str, Any] | None = None,
        worker: str | None = None,
        tracking_url: str | None = None,
        retry_policy_dict: dict[str, Any] | None = None,
        accepts_messages: bool = False,
        **kwargs: Any,
    ) -> None:
        """Create or update a task, as a worker reports it."""
        if task_id is None:
            raise ValueError("add_task needs a task_id")
        worker_id = worker or "unknown"
        self.add_worker(worker_id)
        task = self._state.tasks.get(task_id)
        if task is None:
            task = _Task(task_id, status=PENDING, family=family, module=module)
            self._state.tasks[task_id] = task
        if family:
            task.family = family
        if module:
            task.module = module
        if params is not None:
            task.params = dict(params)
        if resources is not None:
            task.resources = dict(resources)
        if retry_policy_dict:
            task.retry_policy = dict(retry_policy_dict)
        task.accepts_messages = accepts_messages or task.accepts_messages
        if tracking_url is not None:
            task.tracking_url = tracking_url
        if runnable:
            task.workers.add(worker_id)
            task.runnable = True
        task.priority = max(task.priority, priority)
        if deps is not None:
            task.deps = set(deps)
        if new_deps:
            task.deps.update(new_deps)
        if expl is not None:
            task.expl = expl
        self._set_status(task, status, worker_id)
        task.last_updated = time.time()

    def _set_status(self, task: _Task, status: str, worker: str) -> None:
        running_elsewhere = task.status == RUNNING and task.worker_running not in (None, worker)
        if status == PENDING and (running_elsewhere or task.status == DISABLED):
            return  # another worker's run, or a disabled task, is not reset by a new add
        if status == FAILED and task.status != FAILED:
            task.failures += 1
            limit = int(task.retry_policy.get("retry_count", self._retry_count))
            if task.failures >= limit:
                status = DISABLED
        if status == RUNNING:
            task.worker_running = worker
            task.time_running = time.time()
            task.running_resources = dict(task.resources)
        elif status != task.status:
            task.worker_running = None
        task.status = status

    def _retry_due(self, task: _Task, now: float) -> bool:
        delay = float(task.retry_policy.get("retry_delay", self._retry_delay))
        return now - task.last_updated >= delay

    def _prune(self) -> None:
        """FAILED tasks whose retry delay has passed become PENDING again (Luigi's prune)."""
        now = time.time()
        for task in self._state.tasks.values():
            if task.status == FAILED and self._retry_due(task, now):
                task.status = PENDING

    def prune(self) -> None:
        self._prune()

    def _used_resources(self) -> dict[str, int]:
        used: dict[str, int] = {}
        for task in self._state.tasks.values():
            if task.status == RUNNING:
                for name, amount in task.running_resources.items():
                    used[name] = used.get(name, 0) + amount
        return used

    def _fits(self, task: _Task, used: dict[str, int]) -> bool:
        for name, amount in task.resources.items():
            if used.get(name, 0) + amount > self._resources.get(name, 1):
                return False
        return True

    def _schedulable(self, task: _Task) -> bool:
        tasks = self._state.tasks
        return all(dep in tasks and tasks[dep].status == DONE for dep in task.deps)

    def get_work(
        self,
        host: str | None = None,
        assistant: bool = False,
        current_tasks: list[str] | None = None,
        worker: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The next task ``worker`` should run (highest priority first), marked RUNNING.

        The reply has Luigi's keys: ``task_id`` (None when there is nothing to do),
        ``n_pending_tasks``, ``running_tasks`` (what other workers run), ``task_family``,
        ``task_module``, ``task_params``, ``worker_state``.
        """
        worker_id = worker or "unknown"
        self.add_worker(worker_id)
        self._prune()
        used = self._used_resources()
        best: _Task | None = None
        pending = 0
        running_tasks: list[dict[str, Any]] = []
        for task in self._state.tasks.values():
            if task.status == RUNNING and task.worker_running != worker_id:
                if worker_id in task.workers:
                    running_tasks.append({"task_id": task.task_id, "worker": task.worker_running})
                continue
            if task.status != PENDING or worker_id not in task.workers:
                continue
            pending += 1
            if not task.runnable or not self._schedulable(task) or not self._fits(task, used):
                continue
            if best is None or task.priority > best.priority:
                best = task
        reply: dict[str, Any] = {
            "n_pending_tasks": pending,
            "n_unique_pending": pending,
            "n_pending_last_scheduled": pending,
            "running_tasks": running_tasks,
            "task_id": None,
            "worker_state": WORKER_STATE_ACTIVE,
        }
        if best is not None:
            self._set_status(best, RUNNING, worker_id)
            best.last_updated = time.time()
            reply.update(
                task_id=best.task_id,
                task_family=best.family,
                task_module=best.module,
                task_params=dict(best.params),
                n_pending_tasks=pending - 1,
            )
        return reply

    def count_pending(self, worker: str) -> dict[str, int]:
        """How many PENDING tasks ``worker`` could run (Luigi's keep-alive question)."""
        pending = sum(
            1 for t in self._state.tasks.values() if t.status == PENDING and worker in t.workers
        )
        return {
            "n_pending_tasks": pending,
            "n_unique_pending": pending,
            "n_pending_last_scheduled": pending,
        }

    def task_list(
        self,
        status: str = "",
        upstream_status: str = "",
        limit: bool = True,
        search: str | None = None,
        max_shown_tasks: int | None = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, Any]]:
        """Tasks by id, optionally only those in ``status`` or whose id contains ``search``."""
        out: dict[str, dict[str, Any]] = {}
        for task in self._state.tasks.values():
            if status and task.status != status:
                continue
            if search and search not in task.task_id:
                continue
            if upstream_status and self._upstream_status(task) != upstream_status:
                continue
            out[task.task_id] = task.public()
        return out

    def _upstream_status(self, task: _Task) -> str:
        tasks = self._state.tasks
        seen: set[str] = set()
        todo = list(task.deps)
        found = ""
        while todo:
            dep = tasks.get(todo.pop())
            if dep is None or dep.task_id in seen:
                continue
            seen.add(dep.task_id)
            if dep.status == FAILED:
                return UPSTREAM_FAILED
            if dep.status == DISABLED:
                found = found or UPSTREAM_DISABLED
            elif dep.status == PENDING and not dep.runnable:
                found = found or UPSTREAM_MISSING_INPUT
            elif dep.status == RUNNING:
                found = found or UPSTREAM_RUNNING
            todo.extend(dep.deps)
        return found

    def fetch_error(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        task = self._state.tasks.get(task_id)
        return {"taskId": task_id, "error": task.expl if task else ""}

    # -- what a running task reports ------------------------------------------------------------

    def set_task_status_message(self, task_id: str, status_message: str) -> None:
        if task_id in self._state.tasks:
            self._state.tasks[task_id].status_message = status_message

    def get_task_status_message(self, task_id: str) -> dict[str, Any]:
        task = self._state.tasks.get(task_id)
        return {"taskId": task_id, "statusMessage": task.status_message if task else ""}

    def set_task_progress_percentage(self, task_id: str, progress_percentage: float) -> None:
        if task_id in self._state.tasks:
            self._state.tasks[task_id].progress_percentage = progress_percentage

    def get_task_progress_percentage(self, task_id: str) -> dict[str, Any]:
        task = self._state.tasks.get(task_id)
        return {"taskId": task_id, "progressPercentage": task.progress_percentage if task else None}

    def set_task_tracking_url(self, task_id: str, tracking_url: str) -> None:
        if task_id in self._state.tasks:
            self._state.tasks[task_id].tracking_url = tracking_url

    def decrease_running_task_resources(
        self, task_id: str, decrease_resources: dict[str, int]
    ) -> None:
        """A running task gives back part of its resources (others may start sooner)."""
        task = self._state.tasks.get(task_id)
        if task is None or task.status != RUNNING:
            return
        for name, amount in decrease_resources.items():
            if name in task.running_resources:
                task.running_resources[name] = max(0, task.running_resources[name] - amount)

    def get_running_task_resources(self, task_id: str) -> dict[str, Any]:
        task = self._state.tasks.get(task_id)
        return {"taskId": task_id, "resources": dict(task.running_resources) if task else None}

    def report_task_statistics(self, task_id: str, statistics: dict[str, Any]) -> None:
        """Hand a task's statistics to the metrics collector, if one is configured."""
        collector = self._state._metrics_collector
        task = self._state.tasks.get(task_id)
        handler = getattr(collector, "handle_task_statistics", None)
        if task is not None and callable(handler):
            handler(_MetricsView(task), statistics)

    # -- resources ------------------------------------------------------------------------------

    def update_resource(self, resource: str, amount: int) -> bool:
        if not isinstance(amount, int) or amount < 0:
            return False
        self._resources[resource] = amount
        return True

    def update_resources(self, **resources: int) -> None:
        self._resources.update(resources)

    def resource_list(self) -> dict[str, dict[str, int]]:
        used = self._used_resources()
        names = set(self._resources) | set(used)
        return {
            name: {"total": self._resources.get(name, 1), "used": used.get(name, 0)}
            for name in sorted(names)
        }

    # -- Luigi calls that have nothing to do in one process -------------------------------------

    def add_task_batcher(self, **kwargs: Any) -> None:
        return None

    def announce_scheduling_failure(self, **kwargs: Any) -> None:
        return None


@dataclass
class _MetricsView:
    """A task as metrics collectors see it (Luigi hands them the scheduler's task record)."""

    _task: _Task

    @property
    def id(self) -> str:
        return self._task.task_id

    @property
    def family(self) -> str:
        return self._task.family

    @property
    def params(self) -> dict[str, Any]:
        return self._task.params

    @property
    def status(self) -> str:
        return self._task.status
