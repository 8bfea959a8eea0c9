"""Spill journals: history events kept on local disk while the history database is away.

A :class:`~dagcore.history.writer.HistoryWriter` that cannot reach its database keeps events in
memory up to a bound, then appends the rest to its own journal file, one JSON event per line.
Each live writer holds an exclusive ``flock`` on its file, so :func:`replay_journal` (run at
start-up, or by a writer for files left behind) only touches journals whose writer is gone.
Replaying a journal twice is harmless: the store merges events idempotently.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dagcore.errors import HistoryError
from dagcore.history.events import HistoryEvent, event_from_json, event_to_json
from dagcore.history.store import HistoryStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; journals are then unlocked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "JOURNAL_GLOB",
    "REJECTED_NAME",
    "Journal",
    "journal_files",
    "reject_event",
    "replay_journal",
]

logger = logging.getLogger("dagcore.history")

JOURNAL_GLOB = "history-journal-*.jsonl"
REJECTED_NAME = "history-rejected.jsonl"
REPLAY_BATCH = 500


def _try_lock(handle: IO[Any]) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Journal:
    """One writer's spill file: append at the end, consume from a read offset.

    Not thread-safe by itself; the writer calls it under its own lock.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"history-journal-{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        temporary = final.with_suffix(".tmp")
        self._handle = open(temporary, "a+b")  # held for the writer's life
        # Lock before the file gets a name replayers look for, so none can take it from us.
        _try_lock(self._handle)
        os.replace(temporary, final)
        self.path = final
        self._read_offset = 0
        self._size = 0
        self.pending = 0

    def append(self, events: list[HistoryEvent]) -> None:
        """Write events at the end of the file (flushed to the OS, not fsynced)."""
        data = b"".join(event_to_json(event).encode() + b"\n" for event in events)
        self._handle.seek(0, os.SEEK_END)
        self._handle.write(data)
        self._handle.flush()
        self._size += len(data)
        self.pending += len(events)

    def read(self, limit: int) -> tuple[list[HistoryEvent], int, int]:
        """Return up to ``limit`` unconsumed events, how many lines they took, and the offset
        after them; :meth:`consume` makes that final."""
        self._handle.seek(self._read_offset)
        events: list[HistoryEvent] = []
        lines = 0
        while lines < limit and self._handle.tell() < self._size:
            line = self._handle.readline()
            lines += 1
            try:
                events.append(event_from_json(line))
            except HistoryError as exc:
                logger.error("skipping unreadable line in history journal %s: %s", self.path, exc)
        return events, lines, self._handle.tell()

    def consume(self, lines: int, offset: int) -> None:
        """Mark events up to ``offset`` as stored; empty the file once all are."""
        self._read_offset = offset
        self.pending -= lines
        if self._read_offset >= self._size:
            self._handle.truncate(0)
            self._read_offset = self._size = self.pending = 0

    def close(self) -> None:
        """Release the file: delete it if everything was stored, else leave it for replay."""
        drained = self.pending == 0
        if not drained:
            os.fsync(self._handle.fileno())
        self._handle.close()
        if drained:
            self.path.unlink(missing_ok=True)


def journal_files(path: Path) -> list[Path]:
    """The journal files at ``path``: the file itself, or the journals in a directory."""
    if path.is_dir():
        return sorted(path.glob(JOURNAL_GLOB))
    return [path] if path.exists() else []


def _read_lines(handle: IO[bytes], path: Path) -> Iterator[HistoryEvent]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield event_from_json(line)
        except HistoryError as exc:
            # Typically the last line of a journal whose process died mid-write.
            logger.warning("skipping line %d of history journal %s: %s", number, path, exc)


def replay_journal(store: HistoryStore, path: str | Path) -> int:
    """Store the events of journals left behind by writers that are gone, then delete them.

    Args:
        store: Where to store the events.
        path: One journal file, or a directory (usually ``.dagcore``) whose
            ``history-journal-*.jsonl`` files are replayed. Journals still held by a live
            writer are skipped.

    Returns:
        How many events were stored.

    Raises:
        HistoryUnavailableError: The database went away; the journal being replayed is kept
            (already stored events are merged again, harmlessly, next time).
    """
    total = 0
    for file in journal_files(Path(path)):
        try:
            handle = open(file, "rb")
        except FileNotFoundError:
            continue  # another process replayed it first
        try:
            if not _try_lock(handle):
                continue
            batch: list[HistoryEvent] = []
            for event in _read_lines(handle, file):
                batch.append(event)
                if len(batch) >= REPLAY_BATCH:
                    store.apply(batch)
                    total += len(batch)
                    batch = []
            store.apply(batch)
            total += len(batch)
            file.unlink(missing_ok=True)
            logger.info("replayed history journal %s", file)
        finally:
            handle.close()
    return total


def reject_event(directory: Path, event: object, error: BaseException) -> None:
    """Keep an event the store refused (not an outage) in ``history-rejected.jsonl``."""
    try:
        body: object = event.to_dict() if hasattr(event, "to_dict") else repr(event)
    except Exception:  # the record of a broken event must not fail too
        body = repr(event)
    line = json.dumps({"error": f"{type(error).__name__}: {error}", "event": body}, default=str)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / REJECTED_NAME, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        logger.error("cannot keep rejected history event %s: %s", line, exc)
