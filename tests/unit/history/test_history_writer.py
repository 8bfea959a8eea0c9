"""The background history writer: batching, outages, spill journals and replay.

The store is a real SQLite store; outages are simulated by :class:`GatedStore`, which stands in
front of it and refuses (or holds) calls while its gate is closed. A real PostgreSQL outage is
exercised in tests/integration/history.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from dagcore.history.events import HistoryEvent, event_to_json
from dagcore.history.records import AttemptRecord, Lineage, RunRecord, TaskRunRecord
from dagcore.history.store import HistoryUnavailableError, SqlHistoryStore
from dagcore.history.writer import HistoryWriter, WriterSettings, replay_journal
from tests.unit.history.history_samples import at, diamond, dump, run_events


class GatedStore:
    """A store whose database can be made unreachable (``down``) or unresponsive (``hang``)."""

    def __init__(self, inner: SqlHistoryStore) -> None:
        self.inner = inner
        self.down = False
        self.released = threading.Event()
        self.released.set()
        self.batches: list[int] = []
        self.entered = threading.Event()

    def apply(self, events: Sequence[HistoryEvent]) -> None:
        self.entered.set()
        self.released.wait(30)
        if self.down:
            raise HistoryUnavailableError("simulated outage")
        self.inner.apply(events)
        self.batches.append(len(events))

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatedStore]:
    gated = GatedStore(SqlHistoryStore(f"sqlite:///{tmp_path / 'history.db'}"))
    yield gated
    gated.close()


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def _settings(
    journal_dir: Path, *, max_batch: int = 500, max_buffer: int = 10_000
) -> WriterSettings:
    # Short retry delays keep the outage tests fast.
    return WriterSettings(
        journal_dir=journal_dir,
        max_batch=max_batch,
        max_buffer=max_buffer,
        linger=0.01,
        retry_initial=0.01,
        retry_max=0.05,
    )


def _events(runs: int = 3) -> list[HistoryEvent]:
    out: list[HistoryEvent] = []
    for index in range(runs):
        out += run_events(f"run{index}", diamond(), start=at(1000 * index))
    return out


def _reference(tmp_path: Path, events: list[HistoryEvent]) -> dict[str, list[tuple[object, ...]]]:
    direct = SqlHistoryStore(f"sqlite:///{tmp_path / 'reference.db'}")
    direct.apply(events)
    rows = dump(direct.engine)
    direct.close()
    return rows


def _journals(directory: Path) -> list[Path]:
    return sorted(directory.glob("history-journal-*.jsonl"))


def test_events_are_stored_in_batches(store: GatedStore, journal_dir: Path, tmp_path: Path) -> None:
    events = _events()
    store.released.clear()  # hold the first call so the rest gathers into batches
    writer = HistoryWriter(store, _settings(journal_dir))
    for event in events:
        writer.emit(event)
    store.released.set()
    assert writer.flush(10)
    assert writer.pending == 0
    assert sum(store.batches) == len(events)
    assert len(store.batches) < len(events) / 4
    assert writer.close()
    assert dump(store.inner.engine) == _reference(tmp_path, events)
    assert _journals(journal_dir) == []


def test_emit_neither_blocks_nor_raises_while_the_store_hangs(
    store: GatedStore, journal_dir: Path
) -> None:
    store.released.clear()
    writer = HistoryWriter(store, _settings(journal_dir, max_buffer=500))
    events = _events(runs=20)
    started = time.monotonic()
    for event in events:
        writer.emit(event)
    writer.emit("not an event")  # type: ignore[arg-type]
    assert time.monotonic() - started < 2.0
    assert not writer.flush(0.1)
    store.released.set()
    assert writer.flush(10)
    assert len(store.list_runs(limit=100)) == 20
    writer.close()
    rejected = (journal_dir / "history-rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 1 and "not an event" in json.loads(rejected[0])["event"]


def test_an_outage_spills_to_the_journal_and_every_row_arrives(
    store: GatedStore, journal_dir: Path, tmp_path: Path
) -> None:
    events = _events(runs=6)
    store.down = True
    writer = HistoryWriter(store, _settings(journal_dir, max_buffer=20, max_batch=10))
    for event in events:
        writer.emit(event)
    (journal,) = _journals(journal_dir)
    assert writer.journal_path == journal
    # Memory holds at most max_buffer events plus one batch in flight; the rest is on disk.
    assert len(journal.read_text().splitlines()) >= len(events) - 20 - 10
    assert not writer.flush(0.2)
    assert writer.pending == len(events)

    store.down = False
    assert writer.flush(20)
    assert dump(store.inner.engine) == _reference(tmp_path, events)
    assert journal.stat().st_size == 0  # drained, kept while the writer lives
    assert writer.close()
    assert not journal.exists()


def test_closing_during_an_outage_leaves_a_journal_for_replay(
    store: GatedStore, journal_dir: Path, tmp_path: Path
) -> None:
    events = _events()
    store.down = True
    writer = HistoryWriter(store, _settings(journal_dir))
    for event in events:
        writer.emit(event)
    assert not writer.close(timeout=0.2)
    (journal,) = _journals(journal_dir)
    assert store.list_runs() == []

    assert replay_journal(store.inner, journal_dir) == len(events)
    assert dump(store.inner.engine) == _reference(tmp_path, events)
    assert _journals(journal_dir) == []
    assert replay_journal(store.inner, journal_dir) == 0


def test_a_new_writer_replays_journals_left_behind(
    store: GatedStore, journal_dir: Path, tmp_path: Path
) -> None:
    events = _events()
    store.down = True
    first = HistoryWriter(store, _settings(journal_dir))
    for event in events[:10]:
        first.emit(event)
    first.close(timeout=0.1)
    store.down = False

    second = HistoryWriter(store, _settings(journal_dir))
    for event in events[10:]:
        second.emit(event)
    assert second.flush(10)
    deadline = time.monotonic() + 10
    while _journals(journal_dir) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert second.close()
    assert _journals(journal_dir) == []
    assert dump(store.inner.engine) == _reference(tmp_path, events)


def test_replay_skips_the_journal_of_a_live_writer(store: GatedStore, journal_dir: Path) -> None:
    store.down = True
    writer = HistoryWriter(store, _settings(journal_dir, max_buffer=1))
    for event in _events(runs=1):
        writer.emit(event)
    (journal,) = _journals(journal_dir)
    assert replay_journal(store.inner, journal_dir) == 0
    assert journal.exists()
    store.down = False
    assert writer.flush(10)
    assert writer.close()


def test_replay_tolerates_a_torn_last_line(store: GatedStore, journal_dir: Path) -> None:
    events = _events(runs=1)
    journal_dir.mkdir()
    path = journal_dir / "history-journal-1-dead.jsonl"
    lines = [event_to_json(event) for event in events]
    path.write_text("\n".join(lines) + "\n" + lines[0][:17])
    assert replay_journal(store.inner, path) == len(events)
    assert not path.exists()
    assert [run.run_id for run in store.list_runs()] == ["run0"]


def test_events_after_close_are_journaled(store: GatedStore, journal_dir: Path) -> None:
    writer = HistoryWriter(store, _settings(journal_dir))
    assert writer.flush(1)
    assert writer.close()
    assert writer.close()  # idempotent
    events = _events(runs=1)
    for event in events:
        writer.emit(event)
    assert replay_journal(store.inner, journal_dir) == len(events)
    assert store.get_run("run0") is not None


def test_closing_while_the_store_hangs_keeps_the_batch_in_flight(
    store: GatedStore, journal_dir: Path, tmp_path: Path
) -> None:
    events = _events()
    store.released.clear()
    writer = HistoryWriter(store, _settings(journal_dir))
    for event in events:
        writer.emit(event)
    assert store.entered.wait(10)  # a batch is now stuck inside the store
    started = time.monotonic()
    assert not writer.close(timeout=0.2)
    assert time.monotonic() - started < 3
    store.released.set()  # the stuck call completes late; storing twice is harmless
    assert replay_journal(store.inner, journal_dir) == len(events)
    assert dump(store.inner.engine) == _reference(tmp_path, events)


def test_a_forked_child_journals_instead_of_using_the_parent_thread(
    store: GatedStore, journal_dir: Path
) -> None:
    # No replay of orphan journals: the parent's thread could otherwise pick up the child's
    # journal (an orphan once the child exited) before the checks below.
    writer = HistoryWriter(store, replace(_settings(journal_dir), replay_orphans=False))
    events = _events(runs=1)
    pid = os.fork()
    if pid == 0:  # the child: emit, then leave without running any test machinery
        try:
            for event in events:
                writer.emit(event)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert writer.close()
    assert store.list_runs() == []
    assert replay_journal(store.inner, journal_dir) == len(events)
    assert [run.run_id for run in store.list_runs()] == ["run0"]
