"""History through a Redis stream: worker sinks, batching writers, real Redis and databases.

Every test compares what the writers stored with what a direct ``store.apply`` of the same
events produces in a fresh SQLite database (rows of every history table and the answers of the
query API). ``test_database_outage_loses_nothing[30s]`` keeps PostgreSQL down for 30 seconds
and is marked ``slow``; the rest of the file takes well under 30 seconds.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from celery_app.history_stream import (
    DEFAULT_GROUP,
    RedisHistorySink,
    StreamHistoryWriter,
    dead_letter_key,
    history_stream_key,
)
from dagcore.executor.base import HistorySink
from dagcore.history.events import HistoryEvent, event_from_json, event_to_json
from dagcore.history.records import AttemptRecord, Lineage, RunRecord, TaskRunRecord
from dagcore.history.store import SqlHistoryStore
from tests.integration.celery.history_stream_procs import (
    PREFIX,
    emit_events,
    hung_key,
    run_doomed_writer,
    sample_events,
)
from tests.integration.pg_server import PostgresServer
from tests.unit.history.history_samples import at, diamond, dump, run_events

pytestmark = pytest.mark.integration

STREAM = history_stream_key(PREFIX)
DEAD = dead_letter_key(PREFIX)
GROUP = DEFAULT_GROUP.encode()

# types-redis leaves the stream commands untyped, so the tests hold their clients as Any.
Client = Any


@pytest.fixture
def client(redis_url: str) -> Iterator[Client]:
    """A client of the test's Redis that returns bytes."""
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.fixture
def sink(client: Client) -> Iterator[RedisHistorySink]:
    """A worker's sink on the test's Redis."""
    history = RedisHistorySink(client, PREFIX)
    yield history
    history.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh history database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def snapshot(store: SqlHistoryStore) -> dict[str, Any]:
    """Every stored row plus the query API's answers, in an order that does not depend on
    the database's collation."""
    runs = sorted(store.list_runs(limit=100_000), key=lambda run: run.run_id)
    return {
        "rows": {name: sorted(rows, key=repr) for name, rows in dump(store.engine).items()},
        "runs": runs,
        "tasks": {run.run_id: sorted(store.tasks(run.run_id), key=repr) for run in runs},
        "attempts": {run.run_id: sorted(store.attempts(run.run_id), key=repr) for run in runs},
    }


def expected_snapshot(events: Sequence[HistoryEvent], tmp_path: Path) -> dict[str, Any]:
    """The snapshot of a fresh SQLite database after a direct ``apply`` of ``events``."""
    reference = SqlHistoryStore(f"sqlite:///{tmp_path / f'reference-{uuid.uuid4().hex}.db'}")
    try:
        reference.apply(list(events))
        return snapshot(reference)
    finally:
        reference.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting until {what}")
        time.sleep(0.05)


def group_info(client: Client, group: bytes = GROUP) -> dict[str, Any]:
    for info in client.xinfo_groups(STREAM):
        if info["name"] == group:
            return dict(info)
    raise AssertionError(f"no consumer group {group!r} on {STREAM}")


def drained(client: Client) -> bool:
    """Whether the writers' group has read every entry and acknowledged all it read."""
    if not client.exists(STREAM):
        return False
    info = group_info(client)
    last = client.xinfo_stream(STREAM)["last-generated-id"]
    return int(info["pending"]) == 0 and info["last-delivered-id"] == last


def drain(
    writers: Sequence[StreamHistoryWriter],
    client: Client,
    until: Callable[[], bool] | None = None,
    timeout: float = 30,
) -> None:
    """Step the writers until ``until()`` (by default: until the stream is drained)."""
    done = until or (lambda: drained(client))
    deadline = time.monotonic() + timeout
    while True:
        for writer in writers:
            writer.run_once()
        if done():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the writers did not get there in {timeout}s")


def emit_all(sink: RedisHistorySink, events: Sequence[HistoryEvent]) -> None:
    for item in events:
        sink.emit(item)
    assert sink.flush()


