"""Names of the events a task fires; register handlers with ``Task.event_handler``.

Handlers receive the task first; FAILURE and BROKEN_TASK handlers also receive the exception,
PROCESSING_TIME handlers the elapsed seconds, TIMEOUT handlers the timeout.
"""

from __future__ import annotations


class Event:
    """Event names, equal to Luigi's strings so handlers port unchanged."""

    DEPENDENCY_DISCOVERED = "event.core.dependency.discovered"
    DEPENDENCY_MISSING = "event.core.dependency.missing"
    DEPENDENCY_PRESENT = "event.core.dependency.present"
    BROKEN_TASK = "event.core.task.broken"
    START = "event.core.start"
    PROGRESS = "event.core.progress"
    FAILURE = "event.core.failure"
    SUCCESS = "event.core.success"
    PROCESSING_TIME = "event.core.processing_time"
    TIMEOUT = "event.core.timeout"
    PROCESS_FAILURE = "event.core.process_failure"
