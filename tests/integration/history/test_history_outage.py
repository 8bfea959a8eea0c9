"""A real PostgreSQL outage: history emitted while the server is down must all arrive.

The test starts its own PostgreSQL server (initdb + pg_ctl on a free port) so it can stop and
restart it. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (through ``runuser``). pytest-postgresql's ``postgresql_proc`` is not
used for that reason: it would start the server as the current user.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from dagcore.history.events import HistoryEvent
from dagcore.history.store import HistoryUnavailableError, SqlHistoryStore
from dagcore.history.writer import HistoryWriter, WriterSettings
from tests.integration.pg_server import PostgresServer
from tests.unit.history.history_samples import at, diamond, dump, run_events

pytestmark = pytest.mark.integration


def _sorted_rows(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    # Collations differ between databases; compare the row sets, not their order.
    return {name: sorted(rows, key=repr) for name, rows in dump(engine).items()}


@pytest.mark.timeout(240)
def test_every_row_emitted_during_an_outage_arrives(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    store = SqlHistoryStore(pg_server.url)
    settings = WriterSettings(
        journal_dir=tmp_path / "journal",
        max_batch=20,
        max_buffer=40,
        linger=0.01,
        retry_initial=0.05,
        retry_max=0.5,
    )
    writer = HistoryWriter(store, settings)
    emitted: list[HistoryEvent] = []

    def emit(events: list[HistoryEvent]) -> float:
        slowest = 0.0
        for event in events:
            started = time.perf_counter()
            writer.emit(event)
            slowest = max(slowest, time.perf_counter() - started)
            emitted.append(event)
        return slowest

    emit(run_events("before", diamond()))
    assert writer.flush(30)

    pg_server.stop()
    with pytest.raises(HistoryUnavailableError):
        store.list_runs()
    slowest = 0.0
    outage_started = time.monotonic()
    for index in range(10):
        slowest = max(slowest, emit(run_events(f"during{index}", diamond(), start=at(60 * index))))
        time.sleep(0.3)
    assert time.monotonic() - outage_started >= 3
    assert slowest < 0.2, f"emit took {slowest:.3f}s while the database was down"
    assert not writer.flush(0.5)
    journal = writer.journal_path
    assert journal is not None and journal.stat().st_size > 0

    pg_server.start()
    assert writer.flush(60), f"{writer.pending} events still pending after the restart"
    emit(run_events("after", diamond(), start=at(3600)))
    assert writer.close(30)
    assert not journal.exists()

    reference = SqlHistoryStore(f"sqlite:///{tmp_path / 'reference.db'}")
    reference.apply(emitted)
    expected = _sorted_rows(reference.engine)
    reference.close()
    stored = _sorted_rows(store.engine)
    assert {name: len(rows) for name, rows in stored.items()} == {
        "runs": 12,
        "task_runs": 48,
        "attempts": 60,
        "target_io": 12 * 10,
    }
    assert stored == expected
    runs = store.list_runs(limit=100)
    assert all(run.status == "SUCCESS" and run.task_counts == {"SUCCESS": 4} for run in runs)
    store.close()