def spawn() -> multiprocessing.context.SpawnContext:
    # Not fork: the test process runs writer threads and holds open connections.
    return multiprocessing.get_context("spawn")


def test_events_from_many_processes_arrive_as_a_direct_apply(
    redis_url: str, client: Client, store_url: str, tmp_path: Path
) -> None:
    store = SqlHistoryStore(store_url)
    writers = [
        StreamHistoryWriter(client, store, PREFIX, consumer=f"w{n}", batch=100, block_ms=100)
        for n in range(2)
    ]
    threads = [writer.start_thread() for writer in writers]
    try:
        emitters = [
            spawn().Process(target=emit_events, args=(redis_url, PREFIX, f"p{n}", 500))
            for n in range(4)
        ]
        for process in emitters:
            process.start()
        for process in emitters:
            process.join(60)
            assert process.exitcode == 0
        wait_until(lambda: drained(client), 60, "the writers stored every entry")
        wait_until(lambda: client.xlen(STREAM) == 0, 10, "acknowledged entries are trimmed")
    finally:
        assert all(thread.stop() for thread in threads)
    assert sum(writer.stats.applied for writer in writers) == 4 * 500
    events = [item for n in range(4) for item in sample_events(f"p{n}", 500)]
    assert snapshot(store) == expected_snapshot(events, tmp_path)
    store.close()


def test_stop_with_drain_stores_what_is_in_the_stream(
    client: Client, sink: RedisHistorySink, tmp_path: Path
) -> None:
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
    writer = StreamHistoryWriter(client, store, PREFIX, batch=20, block_ms=200)
    thread = writer.start_thread()
    events = sample_events("drained", 300)
    emit_all(sink, events)
    assert thread.stop(drain=30)
    assert not thread.alive and drained(client)
    assert writer.stats.applied == 300
    assert snapshot(store) == expected_snapshot(events, tmp_path)
    store.close()


def test_writer_killed_mid_batch_loses_nothing(
    redis_url: str, client: Client, sink: RedisHistorySink, store_url: str, tmp_path: Path
) -> None:
    events = sample_events("killed", 300)
    emit_all(sink, events)
    doomed = spawn().Process(target=run_doomed_writer, args=(redis_url, store_url, PREFIX, 50))
    doomed.start()
    try:
        wait_until(lambda: client.exists(hung_key(PREFIX)), 60, "the writer is inside batch 2")
        # Mid-batch: its second batch is read, not acknowledged, and not committed.
        pending = client.xpending(STREAM, GROUP)
        assert pending["pending"] == 50
        assert pending["consumers"] == [{"name": b"doomed", "pending": 50}]
        store = SqlHistoryStore(store_url)
        assert snapshot(store) == expected_snapshot(events[:50], tmp_path)
    finally:
        assert doomed.pid is not None
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.join(10)
    assert doomed.exitcode == -signal.SIGKILL

    rescuer = StreamHistoryWriter(
        client, store, PREFIX, consumer="rescuer", batch=100, block_ms=50, claim_idle_ms=200
    )
    drain([rescuer], client)
    assert rescuer.stats.claimed == 50
    assert rescuer.stats.applied == 300 - 50  # all but the batch the doomed writer committed
    assert snapshot(store) == expected_snapshot(events, tmp_path)
    store.close()


POISON: list[tuple[dict[bytes, bytes], str]] = [
    ({b"e": b"\xff\xfe not utf-8"}, "utf-8"),
    ({b"e": b"{not json"}, "not valid JSON"),
    ({b"e": b'{"kind": "no_such_event"}'}, "unknown history event kind 'no_such_event'"),
    (
        {b"e": json.dumps({"kind": "attempt_started", "run_id": "r1"}).encode()},
        "missing field 'task_id'",
    ),
    ({b"other": b"no event here"}, "no 'e' field"),
]


