"""Luigi's ``Worker``: add tasks to a scheduler, then run them, in this process or forked ones.

Code written for Luigi drives runs by hand: ``with Worker(scheduler=Scheduler()) as w:
w.add(task); w.run()``. This module keeps that API on dagcore's machinery: ``add`` resolves the
graph with dagcore's resolver (``complete()`` checks, ``requires()``, the dependency events,
broken tasks collected rather than raised) and reports every task to the
:class:`~dagcore.scheduler.Scheduler`; ``run`` asks the scheduler for work until none is left
and runs each task in a :class:`TaskProcess` (inline with one process, forked with more), the
way Luigi's worker does. The worker keeps what it reported, which
:mod:`dagcore.execution_summary` turns into Luigi's summary.

``dagcore.build`` and ``dagcore run`` use the executors directly (history, the Celery
executor, retries within a run); this is the object-level API for code that wants Luigi's.
"""

from __future__ import annotations

import collections
import getpass
import logging
import multiprocessing
import os
import queue
import random
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from dagcore.errors import DagcoreError
from dagcore.event import Event
from dagcore.executor.runner import Yielded, drive
from dagcore.graph import Resolver
from dagcore.parameter import (
    BoolParameter,
    FloatParameter,
    IntParameter,
    OptionalIntParameter,
    OptionalParameter,
    Parameter,
)
from dagcore.plan import Plan
from dagcore.scheduler import DISABLED, DONE, FAILED, PENDING, UNKNOWN, Scheduler
from dagcore.task import Config, Task, flatten
from dagcore.task_register import load_task

__all__ = [
    "TaskException",
    "TaskProcess",
    "TaskStatusReporter",
    "Worker",
    "validate_task",
    "worker",
]

logger = logging.getLogger("dagcore.worker")

_FORK = multiprocessing.get_context("fork")


class TaskException(DagcoreError):
    """A task cannot be scheduled (not a Task, or its ``__init__`` skipped the base one)."""


class worker(Config):  # noqa: N801 - Luigi's config section and class name
    """``[worker]`` settings of Luigi's worker (the ones that change what it does here)."""

    id = Parameter(default="", description="override the generated worker id")
    keep_alive = BoolParameter(default=False)
    wait_interval = FloatParameter(default=1.0)
    wait_jitter = FloatParameter(default=5.0)
    max_reschedules = IntParameter(default=1)
    timeout = IntParameter(default=0)
    task_limit = OptionalIntParameter(default=None)
    retry_external_tasks = BoolParameter(default=False)
    check_unfulfilled_deps = BoolParameter(default=True)
    check_complete_on_run = BoolParameter(default=False)
    force_multiprocessing = BoolParameter(default=False)
    task_process_context = OptionalParameter(default=None)
    no_install_shutdown_handler = BoolParameter(default=False)
    send_failure_email = BoolParameter(default=True)


def validate_task(task: Any) -> None:
    """Refuse what cannot be scheduled, with Luigi's exception.

    Raises:
        TaskException: ``task`` is not a Task, or its class's ``__init__`` skipped Task's.
    """
    if not isinstance(task, Task):
        raise TaskException(f"Can not schedule non-task {task!r}")
    if not task.initialized():
        raise TaskException(
            f"Task of class {type(task).__name__} not initialized. Did you override "
            "__init__ and forget to call super().__init__?"
        )


def _is_external(task: Task) -> bool:
    return task.run is None or task.run is NotImplemented


class TaskStatusReporter:
    """What a running task's ``set_status_message`` and friends call: the scheduler."""

    def __init__(
        self, scheduler: Any, task_id: str, worker_id: str, scheduler_messages: Any = None
    ) -> None:
        self._scheduler = scheduler
        self._task_id = task_id
        self._worker_id = worker_id
        self.scheduler_messages = scheduler_messages

    def update_tracking_url(self, tracking_url: str) -> None:
        self._scheduler.set_task_tracking_url(self._task_id, tracking_url)

    def update_status_message(self, message: str) -> None:
        self._scheduler.set_task_status_message(self._task_id, message)

    def update_progress_percentage(self, percentage: float) -> None:
        self._scheduler.set_task_progress_percentage(self._task_id, percentage)

    def decrease_running_resources(self, decrease_resources: dict[str, int]) -> None:
        self._scheduler.decrease_running_task_resources(self._task_id, decrease_resources)

    def report_task_statistics(self, statistics: dict[str, Any]) -> None:
        self._scheduler.report_task_statistics(self._task_id, statistics)


