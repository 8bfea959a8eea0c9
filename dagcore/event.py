"""Events a task fires, and the handler API (``Task.event_handler`` and friends).

Handlers receive the task first; FAILURE and BROKEN_TASK handlers also receive the exception,
PROCESSING_TIME handlers the elapsed seconds, TIMEOUT handlers the timeout. A handler registered
on a class fires for its instances and those of its subclasses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["Event", "EventHandlers"]

logger = logging.getLogger("dagcore")

_Callback = Callable[..., Any]


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


class EventHandlers:
    """Luigi's event-handler API, mixed into :class:`~dagcore.task.Task`.

    ``_event_callbacks`` maps a class to ``{event: [callbacks]}``; one dict shared by every
    class, as in Luigi. Callbacks of one class fire in the order they were registered.
    """

    _event_callbacks: ClassVar[dict[type, dict[str, list[_Callback]]]] = {}

    @classmethod
    def event_handler(cls, event: str) -> Callable[[_Callback], _Callback]:
        """Decorator registering a callback for ``event`` on this class and its subclasses.

        Registering the same callback twice for one class and event keeps one registration.
        """

        def register(callback: _Callback) -> _Callback:
            handlers = cls._event_callbacks.setdefault(cls, {}).setdefault(event, [])
            if callback not in handlers:
                handlers.append(callback)
            return callback

        return register

    @classmethod
    def remove_event_handler(cls, event: str, callback: _Callback) -> None:
        """Unregister a callback that ``event_handler`` registered on this very class.

        Raises:
            KeyError: the callback is not registered for ``event`` on this class.
        """
        handlers = cls._event_callbacks.get(cls, {}).get(event, [])
        if callback not in handlers:
            raise KeyError(callback)
        handlers.remove(callback)

    def trigger_event(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Call the handlers of ``event``; a failing handler is logged, never raised.

        Unlike Luigi, a KeyboardInterrupt in a handler propagates: Ctrl-C stops the run.
        """
        for klass, events in list(self._event_callbacks.items()):
            if not isinstance(self, klass):
                continue
            for callback in list(events.get(event, ())):
                try:
                    callback(*args, **kwargs)
                except KeyboardInterrupt:
                    raise
                except Exception:
                    logger.exception("Error in %s handler %r for %r", event, callback, self)