def test_poison_entries_go_to_the_dead_letter_stream(
    redis_url: str, client: Client, sink: RedisHistorySink, tmp_path: Path
) -> None:
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
    good = sample_events("good", 40)
    poison_ids: list[bytes] = []
    for index, item in enumerate(good):
        sink.emit(item)
        if index % 8 == 3:
            poison_ids.append(client.xadd(STREAM, POISON[len(poison_ids)][0]))
    assert sink.flush() and len(poison_ids) == len(POISON)
    # A client that decodes replies would fail the whole read on the non-UTF-8 entry.
    decoding = redis.Redis.from_url(redis_url, decode_responses=True)
    writer = StreamHistoryWriter(decoding, store, PREFIX, batch=7, block_ms=50, trim_interval=0)
    try:
        drain([writer], client)
    finally:
        writer.close()
        decoding.close()
    assert writer.stats.dead_lettered == len(POISON)
    assert writer.stats.applied == len(good)
    dead = client.xrange(DEAD)
    assert [fields[b"dead_id"] for _, fields in dead] == poison_ids
    for (_, fields), (original, reason) in zip(dead, POISON, strict=True):
        assert {key: fields[key] for key in original} == original
        assert reason in fields[b"dead_reason"].decode()
    assert client.xpending(STREAM, GROUP)["pending"] == 0
    assert client.xlen(STREAM) == 0
    assert snapshot(store) == expected_snapshot(good, tmp_path)
    store.close()


def test_trimming_keeps_what_any_group_still_needs(
    client: Client, sink: RedisHistorySink, tmp_path: Path
) -> None:
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
    writer = StreamHistoryWriter(client, store, PREFIX, batch=30, block_ms=20, trim_interval=0)
    first, second = sample_events("first", 100), sample_events("second", 100)

    emit_all(sink, first)
    drain([writer], client)
    assert client.xlen(STREAM) == 0 and writer.stats.trimmed == 100

    # A consumer that read entries and stalled: they, and everything after them, stay.
    emit_all(sink, second)
    reply = client.xreadgroup(DEFAULT_GROUP, "stalled", {STREAM: ">"}, count=20)
    stalled = [entry_id for entry_id, _ in reply[0][1]]
    last = client.xinfo_stream(STREAM)["last-generated-id"]
    drain([writer], client, until=lambda: group_info(client)["last-delivered-id"] == last)
    assert group_info(client)["pending"] == 20 and writer.stats.applied == 100 + 80
    assert client.xlen(STREAM) == 100
    assert [entry_id for entry_id, _ in client.xrange(STREAM, count=20)] == stalled

    # A second group that has read nothing keeps every entry although ours is done with them.
    client.xgroup_create(STREAM, "audit", id="0")
    rescuer = StreamHistoryWriter(
        client, store, PREFIX, consumer="rescuer", block_ms=20, claim_idle_ms=50, trim_interval=0
    )
    time.sleep(0.1)
    drain([rescuer], client)
    assert rescuer.stats.claimed == 20
    assert rescuer.trim() == 0 and client.xlen(STREAM) == 100

    read = client.xreadgroup("audit", "auditor", {STREAM: ">"}, count=1000)[0][1]
    client.xack(STREAM, "audit", *[entry_id for entry_id, _ in read])
    assert rescuer.trim() == 100 and client.xlen(STREAM) == 0
    assert snapshot(store) == expected_snapshot(first + second, tmp_path)
    store.close()


