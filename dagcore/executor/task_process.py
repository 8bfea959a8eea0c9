"""One attempt of one task the way Luigi's worker runs it: ``TaskProcess`` and its reporter.

:class:`TaskProcess` runs ``run()`` (in this process, or forked), forwards the task's status
calls to a :class:`TaskStatusReporter` while it runs, and puts Luigi's result tuple
``(task_id, status, expl, missing, new_deps)`` on a queue. :mod:`dagcore.worker` drives it;
``luigi.worker.TaskProcess`` is this class.
"""

from __future__ import annotations

import collections.abc
import logging
import multiprocessing
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagcore.errors import DagcoreError
from dagcore.event import Event
from dagcore.executor.runner import Yielded, drive
from dagcore.graph import is_external
from dagcore.scheduler import DONE, FAILED, PENDING
from dagcore.task import Task, flatten

__all__ = ["TaskException", "TaskProcess", "TaskStatusReporter", "validate_task"]

logger = logging.getLogger("dagcore.worker")

_FORK = multiprocessing.get_context("fork")


class TaskException(DagcoreError):
    """A task cannot be scheduled (not a Task, or its ``__init__`` skipped the base one)."""


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
            if self.check_unfulfilled_deps and not is_external(self.task):
                missing = self._missing()
                if missing:
                    word = "dependency" if len(missing) == 1 else "dependencies"
                    raise RuntimeError(f"Unfulfilled {word} at run time: {', '.join(missing)}")
            self.task.trigger_event(Event.START, self.task)
            started = time.time()
            status = None
            if is_external(self.task):
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


class ContextTaskProcess(TaskProcess):
    """A TaskProcess run inside ``[worker] task_process_context`` (a class taking the process)."""

    def __init__(self, context: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def run(self) -> None:
        module_name, _, class_name = self.context.rpartition(".")
        context_cls = getattr(__import__(module_name, fromlist=[class_name]), class_name)
        with context_cls(self):
            super().run()
