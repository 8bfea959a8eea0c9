"""Task events for Flower, sent in batches instead of one Redis PUBLISH each.

Celery's worker buffers its task events (``task-received``, ``task-started``,
``task-succeeded``, ...) and, with the prefork pool's event loop, flushes that buffer at the
next turn of the loop: in practice one ``PUBLISH`` per event, three per task, each a blocking
round trip in the worker's main process, which is also the process that hands messages to the
pool. At a few hundred tasks a second that is most of the main process's time.

:class:`BatchingConsumer` flushes at most every :data:`FLUSH_INTERVAL` seconds instead (and, as
before, at once when Celery's buffer limit of 24 events is reached). Each flush is one
``task.multi`` message, which Flower's event receiver unpacks like any other. Flower sees an
event at most that much later; nothing else changes. The worker uses it through Celery's
``worker_consumer`` setting.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from celery.worker.consumer import Consumer

__all__ = ["FLUSH_INTERVAL", "BatchingConsumer"]

FLUSH_INTERVAL = 0.1
"""Longest time, in seconds, a task event waits in the worker before it is sent."""


class BatchingConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer, flushing buffered task events on a short timer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flush_scheduled = False

    def on_send_event_buffered(self) -> None:
        """Called by the event dispatcher for each buffered event: schedule one flush."""
        if self.hub is None:
            super().on_send_event_buffered()
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.hub.call_later(FLUSH_INTERVAL, self._flush_scheduled_events)

    def _flush_scheduled_events(self) -> None:
        self._flush_scheduled = False
        self._flush_events()

    def stop(self) -> None:
        """Send what is buffered, then stop as Celery does."""
        self._flush_quietly()
        super().stop()

    def shutdown(self) -> None:
        """Send what is buffered before the event connection closes."""
        self._flush_quietly()
        super().shutdown()

    def _flush_quietly(self) -> None:
        # On the way down the broker may be gone already; the events are lost then, as they
        # would be with Celery's own consumer.
        with suppress(Exception):
            self._flush_events()
