"""Child-process entry points for the history stream tests (importable by ``spawn``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from sqlalchemy import event

from celery_app.history_stream import RedisHistorySink, StreamHistoryWriter
from dagcore.history.events import HistoryEvent
from dagcore.history.store import SqlHistoryStore
from tests.unit.history.history_samples import at, diamond, run_events

PREFIX = "dagcore"


def hung_key(prefix: str) -> str:
    """Set by the doomed writer once it is stuck inside a transaction."""
    return f"{prefix}:test:writer-hung"


def sample_events(tag: str, count: int) -> list[HistoryEvent]:
    """``count`` events of consecutive diamond runs named after ``tag`` (the last may be cut)."""
    events: list[HistoryEvent] = []
    index = 0
    while len(events) < count:
        events += run_events(f"{tag}-run{index:03d}", diamond(), start=at(3600 * index))
        index += 1
    return events[:count]


def emit_events(redis_url: str, prefix: str, tag: str, count: int) -> None:
    """Emit ``sample_events(tag, count)`` through a sink, as one worker process would."""
    client = redis.Redis.from_url(redis_url)
    try:
        sink = RedisHistorySink(client, prefix)
        for item in sample_events(tag, count):
            sink.emit(item)
        if not sink.flush():
            raise SystemExit(f"{sink.pending} events were left unsent")
        sink.close()
    finally:
        client.close()


def run_doomed_writer(redis_url: str, store_url: str, prefix: str, batch: int) -> None:
    """Run a writer that commits one batch, then hangs inside the next transaction.

    The hang sits in SQLAlchemy's ``commit`` hook, after every row of the batch was written and
    before the database commit, so a SIGKILL there kills the writer truly mid-batch.
    """
    client = redis.Redis.from_url(redis_url)
    store = SqlHistoryStore(store_url)
    store.migrate()  # its own commit must not count as a batch
    commits = 0

    def on_commit(_connection: Any) -> None:
        nonlocal commits
        commits += 1
        if commits > 1:
            client.set(hung_key(prefix), "1")
            time.sleep(3600)

    event.listen(store.engine, "commit", on_commit)
    writer = StreamHistoryWriter(
        client, store, prefix, consumer="doomed", batch=batch, block_ms=100
    )
    writer.run_forever(threading.Event())
