"""The worker side of the history stream: events go to Redis, never to the database.

A task process hands its history events to a :class:`RedisHistorySink`, which appends each one
to the ``P:history`` stream. :class:`~celery_app.history_stream.StreamHistoryWriter` stores them
in SQL. The sink never raises into the task: while Redis cannot be reached it keeps the events
in a bounded local buffer and sends them with a later ``emit`` or ``flush``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from celery_app.connection import clone_client
from dagcore.history.events import HistoryEvent, event_to_json

__all__ = [
    "HISTORY_FIELD",
    "Outage",
    "RedisClient",
    "RedisHistorySink",
    "history_stream_key",
    "quick_client",
]

logger = logging.getLogger("dagcore.history.stream")

RedisClient: TypeAlias = "Redis[Any]"

# The one field of a stream entry: the event as dagcore.history.events.event_to_json writes it.
HISTORY_FIELD = "e"
# Most XADDs sent in one pipeline when a sink catches up after an outage.
_SINK_CHUNK = 500
# Socket timeouts of the sink's connections when the given client sets none, in seconds.
_SINK_TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
# Longest pause between two attempts of emit to reach Redis during an outage, in seconds.
_SINK_RETRY_MAX = 30.0


def history_stream_key(prefix: str) -> str:
    """The stream workers append history events to (``P:history``)."""
    return f"{prefix}:history"


def quick_client(client: RedisClient) -> RedisClient:
    """A twin of ``client`` (same server and options) that gives up fast.

    redis-py retries a failed command ten times with backoff by default, which would stall the
    emitting task for seconds at every attempt during an outage. The twin retries once, at
    once (enough for a connection the server closed while idle), and times out.
    """
    kwargs = client.connection_pool.connection_kwargs
    timeouts = {key: s for key, s in _SINK_TIMEOUTS.items() if kwargs.get(key) is None}
    return clone_client(client, retry=Retry(NoBackoff(), 1), **timeouts)


class Outage:
    """Logs the first failure of an outage and its end, not every retry in between.

    Args:
        what: Names the service in the log lines.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._since: float | None = None

    def failed(self, exc: BaseException) -> None:
        """Note a failure; only the first of an outage is logged."""
        if self._since is None:
            self._since = time.monotonic()
            logger.warning("%s unavailable, keeping history and retrying: %s", self._what, exc)

    def recovered(self) -> None:
        """Note a success; logs the end of an outage if there was one."""
        if self._since is not None:
            logger.info(
                "%s reachable again after %.1fs; catching up",
                self._what,
                time.monotonic() - self._since,
            )
            self._since = None