class RedisServer:
    """A redis-server of the test's own, started late to end a simulated outage."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None, "redis-server must be on PATH"
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port)
        try:

            def answers() -> bool:
                try:
                    return bool(probe.ping())
                except redis.ConnectionError:
                    return False

            wait_until(answers, 20, "redis-server answers")
        finally:
            probe.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def test_sink_keeps_events_while_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(free_port())
    client = redis.Redis(port=server.port, socket_connect_timeout=1)
    sink = RedisHistorySink(client, PREFIX, retry_interval=0)  # retry on every emit
    small = RedisHistorySink(client, PREFIX, buffer_limit=5, retry_interval=0)
    as_sink: HistorySink = sink  # what executors accept
    events = sample_events("down", 30)
    with caplog.at_level(logging.INFO, logger="dagcore.history.stream"):
        for item in events:
            started = time.perf_counter()
            as_sink.emit(item)  # must not raise
            assert time.perf_counter() - started < 0.5
        for item in events[:8]:
            small.emit(item)
        assert sink.pending == 30 and not sink.flush()
        assert small.pending == 5 and small.dropped == 3
        messages = [(record.levelno, record.getMessage()) for record in caplog.records]
        outage_logs = [text for level, text in messages if "unavailable" in text]
        assert len(outage_logs) == 2  # once per sink, not once per retry
        assert [level for level, text in messages if "dropping" in text] == [logging.ERROR]

        server.start()
        try:
            assert sink.flush() and small.flush()
            stored = [event_from_json(fields[b"e"]) for _, fields in client.xrange(STREAM)]
            assert sink.pending == 0 and small.pending == 0
        finally:
            sink.close()
            small.close()
            client.close()
            server.stop()
    assert stored == events + events[3:8]
    assert any("reachable again" in record.getMessage() for record in caplog.records)


class AuditedStore:
    """A real store that checks, at every ``apply``, that each event of the batch is still
    un-acknowledged in the stream: the writer must not acknowledge before the commit."""

    def __init__(self, inner: SqlHistoryStore, client: Client) -> None:
        self.inner = inner
        self.url = inner.url
        self._client = client
        self.violations: list[str] = []
        self.committed = 0

    def _pending_payloads(self) -> set[bytes]:
        pending = self._client.xpending_range(STREAM, GROUP, min="-", max="+", count=100_000)
        pipe = self._client.pipeline(transaction=False)
        for item in pending:
            pipe.xrange(STREAM, item["message_id"], item["message_id"])
        return {entry[0][1][b"e"] for entry in pipe.execute() if entry}

    def apply(self, events: Sequence[HistoryEvent]) -> None:
        pending = self._pending_payloads()
        for item in events:
            if event_to_json(item).encode() not in pending:
                self.violations.append(f"{item!r} was acknowledged before its commit")
        self.inner.apply(events)
        self.committed += len(events)

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        return self.inner.list_runs(limit)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.inner.get_run(run_id)

    def tasks(self, run_id: str) -> list[TaskRunRecord]:
        return self.inner.tasks(run_id)

    def attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        return self.inner.attempts(run_id, task_id)

    def lineage(self, uri: str, max_depth: int = 20) -> Lineage:
        return self.inner.lineage(uri, max_depth)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "outage_seconds",
    [pytest.param(3, id="3s"), pytest.param(30, id="30s", marks=pytest.mark.slow)],
)
def test_database_outage_loses_nothing(
    outage_seconds: int,
    pg_server: PostgresServer,
    client: Client,
    sink: RedisHistorySink,
    tmp_path: Path,
) -> None:
    store = AuditedStore(SqlHistoryStore(pg_server.url), client)
    writer = StreamHistoryWriter(
        client,
        store,
        PREFIX,
        batch=50,
        block_ms=100,
        retry_initial=0.1,
        retry_max=1.0,
        trim_interval=0,
    )
    thread = writer.start_thread()
    before = sample_events("before", 200)
    during: list[HistoryEvent] = []
    try:
        emit_all(sink, before)
        wait_until(lambda: drained(client), 30, "the events before the outage are stored")
        assert store.committed == 200

        pg_server.stop()
        started = time.monotonic()
        while time.monotonic() - started < outage_seconds:
            run = run_events(f"during{len(during):05d}", diamond(), start=at(3600 * len(during)))
            emit_all(sink, run)
            during += run
            time.sleep(0.25)
        wait_until(lambda: writer.stats.store_failures >= 2, 30, "the writer retried")
        # Still down: a batch is held un-acknowledged and every later entry waits in the stream.
        assert 0 < writer.held == int(group_info(client)["pending"])
        assert client.xlen(STREAM) == len(during)
        assert store.committed == 200

        pg_server.start()
        wait_until(lambda: drained(client), 120, "the events of the outage are stored")
    finally:
        assert thread.stop()
    assert store.violations == []
    assert store.committed == len(before) + len(during)
    assert snapshot(store.inner) == expected_snapshot(before + during, tmp_path)
    store.close()
