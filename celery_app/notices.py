"""What a Celery submitter tells its user while it waits: never silence.

At submission it names the run and the broker (password masked; "the default" when nothing
configured one); while it follows the run, :class:`QueueWatch` says within seconds when a queue
the run needs has no live worker (from the workers' heartbeats in Redis, see
:mod:`celery_app.presence`) and again when one appears. Lines go to stderr, so that stdout keeps
only the summary.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis

from celery_app.connection import redact
from celery_app.presence import live_workers
from dagcore.configuration.settings import DEFAULT_BROKER_URL, Settings

__all__ = ["QueueWatch", "broker_description", "say"]

BROKER_ENV = "DAGCORE_BROKER_URL"
# Seconds between two checks of the queues' workers while following a run.
WATCH_INTERVAL = 2.0


def say(line: str) -> None:
    """One line for the user on stderr."""
    print(f"dagcore: {line}", file=sys.stderr, flush=True)


def broker_description(settings: Settings) -> str:
    """The broker URL with its password masked, and where it came from when it is the default."""
    url = settings.celery.broker_url
    shown = redact(url)
    if url == DEFAULT_BROKER_URL and not os.environ.get(BROKER_ENV):
        return f"{shown} (the default: set {BROKER_ENV} or [celery] broker_url for another)"
    return shown


class QueueWatch:
    """Says which queues a run needs have no live worker, and when that changes.

    Parameters:
        client: a client of the broker's Redis.
        prefix: ``[celery] key_prefix``.
        modules: the modules of the run's tasks, for the hint of what to start.
        interval: seconds between two checks (:meth:`check` is cheap to call more often).
    """

    def __init__(
        self,
        client: redis.Redis[Any],
        prefix: str,
        modules: Iterable[str],
        interval: float = WATCH_INTERVAL,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.modules = sorted(set(modules))
        self.interval = interval
        self.idle: set[str] = set()
        # Idle at the last check, not said yet: a worker that has just started may not have
        # written its first heartbeat, so a queue must be idle at two checks to be reported.
        self.suspect: set[str] = set()
        self._next = 0.0

    def check(self, queues: Callable[[], Iterable[str]], force: bool = False) -> None:
        """Compare the live workers of ``queues()`` (called only when a check is due) with
        what was said last; say what changed."""
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + self.interval
        try:
            counts = live_workers(self.client, self.prefix, sorted(set(queues())))
        except redis.RedisError:
            return  # the follow loop reports a lost broker itself
        seen_idle = {queue for queue, count in counts.items() if count == 0}
        idle = seen_idle & (self.suspect | self.idle)
        self.suspect = seen_idle - idle
        for queue in sorted(idle - self.idle):
            module = ",".join(self.modules) or "PKG.MOD"
            say(
                f"no live worker consumes queue {queue!r} (no worker heartbeat in Redis); "
                f"the run waits until one starts: dagcore worker --module {module} "
                f"--queues {queue}"
            )
        for queue in sorted(self.idle - idle):
            if counts.get(queue):  # not merely a queue the run no longer needs
                say(f"a worker now consumes queue {queue!r} ({counts[queue]} live)")
        self.idle = idle
