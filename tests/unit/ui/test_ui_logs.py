"""An attempt's log is shown when the history holds one, by the shape of its table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dagcore.history.store import SqlHistoryStore
from dagcore.ui.logs import attempt_log


def test_no_log_table_means_no_log(tmp_path: Path) -> None:
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    assert attempt_log(store.engine, "r", "t", 1) is None
    store.close()


def test_log_chunks_of_an_attempt_are_joined_in_order(tmp_path: Path) -> None:
    store = SqlHistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.migrate()
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE attempt_logs (run_id VARCHAR(64), task_id TEXT, attempt INTEGER,"
                " seq INTEGER, content TEXT, PRIMARY KEY (run_id, task_id, attempt, seq))"
            )
        )
        connection.execute(
            text("INSERT INTO attempt_logs VALUES (:r, :t, :a, :s, :c)"),
            [
                {"r": "r", "t": "t", "a": 1, "s": 2, "c": "second\n"},
                {"r": "r", "t": "t", "a": 1, "s": 1, "c": "first\n"},
                {"r": "r", "t": "t", "a": 2, "s": 1, "c": "other attempt\n"},
            ],
        )
    assert attempt_log(store.engine, "r", "t", 1) == "first\nsecond\n"
    assert attempt_log(store.engine, "r", "t", 3) is None
    store.close()
