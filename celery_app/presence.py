"""Which queues have a live worker, from heartbeats in Redis (no broadcast).

Every worker started from :func:`celery_app.app.worker_app` (``dagcore worker``, or ``celery -A
celery_app worker`` with ``[worker] modules``) writes, every few seconds from a thread of its
main process, its name into ``P:queue:{name}:workers`` of each queue it consumes, scored with
the time its heartbeat runs out (Redis ``TIME``, so clocks do not matter). A submitter counts the
entries not run out yet: a queue that a run needs with none is one nobody will take tasks from,
and the submitter says so within seconds instead of waiting in silence.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery, signals

from celery_app.connection import redis_client
from celery_app.keys import Keys
from dagcore.configuration.settings import Settings

__all__ = ["Presence", "install_presence", "live_workers"]

logger = logging.getLogger("dagcore.worker.presence")

_ANNOUNCE = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], expiry, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', expiry - 10 * tonumber(ARGV[2]))
  redis.call('PEXPIRE', KEYS[i], 10 * tonumber(ARGV[2]))
end
return 1
"""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('ZCOUNT', KEYS[i], now, '+inf')
end
return out
"""


def live_workers(client: redis.Redis[Any], prefix: str, queues: Sequence[str]) -> dict[str, int]:
    """How many workers with a live heartbeat consume each of ``queues``."""
    names = list(dict.fromkeys(queues))
    if not names:
        return {}
    keys = Keys(prefix)
    counts = client.register_script(_COUNT)(keys=[keys.queue_workers(q) for q in names])
    return {name: int(count) for name, count in zip(names, counts, strict=True)}


class Presence:
    """Announces one worker on its queues every ``interval`` seconds from a daemon thread.

    Parameters:
        client: a client of the broker's Redis.
        prefix: ``[celery] key_prefix``.
        interval: seconds between two announcements; an entry lives three of them (plus 5 s).
    """

    def __init__(self, client: redis.Redis[Any], prefix: str, interval: float) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.interval = interval
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.queues: tuple[str, ...] = ()
        self._announce = client.register_script(_ANNOUNCE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ttl_ms(self) -> int:
        """How long one announcement counts."""
        return int((3 * self.interval + 5) * 1000)

    def announce(self) -> None:
        """Write this worker's heartbeat into each of its queues (raises on Redis errors)."""
        if self.queues:
            keys = [self.keys.queue_workers(q) for q in self.queues]
            self._announce(keys=keys, args=[self.name, self.ttl_ms])

    def _run(self) -> None:
        failing = False
        while True:
            try:
                self.announce()
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    logger.warning("cannot announce this worker in Redis: %s", exc)
                failing = True
            if self._stop.wait(self.interval):
                return

    def start(self, queues: Sequence[str]) -> None:
        """Start announcing on ``queues``."""
        self.queues = tuple(dict.fromkeys(queues))
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dagcore-presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop announcing and remove this worker from its queues (errors are only logged)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
            self._thread = None
        try:
            pipe = self.client.pipeline(transaction=False)
            for queue in self.queues:
                pipe.zrem(self.keys.queue_workers(queue), self.name)
            pipe.execute()
        except redis.RedisError as exc:
            logger.info("could not remove this worker's heartbeat from Redis: %s", exc)


def _consumed_queues(consumer: Any) -> list[str]:
    task_consumer = getattr(consumer, "task_consumer", None)
    queues = getattr(task_consumer, "queues", None) or []
    return [str(q.name) for q in queues]


def install_presence(app: Celery, settings: Settings) -> Presence:
    """Make the worker of ``app`` announce itself on its queues from ready to shutdown."""
    client = redis_client(settings, client_name="dagcore-presence")
    presence = Presence(client, settings.celery.key_prefix, settings.worker.heartbeat_interval)

    def on_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            presence.start(_consumed_queues(sender))

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            presence.stop()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    return presence