class RedisHistorySink:
    """A :class:`~dagcore.executor.base.HistorySink` that appends events to a Redis stream.

    ``emit`` never raises into the task. While Redis cannot be reached, events wait in a local
    buffer of at most ``buffer_limit`` (the oldest are dropped past that, with an error in the
    log) and are sent, in order, by a later ``emit`` or by ``flush``.

    Args:
        redis: The server and options to write with; the sink opens its own connections to it
            (see :func:`quick_client`) and closes them in :meth:`close`.
        prefix: The key prefix (``settings.celery.key_prefix``).
        maxlen: Cap the stream at about this many entries. Only a safety net: entries trimmed
            this way are lost if no writer has stored them yet, so leave it ``None`` unless Redis
            memory matters more than history.
        buffer_limit: Most events kept locally while Redis is unreachable.
        retry_interval: Seconds ``emit`` waits after a failure before it tries Redis again,
            doubling while the outage lasts (up to 30), so that a task emitting many events
            is not slowed by one timeout each; ``flush`` always tries.
    """

    def __init__(
        self,
        redis: RedisClient,
        prefix: str = "dagcore",
        maxlen: int | None = None,
        *,
        buffer_limit: int = 10_000,
        retry_interval: float = 1.0,
    ) -> None:
        if buffer_limit < 1:
            raise ValueError(f"RedisHistorySink needs buffer_limit >= 1, got {buffer_limit}")
        self._redis = quick_client(redis)
        self.stream = history_stream_key(prefix)
        self._maxlen = maxlen
        self._limit = buffer_limit
        self._retry_interval = retry_interval
        self._retry_delay = retry_interval
        self._retry_at = 0.0
        self._buffer: deque[str] = deque()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._outage = Outage(f"Redis stream {self.stream}")
        self._drop_logged = False
        self._held = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Events kept locally because Redis could not be reached yet."""
        return len(self._buffer)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if os.getpid() != self._pid:
            # A forked child (Celery prefork) inherits the parent's lock, possibly held, and the
            # parent's unsent events, which the parent still sends itself.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._buffer = deque()
        with self._lock:
            yield

    def emit(self, event: HistoryEvent) -> None:
        """Append ``event`` to the stream, or keep it locally if Redis is unreachable."""
        try:
            payload = event_to_json(event)
        except Exception:  # a history problem must never break the task that emits
            logger.exception("cannot encode history event %r; it is not recorded", event)
            return
        try:
            with self._locked():
                self._buffer.append(payload)
                if len(self._buffer) > self._limit:
                    self._buffer.popleft()
                    self._note_drop()
                if not self._held:
                    self._drain(force=False)
        except Exception:
            logger.exception("could not queue history event %r", event)

    def keep(self, payloads: Sequence[str]) -> None:
        """Queue events already encoded (``event_to_json``) that another write failed to
        add to the stream; they go with the next ``emit`` or ``flush``."""
        try:
            with self._locked():
                for payload in payloads:
                    self._buffer.append(payload)
                    if len(self._buffer) > self._limit:
                        self._buffer.popleft()
                        self._note_drop()
        except Exception:
            logger.exception("could not keep %d history events", len(payloads))

    @contextmanager
    def batched(self) -> Iterator[None]:
        """Send the events emitted inside the block together, in one round trip at its end."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held:
                try:
                    with self._locked():
                        self._drain(force=False)
                except Exception:
                    logger.exception("could not send history events to %s", self.stream)

    def flush(self) -> bool:
        """Try now to send every locally kept event.

        Returns:
            ``True`` if none is left waiting locally.
        """
        try:
            with self._locked():
                return self._drain(force=True)
        except Exception:
            logger.exception("could not flush history events to %s", self.stream)
            return False

    def close(self) -> None:
        """Try a last time to send what is buffered, then close the sink's connections."""
        self.flush()
        self._redis.close()

    def _note_drop(self) -> None:
        self.dropped += 1
        if not self._drop_logged:
            self._drop_logged = True
            logger.error(
                "Redis stream %s unreachable and %d history events buffered: dropping the "
                "oldest; check the broker connection",
                self.stream,
                self._limit,
            )

    def _drain(self, *, force: bool) -> bool:
        """Send buffered events oldest first (caller holds the lock); True when empty."""
        if not self._buffer:
            return True
        if not force and time.monotonic() < self._retry_at:
            return False
        try:
            while self._buffer:
                chunk = [self._buffer[i] for i in range(min(len(self._buffer), _SINK_CHUNK))]
                self._send(chunk)
                for _ in chunk:
                    self._buffer.popleft()
        except RedisError as exc:
            # A pipeline broken half-way may have added part of the chunk; sending it again
            # duplicates those entries, which the store's idempotent merge absorbs.
            self._outage.failed(exc)
            self._retry_at = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, _SINK_RETRY_MAX)
            return False
        self._outage.recovered()
        self._retry_delay = self._retry_interval
        self._drop_logged = False
        return True

    def _send(self, payloads: Sequence[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for payload in payloads:
            pipe.xadd(self.stream, {HISTORY_FIELD: payload}, maxlen=self._maxlen)
        pipe.execute()
