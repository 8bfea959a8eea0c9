"""The in-process history writer: a run never waits for, or fails because of, its history.

``emit`` only appends to an in-memory queue (or, past a bound, to a local journal file) and
returns; a background thread gathers events into batches and hands them to the store. While the
database is down the thread retries with exponential backoff; events keep accumulating in
memory up to ``max_buffer`` and then in the journal, so nothing is lost and memory stays
bounded. Events stay in order (memory first, then the journal), which is what lets ``flush``
know when everything emitted before it has been stored.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from dagcore.history.events import HistoryEvent
from dagcore.history.journal import Journal, journal_files, reject_event, replay_journal
from dagcore.history.store import HistoryStore, HistoryUnavailableError

__all__ = ["HistoryWriter", "WriterSettings", "replay_journal"]

logger = logging.getLogger("dagcore.history")


@dataclass(frozen=True)
class WriterSettings:
    """Tuning of a :class:`HistoryWriter`.

    Attributes:
        journal_dir: Where spill journals (and refused events) go; made absolute when the
            writer starts, so a task changing directory does not move it.
        max_batch: Most events stored in one transaction.
        max_buffer: Events held in memory while the database is unreachable before new ones
            go to the journal.
        linger: Seconds to wait for more events before storing a small batch.
        retry_initial: First delay after a failed store, in seconds; doubles each time.
        retry_max: Longest delay between retries, in seconds.
        replay_orphans: Store journals left in ``journal_dir`` by writers that died.
        exit_timeout: Seconds spent draining at interpreter exit when ``close`` was not called.
    """

    journal_dir: Path = Path(".dagcore")
    max_batch: int = 500
    max_buffer: int = 10_000
    linger: float = 0.05
    retry_initial: float = 0.25
    retry_max: float = 10.0
    replay_orphans: bool = True
    exit_timeout: float = 2.0


class HistoryWriter:
    """Batches history events into a store from a background thread.

    Args:
        store: Where events go (usually a :class:`~dagcore.history.store.SqlHistoryStore`).
        settings: Buffering and retry tuning.
    """

    def __init__(self, store: HistoryStore, settings: WriterSettings | None = None) -> None:
        self._store = store
        self._settings = settings or WriterSettings()
        self._dir = self._settings.journal_dir.expanduser().resolve()
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._buffer: deque[HistoryEvent] = deque()
        self._journal: Journal | None = None
        self._inflight: list[HistoryEvent] = []
        self._inflight_from_journal = False
        self._taken_lines = 0
        self._taken_offset = 0
        self._emitted = 0
        self._done = 0
        self._urgent = 0
        self._stopping = False
        self._abort = False
        self._closed = False
        self._finished = False
        self._down_since_warned = False
        self._thread = threading.Thread(target=self._main, name="dagcore-history", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    @property
    def journal_path(self) -> Path | None:
        """This writer's spill journal, if it has had to open one."""
        journal = self._journal
        return journal.path if journal is not None else None

    @property
    def pending(self) -> int:
        """Events emitted but not yet stored."""
        with self._cond:
            return self._emitted - self._done

    def emit(self, event: HistoryEvent) -> None:
        """Queue an event for storage. Never raises and never waits for the database."""
        try:
            if os.getpid() != self._pid:
                # A forked child has a copy of this writer but not its thread, and the lock may
                # have been copied while held: journal the event without touching either.
                self._spill_late(event)
                return
            with self._cond:
                self._emitted += 1
                if self._closed:
                    self._spill_late(event)
                    return
                spilling = self._journal is not None and self._journal.pending > 0
                if (spilling or len(self._buffer) >= self._settings.max_buffer) and self._spill(
                    [event]
                ):
                    self._cond.notify_all()
                    return
                self._buffer.append(event)
                self._cond.notify_all()
        except Exception:  # a history problem must never break the run that emits
            logger.exception("could not queue history event %r", event)

    def _spill(self, events: list[HistoryEvent]) -> bool:
        """Append to the journal (caller holds the lock); False if the disk refuses too."""
        if not events:
            return True
        try:
            if self._journal is None:
                self._journal = Journal(self._dir)
                logger.warning(
                    "history database unreachable for a while; spilling events to %s",
                    self._journal.path,
                )
            self._journal.append(events)
        except Exception:
            # Keep the events in memory rather than lose them.
            logger.exception("cannot write history journal in %s", self._dir)
            return False
        return True

    def _spill_late(self, event: HistoryEvent) -> None:
        # Nothing will store it in this process: leave it, unlocked, for the next replay.
        logger.warning("history event emitted after the writer closed (or in a forked child)")
        journal = Journal(self._dir)
        try:
            journal.append([event])
        finally:
            journal.close()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event emitted before this call is stored.

        Returns:
            ``True`` if they all were, ``False`` if ``timeout`` seconds passed first (they stay
            queued and keep being retried).
        """
        with self._cond:
            target = self._emitted
            self._urgent += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(
                    lambda: self._done >= target or self._finished, timeout
                ) and (self._done >= target)
            finally:
                self._urgent -= 1

    def close(self, timeout: float = 10.0) -> bool:
        """Store what is queued, waiting at most ``timeout`` seconds, then stop.

        Whatever could not be stored in time is written to the journal, which
        :func:`replay_journal` (or the next writer) stores later. Calling ``close`` again does
        nothing.

        Returns:
            ``True`` if every event was stored.
        """
        with self._cond:
            if self._closed:
                return self._emitted == self._done
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._abort = True
            self._cond.notify_all()
        # The thread may be inside a store call that takes a while to fail; do not wait for it.
        self._thread.join(0.5)
        with self._cond:
            self._closed = True
            leftover = (list(self._inflight) if not self._inflight_from_journal else []) + list(
                self._buffer
            )
            self._buffer.clear()
            if leftover and not self._spill(leftover):
                logger.error(
                    "lost %d history events: database and journal unavailable", len(leftover)
                )
            stored = self._emitted == self._done
            if self._journal is not None:
                if self._journal.pending:
                    logger.warning(
                        "%d history events kept in %s; they are stored at the next start",
                        self._journal.pending,
                        self._journal.path,
                    )
                self._journal.close()
        atexit.unregister(self._at_exit)
        return stored

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        self.close(self._settings.exit_timeout)

    # The rest runs on the background thread.

    def _main(self) -> None:
        try:
            if self._settings.replay_orphans:
                self._replay_orphans()
            while True:
                try:
                    if not self._step():
                        return
                except Exception:  # keep the thread alive whatever a store does
                    logger.exception("history writer error; retrying")
                    if not self._pause(self._settings.retry_max):
                        return
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()  # flush() callers stop waiting for a finished thread

    def _replay_orphans(self) -> None:
        delay = self._settings.retry_initial
        while True:
            try:
                for file in journal_files(self._dir):
                    replay_journal(self._store, file)
                return
            except HistoryUnavailableError as exc:
                self._note_outage(exc)
            except Exception:
                logger.exception("could not replay history journals in %s", self._dir)
                return
            if not self._pause(delay):
                return
            delay = min(delay * 2, self._settings.retry_max)

    def _step(self) -> bool:
        """Store one batch; ``False`` once the writer is stopping and nothing is left."""
        batch = self._take()
        if batch is None:
            return False
        if not self._deliver(batch):
            return False
        with self._cond:
            if self._closed:
                # close() gave up waiting and already journaled what was in flight.
                return False
            if self._inflight_from_journal and self._journal is not None:
                self._journal.consume(self._taken_lines, self._taken_offset)
                self._done += self._taken_lines
            else:
                self._done += len(batch)
            self._inflight = []
            self._cond.notify_all()
        return True

    def _take(self) -> list[HistoryEvent] | None:
        settings = self._settings
        with self._cond:
            while True:
                if self._abort:
                    return None
                if self._buffer:
                    if len(self._buffer) < settings.max_batch and not (
                        self._urgent or self._stopping
                    ):
                        # Give a burst of events a moment to arrive as one batch.
                        self._cond.wait(settings.linger)
                    count = min(len(self._buffer), settings.max_batch)
                    self._inflight = [self._buffer.popleft() for _ in range(count)]
                    self._inflight_from_journal = False
                    return self._inflight
                if self._journal is not None and self._journal.pending:
                    events, lines, offset = self._journal.read(settings.max_batch)
                    self._taken_lines, self._taken_offset = lines, offset
                    self._inflight = events
                    self._inflight_from_journal = True
                    return events
                if self._stopping:
                    return None
                self._cond.wait()

    def _deliver(self, batch: list[HistoryEvent]) -> bool:
        """Store ``batch``, retrying through outages; ``False`` if aborted first."""
        delay = self._settings.retry_initial
        while True:
            try:
                self._store.apply(batch)
            except (HistoryUnavailableError, OSError) as exc:
                self._note_outage(exc)
            except Exception as exc:
                # Not an outage: some event is refused. Halve the batch until the culprit is
                # alone, keep it aside, and store the rest.
                if len(batch) == 1:
                    logger.error("history store refused %r: %s", batch[0], exc)
                    reject_event(self._dir, batch[0], exc)
                    return True
                middle = len(batch) // 2
                return self._deliver(batch[:middle]) and self._deliver(batch[middle:])
            else:
                self._note_recovery()
                return True
            if not self._pause(delay):
                return False
            delay = min(delay * 2, self._settings.retry_max)

    def _pause(self, seconds: float) -> bool:
        with self._cond:
            return not self._cond.wait_for(lambda: self._abort, seconds)

    def _note_outage(self, exc: Exception) -> None:
        if not self._down_since_warned:
            self._down_since_warned = True
            logger.warning("history store unavailable, keeping events and retrying: %s", exc)

    def _note_recovery(self) -> None:
        if self._down_since_warned:
            self._down_since_warned = False
            logger.warning("history store reachable again; catching up")
