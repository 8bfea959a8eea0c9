"""The storing side of the history stream: one consumer group of batching writers.

Celery workers append history events to the ``P:history`` stream through a
:class:`~celery_app.history_sink.RedisHistorySink` (re-exported here) and never touch the
database. A :class:`StreamHistoryWriter`, embedded in a worker or in the submitter, reads the
stream as a member of one consumer group, merges each batch into the store in one transaction,
and acknowledges the entries only after that transaction committed. Several writers may run at
once; entries a dead writer left pending are claimed by another after ``claim_idle_ms``.

Delivery is therefore at least once: a writer killed between commit and acknowledgement, or a
claim of a slow writer's entries, stores a batch twice, which the store's idempotent merge makes
harmless. While the database is down a writer keeps its batch un-acknowledged and retries with
backoff, and new events wait in the stream, so an outage loses nothing. Entries every group has
acknowledged are trimmed; entries that cannot be decoded go to ``P:history:dead``.

Redis clients given to a writer must use a ``socket_timeout`` longer than its ``block_ms`` (or
none), or the blocking reads time out.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from redis.exceptions import RedisError, ResponseError

from celery_app.connection import clone_client
from celery_app.history_sink import (
    HISTORY_FIELD,
    Outage,
    RedisClient,
    RedisHistorySink,
    history_stream_key,
)
from dagcore.errors import HistoryError
from dagcore.history.events import HistoryEvent, event_from_json, event_to_json
from dagcore.history.store import HistoryStore, HistoryUnavailableError

__all__ = [
    "DEFAULT_GROUP",
    "HISTORY_FIELD",
    "RedisHistorySink",
    "StreamHistoryWriter",
    "WriterStats",
    "WriterThread",
    "dead_letter_key",
    "default_consumer_name",
    "history_stream_key",
]

logger = logging.getLogger("dagcore.history.stream")

DEFAULT_GROUP = "dagcore-history"
# Fields a dead-letter entry adds to the original ones.
_DEAD_PREFIX = "dead_"
# Seconds between two looks at the consumer group while waiting for the writers to catch up.
_IDLE_POLL = 0.01


def dead_letter_key(prefix: str) -> str:
    """The stream that keeps entries no writer could store (``P:history:dead``)."""
    return f"{prefix}:history:dead"


def default_consumer_name() -> str:
    """``host:pid``: unique among the live writers of a group, readable in ``XINFO``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def _parse_id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


def _successor(entry_id: str) -> str:
    millis, seq = _parse_id(entry_id)
    return f"{millis}-{seq + 1}"


def _later(delay: float, maximum: float) -> float:
    return min(delay * 2, maximum)


@dataclass
class WriterStats:
    """Counters of one :class:`StreamHistoryWriter`, for logs, metrics and tests.

    Attributes:
        applied: Events committed to the store and acknowledged.
        claimed: Entries taken over from other consumers' pending lists.
        dead_lettered: Entries moved to the dead-letter stream.
        store_failures: Batches the store could not take (an outage); each was retried.
        trimmed: Acknowledged entries removed from the stream.
    """

    applied: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    store_failures: int = 0
    trimmed: int = 0


Entry: TypeAlias = tuple[str, Mapping[Any, Any]]