class TaskProcess(_FORK.Process):  # type: ignore[name-defined,misc]
    """One attempt of one task; puts ``(task_id, status, expl, missing, new_deps)`` on a queue.

    ``run()`` is called directly for an in-process attempt, or through ``start()`` in a forked
    child. Unfulfilled requirements, a ``run()`` that raises (any exception) and, with
    ``check_complete_on_run``, a task still incomplete afterwards are failures; requirements
    yielded by ``run()`` that are not complete make the result PENDING with ``new_deps``.
    """

    forward_reporter_attributes = {
        "update_tracking_url": "set_tracking_url",
        "update_status_message": "set_status_message",
        "update_progress_percentage": "set_progress_percentage",
        "decrease_running_resources": "decrease_running_resources",
        "scheduler_messages": "scheduler_messages",
    }

    def __init__(
        self,
        task: Task,
        worker_id: Any,
        result_queue: Any,
        status_reporter: Any,
        use_multiprocessing: bool = False,
        worker_timeout: float = 0,
        check_unfulfilled_deps: bool = True,
        check_complete_on_run: bool = False,
        task_completion_cache: Any = None,
    ) -> None:
        super().__init__()
        self.task = task
        self.worker_id = worker_id
        self.result_queue = result_queue
        self.status_reporter = status_reporter
        self.use_multiprocessing = use_multiprocessing
        task_timeout = getattr(task, "worker_timeout", None)
        self.worker_timeout = task_timeout if task_timeout is not None else worker_timeout
        self.timeout_time = time.time() + self.worker_timeout if self.worker_timeout else None
        self.check_unfulfilled_deps = check_unfulfilled_deps
        self.check_complete_on_run = check_complete_on_run
        self.task_completion_cache = task_completion_cache

    def _missing(self) -> list[str]:
        missing: list[str] = []
        for dep in self.task.deps():
            if dep.complete():
                continue
            absent = [str(t) for t in flatten(dep.output()) if not t.exists()]
            missing.append(f"{dep.task_id} ({', '.join(absent)})" if absent else dep.task_id)
        return missing

    def _new_deps(self) -> list[tuple[str, str, dict[str, str]]] | None:
        result = self.task.run()
        if not isinstance(result, collections.abc.Generator):
            return None
        try:
            drive(self.task, result)
        except Yielded as yielded:
            return [(t.task_module, t.get_task_family(), t.to_str_params()) for t in yielded.deps]
        return None

    def run(self) -> None:
        pid = os.getpid()
        logger.info("[pid %s] Worker %s running   %s", pid, self.worker_id, self.task)
        if self.use_multiprocessing:
            random.seed(pid * time.time())
        status: str | None = FAILED
        expl: Any = ""
        missing: list[str] = []
        new_deps: list[tuple[str, str, dict[str, str]]] | None = []
        try:
            if self.check_unfulfilled_deps and not _is_external(self.task):
                missing = self._missing()
                if missing:
                    word = "dependency" if len(missing) == 1 else "dependencies"
                    raise RuntimeError(f"Unfulfilled {word} at run time: {', '.join(missing)}")
            self.task.trigger_event(Event.START, self.task)
            started = time.time()
            status = None
            if _is_external(self.task):
                if self.task.complete():
                    status = DONE
                else:
                    status = FAILED
                    expl = "Task is an external data dependency and data does not exist (yet?)."
            else:
                with self._forward_attributes():
                    new_deps = self._new_deps()
                if new_deps:
                    status = PENDING
                elif self.check_complete_on_run and not self.task.complete():
                    raise TaskException(
                        "Task finished running, but complete() is still returning false."
                    )
                else:
                    status = DONE
            if new_deps:
                logger.info(
                    "[pid %s] Worker %s new requirements      %s", pid, self.worker_id, self.task
                )
            elif status == DONE:
                self.task.trigger_event(Event.PROCESSING_TIME, self.task, time.time() - started)
                expl = self.task.on_success()
                logger.info("[pid %s] Worker %s done      %s", pid, self.worker_id, self.task)
                self.task.trigger_event(Event.SUCCESS, self.task)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            status = FAILED
            logger.exception("[pid %s] Worker %s failed    %s", pid, self.worker_id, self.task)
            self.task.trigger_event(Event.FAILURE, self.task, exc)
            expl = self.task.on_failure(exc)
        finally:
            self.result_queue.put((self.task.task_id, status, expl, missing, new_deps))

    @contextmanager
    def _forward_attributes(self) -> Iterator[None]:
        """While ``run()`` runs, the task's status calls go to the status reporter."""
        for reporter_attr, task_attr in self.forward_reporter_attributes.items():
            setattr(self.task, task_attr, getattr(self.status_reporter, reporter_attr))
        try:
            yield
        finally:
            for task_attr in self.forward_reporter_attributes.values():
                self.task.__dict__.pop(task_attr, None)  # the class's own methods again

    def terminate(self) -> None:
        """Kill the attempt and the processes it started."""
        try:
            import psutil  # type: ignore[import-untyped]  # optional: else only the attempt's process

            children = psutil.Process(self.pid).children(recursive=True)
        except Exception:
            children = []
        for child in children:
            try:
                child.kill()
            except Exception:  # already gone
                pass
        super().terminate()


