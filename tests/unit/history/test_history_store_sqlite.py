"""SQLite specifics of the history store (the shared contract lives in tests/integration)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from dagcore.errors import HistoryError
from dagcore.history.events import PlannedTask, TasksPlanned, TaskStatus, TaskStatusChanged
from dagcore.history.store import (
    DEFAULT_HISTORY_URL,
    HistoryUnavailableError,
    SqlHistoryStore,
    history_url,
)
from tests.unit.history.history_samples import T0, at, diamond, run_events


def test_default_url_is_a_file_under_dot_dagcore(monkeypatch: pytest.MonkeyPatch) -> None:
    assert history_url() == DEFAULT_HISTORY_URL == "sqlite:///.dagcore/history.db"
    monkeypatch.setenv("DAGCORE_HISTORY_URL", "sqlite:///elsewhere.db")
    assert history_url() == "sqlite:///elsewhere.db"
    assert history_url("sqlite:///given.db") == "sqlite:///given.db"


def test_default_store_creates_its_directory_on_first_use() -> None:
    # The autouse fixture of tests/conftest.py runs every test in a fresh working directory.
    store = SqlHistoryStore.from_url()
    try:
        assert not Path(".dagcore").exists()  # creating a store does not touch the disk
        store.apply(run_events("r1", diamond()))
        assert Path(".dagcore/history.db").is_file()
        assert [run.run_id for run in store.list_runs()] == ["r1"]
    finally:
        store.close()


def test_in_memory_database_is_shared_between_threads() -> None:
    store = SqlHistoryStore("sqlite://")
    done: list[str] = []

    def write(run_id: str) -> None:
        store.apply(run_events(run_id, diamond()))
        done.append(run_id)

    threads = [threading.Thread(target=write, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(done) == ["r0", "r1", "r2", "r3"]
    assert len(store.list_runs()) == 4


def test_equal_timestamps_resolve_to_the_later_stage() -> None:
    store = SqlHistoryStore("sqlite://")
    plan = TasksPlanned("r", [PlannedTask("A_1", "A", "m")], planned_at=T0)
    running = TaskStatusChanged("r", "A_1", TaskStatus.RUNNING, at(5))
    pending = TaskStatusChanged("r", "A_1", TaskStatus.PENDING, at(5))
    store.apply([plan, running, pending])
    assert store.tasks("r")[0].status is TaskStatus.RUNNING
    store.apply([pending])
    assert store.tasks("r")[0].status is TaskStatus.RUNNING


def test_other_databases_are_refused_with_a_hint() -> None:
    with pytest.raises(HistoryError, match="SQLite .* or PostgreSQL"):
        SqlHistoryStore("mysql://user:secret@host/db")


def test_unreachable_file_is_reported_as_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = SqlHistoryStore(f"sqlite:///{blocker / 'history.db'}")
    with pytest.raises(HistoryUnavailableError, match="unavailable"):
        store.apply(run_events("r1", diamond()))
    # Once the path is usable again the same store recovers.
    blocker.unlink()
    store.apply(run_events("r1", diamond()))
    assert store.get_run("r1") is not None
    store.close()


def test_a_recreated_file_gets_its_schema_again(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    store = SqlHistoryStore(f"sqlite:///{path}")
    store.apply(run_events("r1", diamond()))
    store.close()
    path.unlink()
    with pytest.raises(HistoryUnavailableError):
        store.list_runs()  # the cached "schema is current" is stale: reported, then re-checked
    assert store.list_runs() == []
    store.close()


def test_a_database_from_a_newer_dagcore_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = SqlHistoryStore(url)
    store.migrate()
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    newer = SqlHistoryStore(url)
    with pytest.raises(HistoryError, match="9999, written by a newer dagcore"):
        newer.list_runs()
    newer.close()