class StreamHistoryWriter:
    """Stores the history stream in a :class:`~dagcore.history.store.HistoryStore`.

    Args:
        redis: The client to read with (``socket_timeout`` above ``block_ms``, or none).
        store: Where events go; its ``apply`` must be atomic and idempotent.
        prefix: The key prefix (``settings.celery.key_prefix``).
        group: The consumer group every writer of this history shares.
        consumer: This writer's name in the group; ``host:pid`` by default.
        batch: Most events read and stored in one transaction.
        block_ms: How long a read waits for new entries; 0 does not wait.
        claim_idle_ms: Entries another consumer has left un-acknowledged this long are claimed
            (that consumer is presumed dead; if it was only slow, the batch is stored twice).
        retry_initial: First delay, in seconds, after the store or Redis failed; doubles up to
            ``retry_max``.
        retry_max: Longest delay between retries, in seconds.
        trim_interval: Seconds between trims of acknowledged entries; 0 trims after every
            batch.
        dead_maxlen: About how many entries the dead-letter stream keeps.
    """

    def __init__(
        self,
        redis: RedisClient,
        store: HistoryStore,
        prefix: str = "dagcore",
        group: str = DEFAULT_GROUP,
        consumer: str | None = None,
        batch: int = 500,
        block_ms: int = 1000,
        *,
        claim_idle_ms: int = 60_000,
        linger: float = 0.2,
        retry_initial: float = 0.2,
        retry_max: float = 5.0,
        trim_interval: float = 1.0,
        dead_maxlen: int = 100_000,
    ) -> None:
        if batch < 1 or block_ms < 0 or claim_idle_ms < 0:
            raise ValueError(
                "StreamHistoryWriter needs batch >= 1, block_ms >= 0 and claim_idle_ms >= 0; "
                f"got batch={batch}, block_ms={block_ms}, claim_idle_ms={claim_idle_ms}"
            )
        # Any: types-redis leaves the stream commands untyped.
        self._redis: Any = _bytes_client(redis)
        self._own_client = self._redis is not redis
        self._store = store
        self.stream = history_stream_key(prefix)
        self.dead_stream = dead_letter_key(prefix)
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self._batch = batch
        # After a small batch, wait this long so the next one is bigger: events trickle in
        # a few per task, and one statement per handful of rows costs most of a core.
        self._linger = linger
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        # Scan for abandoned entries a few times per idle period, and never in a tight loop.
        self._claim_every = max(claim_idle_ms / 2000, 0.05)
        self._trim_interval = trim_interval
        self._dead_maxlen = dead_maxlen
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._store_delay = self._redis_delay = retry_initial
        self._store_outage = Outage(f"history store {getattr(store, 'url', store)!s}")
        self._redis_outage = Outage(f"Redis stream {self.stream}")
        # Entries read but not stored yet, in stream order; kept across retries.
        self._held: dict[str, HistoryEvent] = {}
        self._group_ready = False
        # Start with entries a previous writer of the same name left un-acknowledged.
        self._own_pending = True
        self._claim_cursor = "0-0"
        self._claim_due = 0.0
        self._trim_due = 0.0
        # Set when someone waits for the writer to catch up: it stops lingering.
        self._hurry = threading.Event()
        # Counts reads that found nothing new, for wait_idle.
        self._idle = threading.Condition()
        self._idle_rounds = 0
        self.stats = WriterStats()

    @property
    def held(self) -> int:
        """Events read but not stored yet (the store is down)."""
        return len(self._held)

    def run_once(self) -> int:
        """Store one batch: the one held back by a failure, else a claimed or new one.

        Waits up to ``block_ms`` for new entries when there is nothing else to do.

        Returns:
            How many events were committed and acknowledged; 0 when there was nothing to
            store or the store is still unavailable (the batch stays held, un-acknowledged).

        Raises:
            redis.exceptions.RedisError: Redis failed (``run_forever`` retries).
        """
        try:
            self._ensure_group()
            if not self._held:
                entries = self._next_entries()
                for entry_id, event in self._decode(entries):
                    self._held[entry_id] = event
                if not entries:
                    with self._idle:
                        self._idle_rounds += 1
                        self._idle.notify_all()
            stored = self._store_held() if self._held else 0
            if time.monotonic() >= self._trim_due:
                self.trim()
            return stored
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream was deleted (and the group with it): create both again.
            self._group_ready = False
            return 0
        except RedisError:
            # What was read may have been stored without its acknowledgement: read it again.
            self._own_pending = True
            raise

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the writer (running on another thread) has caught up with the stream.

        Returns as soon as the whole group has (:meth:`caught_up`), else once this writer's
        own reads show it.

        Returns:
            ``True`` once every entry added before the call is stored, dead-lettered, or
            pending elsewhere. ``False`` if ``timeout`` seconds passed first (the store may be
            down).
        """
        deadline = time.monotonic() + timeout
        self._hurry.set()  # no more lingering for bigger batches: catch up now
        with self._idle:
            start = self._idle_rounds
        while True:
            with self._idle:
                if self._idle_rounds > start:
                    return True
            with suppress(RedisError):
                if self.caught_up():
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._idle:
                self._idle.wait_for(lambda: self._idle_rounds > start, min(left, _IDLE_POLL))

    def caught_up(self) -> bool:
        """True if the group's writers have read every entry and acknowledged (stored) all."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.xinfo_stream(self.stream)
        pipe.xinfo_groups(self.stream)
        try:
            stream, groups = pipe.execute()
        except ResponseError:
            return False  # no stream (yet): nothing was emitted
        last = _text(stream.get("last-generated-id", b""))
        for group in groups:
            if _text(group.get("name", b"")) == self.group:
                delivered = _text(group.get("last-delivered-id", b""))
                return delivered == last and int(group.get("pending", 0)) == 0
        return False

    def run_forever(self, stop: threading.Event) -> None:
        """Store batches until ``stop`` is set, riding out Redis and database outages."""
        while not stop.is_set():
            try:
                stored = self.run_once()
            except Exception as exc:  # the writer thread must outlive any single failure
                if isinstance(exc, RedisError):
                    self._redis_outage.failed(exc)
                else:
                    logger.exception("history stream writer %s failed; retrying", self.consumer)
                stop.wait(self._redis_delay)
                self._redis_delay = _later(self._redis_delay, self._retry_max)
                continue
            self._redis_outage.recovered()
            self._redis_delay = self._retry_initial
            if self._held:
                stop.wait(self._store_delay)
            elif self._hurry.is_set():
                if not stored:
                    stop.wait(_IDLE_POLL)  # reads do not block any more: do not spin
            elif 0 < stored < self._batch and self._linger and not stop.is_set():
                self._hurry.wait(self._linger)

    def close(self) -> None:
        """Close the Redis client the writer made for itself, if any (not the store)."""
        if self._own_client:
            self._redis.close()

    def start_thread(self, name: str = "dagcore-history-stream") -> WriterThread:
        """Run :meth:`run_forever` on a daemon thread; stop it with the handle's ``stop``."""
        return WriterThread(self, name)

    # Reading.

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # From 0, not $: events emitted before the first writer ever started count too.
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True
        self._own_pending = True

    def _next_entries(self) -> list[Entry]:
        if self._own_pending:
            entries = self._read("0", block=None)
            if entries:
                return entries
            self._own_pending = False
        entries = self._claim()
        if entries:
            return entries
        # Once hurried (someone waits for it to catch up), reads never block, so that a stop
        # right after ends the thread at once.
        block = None if self._hurry.is_set() else self._block_ms or None
        return self._read(">", block=block)

    def _read(self, start: str, block: int | None) -> list[Entry]:
        reply = self._redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self._batch, block=block
        )
        # RESP2 answers [[stream, entries]], RESP3 {stream: [entries]}.
        groups = reply.values() if isinstance(reply, dict) else [e for _, e in reply or ()]
        out: list[Entry] = []
        for entries in groups:
            if entries and isinstance(entries[0], list):
                entries = entries[0]
            out.extend((_text(entry_id), fields or {}) for entry_id, fields in entries or ())
        return out

    def _claim(self) -> list[Entry]:
        now = time.monotonic()
        if self._claim_cursor == "0-0" and now < self._claim_due:
            return []
        reply = self._redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self._claim_idle_ms,
            start_id=self._claim_cursor,
            count=self._batch,
        )
        self._claim_cursor = _text(reply[0])
        if self._claim_cursor == "0-0":
            self._claim_due = now + self._claim_every
        if len(reply) > 2 and reply[2]:
            # Redis drops these from the pending list itself; their events are gone.
            logger.warning(
                "%d pending history entries were deleted from %s before any writer stored "
                "them (is the stream capped with maxlen?)",
                len(reply[2]),
                self.stream,
            )
        entries = [
            (_text(entry_id), fields or {}) for entry_id, fields in reply[1] if entry_id is not None
        ]
        if entries:
            self.stats.claimed += len(entries)
            logger.warning(
                "history writer %s claimed %d entries left pending by another writer",
                self.consumer,
                len(entries),
            )
        return entries

    def _decode(self, entries: list[Entry]) -> list[tuple[str, HistoryEvent]]:
        good: list[tuple[str, HistoryEvent]] = []
        gone: list[str] = []
        for entry_id, fields in entries:
            if not fields:
                # Deleted from the stream while pending: nothing left to store.
                gone.append(entry_id)
                continue
            try:
                event = _decode_fields(fields)
            except Exception as exc:  # decoding is pure: any failure means a bad entry
                self._dead_letter(entry_id, fields, f"cannot decode the history event: {exc}")
                continue
            good.append((entry_id, event))
        if gone:
            logger.warning("%d history entries of %s were deleted unread", len(gone), self.stream)
            self._redis.xack(self.stream, self.group, *gone)
        return good

    # Storing.

    def _store_held(self) -> int:
        try:
            stored = self._apply(list(self._held.items()))
        except (HistoryUnavailableError, OSError) as exc:
            self.stats.store_failures += 1
            self._store_outage.failed(exc)
            self._store_delay = _later(self._store_delay, self._retry_max)
            self._keep_ownership()
            return 0
        self._store_outage.recovered()
        self._store_delay = self._retry_initial
        return stored

    def _apply(self, entries: list[tuple[str, HistoryEvent]]) -> int:
        """Store and then acknowledge ``entries``; a refused event goes to the dead letters."""
        try:
            self._store.apply([event for _, event in entries])
        except (HistoryUnavailableError, OSError):
            raise
        except Exception as exc:
            # Not an outage: some event is refused. Halve the batch until the culprit is
            # alone and set it aside, so one bad event does not hold back the others.
            if len(entries) == 1:
                entry_id, event = entries[0]
                fields = {HISTORY_FIELD: event_to_json(event)}
                self._dead_letter(entry_id, fields, f"the history store refused it: {exc}")
                self._held.pop(entry_id, None)
                return 0
            middle = len(entries) // 2
            return self._apply(entries[:middle]) + self._apply(entries[middle:])
        # Only now, with the transaction committed, may the entries leave the pending list.
        ids = [entry_id for entry_id, _ in entries]
        self._redis.xack(self.stream, self.group, *ids)
        for entry_id in ids:
            self._held.pop(entry_id, None)
        self.stats.applied += len(ids)
        return len(ids)

    def _keep_ownership(self) -> None:
        """Reset the idle time of the held entries so live writers do not claim them."""
        try:
            self._redis.xclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=0,
                message_ids=list(self._held),
                justid=True,
            )
        except RedisError as exc:
            logger.debug("could not refresh held history entries: %s", exc)

    def _dead_letter(self, entry_id: str, fields: Mapping[Any, Any], reason: str) -> None:
        record: dict[str, Any] = {_text(key): value for key, value in fields.items()}
        record.update(
            {
                f"{_DEAD_PREFIX}id": entry_id,
                f"{_DEAD_PREFIX}reason": reason,
                f"{_DEAD_PREFIX}consumer": self.consumer,
                f"{_DEAD_PREFIX}at": datetime.now(UTC).isoformat(),
            }
        )
        # One transaction: the entry is either still pending or safely in the dead letters.
        pipe = self._redis.pipeline(transaction=True)
        pipe.xadd(self.dead_stream, record, maxlen=self._dead_maxlen, approximate=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()
        self.stats.dead_lettered += 1
        logger.error("history entry %s moved to %s: %s", entry_id, self.dead_stream, reason)

    # Housekeeping.

    def trim(self) -> int:
        """Remove the entries every consumer group of the stream has acknowledged.

        Entries still pending in some group, or not yet delivered to it, stay.

        Returns:
            How many entries were removed.
        """
        self._trim_due = time.monotonic() + self._trim_interval
        floor: tuple[int, int] | None = None
        for info in self._redis.xinfo_groups(self.stream):
            # Everything after the last delivered entry is still to be read by this group ...
            group_floor = _parse_id(_successor(_text(info["last-delivered-id"])))
            if int(info["pending"]):
                # ... and so is everything from its oldest pending entry on.
                oldest = self._redis.xpending(self.stream, info["name"])["min"]
                if oldest is not None:
                    group_floor = min(group_floor, _parse_id(_text(oldest)))
            floor = group_floor if floor is None else min(floor, group_floor)
        if floor is None:
            return 0
        removed = int(
            self._redis.xtrim(self.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)
        )
        self.stats.trimmed += removed
        return removed


def _bytes_client(client: RedisClient) -> RedisClient:
    """A client like ``client`` whose replies stay bytes.

    A client that decodes replies fails the whole read on one entry that is not UTF-8, which
    would block the stream forever; with bytes such an entry is just dead-lettered.
    """
    if not client.connection_pool.connection_kwargs.get("decode_responses"):
        return client
    return clone_client(client, decode_responses=False)


def _decode_fields(fields: Mapping[Any, Any]) -> HistoryEvent:
    raw = fields.get(HISTORY_FIELD.encode(), fields.get(HISTORY_FIELD))
    if raw is None:
        names = ", ".join(sorted(_text(key) for key in fields))
        raise HistoryError(f"the entry has no {HISTORY_FIELD!r} field (fields: {names})")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    return event_from_json(text)


class WriterThread:
    """A :class:`StreamHistoryWriter` running on a daemon thread."""

    def __init__(self, writer: StreamHistoryWriter, name: str) -> None:
        self.writer = writer
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=writer.run_forever, args=(self._stop,), name=name, daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = 15.0, *, drain: float = 0.0) -> bool:
        """Ask the writer to stop after its current step and wait for it.

        A batch the store has not taken yet stays pending in Redis for another writer.

        Args:
            timeout: Seconds to wait for the thread to end.
            drain: First give the writer up to this many seconds to store what is already in
                the stream (a submitter does, so that its run's history is complete).

        Returns:
            ``True`` if the thread ended within ``timeout`` seconds.
        """
        if drain > 0 and self._thread.is_alive():
            self.writer.wait_idle(drain)
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self.writer.close()
        return True