class _ContextTaskProcess(TaskProcess):
    """A TaskProcess run inside ``[worker] task_process_context`` (a class taking the process)."""

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def run(self) -> None:
        module_name, _, class_name = self.context.rpartition(".")
        context_cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
        with context_cls(self):
            super().run()


def _worker_info(processes: int) -> list[tuple[str, Any]]:
    info: list[tuple[str, Any]] = [("salt", f"{random.randrange(0, 10**9):09d}")]
    info.append(("workers", processes))
    info.append(("host", socket.gethostname()))
    try:
        info.append(("username", getpass.getuser()))
    except (KeyError, OSError):
        pass
    info.append(("pid", os.getpid()))
    return info


class Worker:
    """Adds tasks to a scheduler and runs what the scheduler hands out.

    Parameters:
        scheduler: a :class:`~dagcore.scheduler.Scheduler` (a new one by default).
        worker_id: this worker's name at the scheduler (generated by default).
        worker_processes: 1 runs tasks in this process; more forks one process per task.
        assistant: accepted for Luigi compatibility.
        kwargs: ``[worker]`` settings (``keep_alive``, ``wait_interval``, ...).
    """

    def __init__(
        self,
        scheduler: Any = None,
        worker_id: str | None = None,
        worker_processes: int = 1,
        assistant: bool = False,
        **kwargs: Any,
    ) -> None:
        self._scheduler = scheduler if scheduler is not None else Scheduler()
        self.worker_processes = int(worker_processes)
        self._worker_info = _worker_info(self.worker_processes)
        self._config = worker(**kwargs)
        info = ", ".join(f"{k}={v}" for k, v in self._worker_info)
        self._id = worker_id or self._config.id or f"Worker({info})"
        self._assistant = assistant
        self.host = socket.gethostname()
        self._resolver = Resolver()
        self._plan = Plan(roots=[])
        self._scheduled_tasks: dict[str, Task] = {}
        self._running_tasks: dict[str, TaskProcess] = {}
        self._first_task: str | None = None
        self.add_succeeded = True
        self.run_succeeded = True
        self.unfulfilled_counts: dict[str, int] = collections.defaultdict(int)
        self._task_result_queue: Any = None
        # What execution_summary reads.
        self._add_task_history: list[tuple[Task, str, bool]] = []
        self._get_work_response_history: list[dict[str, Any]] = []

    @property
    def worker_id(self) -> str:
        return str(self._id)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        for process in self._running_tasks.values():
            if process.is_alive():
                process.terminate()
        return False

    # -- adding ---------------------------------------------------------------------------------

    def _add_task(self, **kwargs: Any) -> None:
        """Tell the scheduler about a task, and remember it for the summary."""
        task_id = kwargs["task_id"]
        task = self._scheduled_tasks.get(task_id)
        if task is not None:
            self._add_task_history.append((task, kwargs["status"], kwargs["runnable"]))
        self._scheduler.add_task(**kwargs)
        logger.info(
            "Informed scheduler that task   %s   has status   %s", task_id, kwargs["status"]
        )

    @staticmethod
    def _validate_task(task: Any) -> None:
        validate_task(task)

    def add(self, task: Any, multiprocess: bool = False, processes: int = 0) -> bool:
        """Check ``task`` and what it requires and report them to the scheduler.

        Returns:
            False if some ``complete()`` or ``requires()`` raised (a scheduling failure).
        """
        self._validate_task(task)
        if self._first_task is None:
            self._first_task = task.task_id
        self.add_succeeded = True
        # Everything is checked again on each add, as in Luigi: a task that failed in an
        # earlier run() is reported PENDING again and runs once more.
        fragment = self._resolver.resolve([task])
        if task.task_id not in self._plan.roots:
            self._plan.roots.append(task.task_id)
        for task_id, node in fragment.nodes.items():
            self._plan.nodes[task_id] = node
            current = fragment.tasks[task_id]
            self._plan.tasks[task_id] = current
            self._report_added(current, node.complete, fragment.broken.get(task_id), node.deps)
        return self.add_succeeded

    def _report_added(self, task: Task, complete: bool, error: str | None, deps: list[str]) -> None:
        limit = self._config.task_limit
        runnable = False
        reported_deps: list[str] | None = None
        if limit is not None and len(self._scheduled_tasks) >= limit:
            logger.warning(
                "Will not run %s or any dependencies due to exceeded task-limit of %d", task, limit
            )
            status = UNKNOWN
        elif error is not None:
            self.add_succeeded = False
            self._plan.broken[task.task_id] = error
            logger.warning("Will not run %s or any dependencies due to an error:\n%s", task, error)
            status = UNKNOWN
        elif complete:
            status = DONE
        elif _is_external(task):
            status = PENDING
            runnable = bool(self._config.retry_external_tasks)
            self._plan.missing.append(task.task_id)
            logger.warning(
                "Data for %s does not exist (yet?). The task is an external data dependency, "
                "so it cannot be run from this process.",
                task,
            )
        else:
            status = PENDING
            runnable = True
            reported_deps = deps
        if task.disabled:
            status = DISABLED
        self._scheduled_tasks[task.task_id] = task
        self._add_task(
            worker=self._id,
            task_id=task.task_id,
            status=status,
            deps=reported_deps,
            runnable=runnable,
            priority=task.priority,
            resources=task.process_resources(),
            params=task.to_str_params(),
            family=task.get_task_family(),
            module=task.task_module,
            retry_policy_dict=_retry_policy(task),
            accepts_messages=task.accepts_messages,
        )

    # -- running --------------------------------------------------------------------------------

    def _multiprocess(self) -> bool:
        return self.worker_processes > 1 or bool(self._config.force_multiprocessing)

    def run(self) -> bool:
        """Run what the scheduler hands this worker until nothing is left.

        Returns:
            True if every task this worker ran succeeded (or yielded new requirements).
        """
        logger.info("Running Worker with %d processes", self.worker_processes)
        self.run_succeeded = True
        self._scheduler.add_worker(self._id, [*self._worker_info, ("first_task", self._first_task)])
        self._task_result_queue = _FORK.Queue() if self._multiprocess() else queue.Queue()
        capacity = max(1, self.worker_processes)
        while True:
            while len(self._running_tasks) >= capacity:
                self._handle_next_task()
            reply = self._scheduler.get_work(
                worker=self._id,
                host=self.host,
                assistant=self._assistant,
                current_tasks=list(self._running_tasks),
            )
            self._get_work_response_history.append(
                {"task_id": reply.get("task_id"), "running_tasks": reply.get("running_tasks", [])}
            )
            task_id = reply.get("task_id")
            if task_id is None:
                if self._running_tasks:
                    self._handle_next_task()
                    continue
                if self._keep_alive(reply):
                    time.sleep(
                        self._config.wait_interval + random.uniform(0, self._config.wait_jitter)
                    )
                    continue
                break
            self._run_task(task_id)
        while self._running_tasks:
            self._handle_next_task()
        return self.run_succeeded

    def _keep_alive(self, reply: dict[str, Any]) -> bool:
        return bool(self._config.keep_alive) and int(reply.get("n_pending_tasks", 0)) > 0

    def _run_task(self, task_id: str) -> None:
        task = self._scheduled_tasks.get(task_id)
        if task is None:
            logger.warning("The scheduler handed out %s, which this worker never added", task_id)
            self._scheduler.add_task(
                worker=self._id, task_id=task_id, status=FAILED, runnable=False
            )
            return
        process = self._task_process(task)
        self._running_tasks[task_id] = process
        if self._multiprocess():
            process.start()
        else:
            process.run()  # inline, as Luigi runs a single-process worker

    def _task_process(self, task: Task) -> TaskProcess:
        messages: queue.Queue[Any] | None = queue.Queue() if task.accepts_messages else None
        reporter = TaskStatusReporter(self._scheduler, task.task_id, self._id, messages)
        args = (task, self._id, self._task_result_queue, reporter)
        options: dict[str, Any] = {
            "use_multiprocessing": self._multiprocess(),
            "worker_timeout": self._config.timeout,
            "check_unfulfilled_deps": self._config.check_unfulfilled_deps,
            "check_complete_on_run": self._config.check_complete_on_run,
        }
        if self._config.task_process_context:
            return _ContextTaskProcess(self._config.task_process_context, *args, **options)
        return TaskProcess(*args, **options)

    def _purge_children(self) -> None:
        """Report forked attempts that died or ran past their timeout as failed."""
        for task_id, process in list(self._running_tasks.items()):
            if not self._multiprocess() or process.pid is None:
                continue
            timed_out = process.timeout_time is not None and time.time() > process.timeout_time
            if timed_out and process.is_alive():
                process.terminate()
                why = f"Task {task_id} timed out after {process.worker_timeout} seconds"
            elif not process.is_alive() and process.exitcode:
                code = process.exitcode
                why = f"Task process for {task_id} died unexpectedly with exit code {code}"
            else:
                continue
            logger.error(why)
            self._task_result_queue.put((task_id, FAILED, why, [], []))

    def _handle_next_task(self) -> None:
        """Wait for one attempt to end and report it to the scheduler."""
        while True:
            self._purge_children()
            try:
                task_id, status, expl, missing, new_requirements = self._task_result_queue.get(
                    timeout=min(self._config.wait_interval, 1.0)
                )
            except queue.Empty:
                continue
            if task_id not in self._running_tasks:
                continue
            break
        task = self._scheduled_tasks[task_id]
        new_deps: list[str] = []
        if new_requirements:
            requirements = [load_task(m, f, p) for m, f, p in new_requirements]
            for requirement in requirements:
                self.add(requirement)
            new_deps = [t.task_id for t in requirements]
        self._add_task(
            worker=self._id,
            task_id=task_id,
            status=status,
            expl=expl if isinstance(expl, str) or expl is None else str(expl),
            resources=task.process_resources(),
            runnable=None,
            params=task.to_str_params(),
            family=task.get_task_family(),
            module=task.task_module,
            new_deps=new_deps,
            retry_policy_dict=_retry_policy(task),
        )
        process = self._running_tasks.pop(task_id)
        if self._multiprocess():
            process.join(1)
        if missing:
            reschedule = True
            for dep in missing:
                self.unfulfilled_counts[dep] += 1
                if self.unfulfilled_counts[dep] > self._config.max_reschedules:
                    reschedule = False
            if reschedule:
                self.add(task)
        self.run_succeeded &= status == DONE or bool(new_deps)


def _retry_policy(task: Task) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if task.retry_count is not None:
        policy["retry_count"] = task.retry_count + 1
    return policy
