"""Where a running task's status calls go: messages, progress, tracking URL, resources.

``Task.set_status_message()`` and friends hand the call to the task's reporter. An executor
installs its own reporter on the task it runs (to forward the values to history, Flower or the
submitter); the default one keeps the values on the task so ported code never breaks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = ["DEFAULT_REPORTER", "REPORTER_ATTRIBUTES", "KeepOnTask", "TaskReporter"]

#: The reporting methods a worker may replace on an instance with closures that cannot be
#: pickled (Luigi's worker does); ``Task.no_unpicklable_properties`` sets them aside.
REPORTER_ATTRIBUTES = (
    "set_tracking_url",
    "set_status_message",
    "set_progress_percentage",
    "decrease_running_resources",
    "scheduler_messages",
)


class TaskReporter(Protocol):
    """Where a running task's status calls go; executors install one per attempt."""

    def status_message(self, task: Task, message: str) -> None: ...

    def progress(self, task: Task, percentage: float) -> None: ...

    def tracking_url(self, task: Task, url: str) -> None: ...

    def decrease_resources(self, task: Task, amounts: dict[str, int]) -> None: ...


class KeepOnTask:
    """The default reporter: remembers the values on the task."""

    def status_message(self, task: Task, message: str) -> None:
        task.status_message = message

    def progress(self, task: Task, percentage: float) -> None:
        task.progress_percentage = percentage

    def tracking_url(self, task: Task, url: str) -> None:
        task.tracking_url = url

    def decrease_resources(self, task: Task, amounts: dict[str, int]) -> None:
        running = task.running_resources
        for name, amount in amounts.items():
            running[name] = running.get(name, 0) - amount


DEFAULT_REPORTER: TaskReporter = KeepOnTask()
