"""Folding a batch of history events into one row per key (no database)."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest

from dagcore.errors import HistoryError
from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    HistoryEvent,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.merge import fold_events
from dagcore.history.upsert import TABLE_ORDER
from tests.unit.history.history_samples import T0, at, diamond, run_events


def _keyed(table: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    names = [column.name for column in table.primary_key.columns]
    return [tuple(row[name] for name in names) for row in rows]


def test_rows_come_one_per_key_in_table_then_key_order() -> None:
    events = run_events("r2", diamond()) + run_events("r1", diamond(), start=at(60))
    shuffled = random.Random(5).sample(events, len(events))
    folded = fold_events(shuffled + shuffled[:9])

    tables = list(folded.sorted_rows())
    assert [table for table, _ in tables] == list(TABLE_ORDER)
    for table, rows in tables:
        keys = _keyed(table, rows)
        assert keys == sorted(set(keys)), table.name
    sizes = {table.name: len(rows) for table, rows in tables}
    attempts = {
        (e.run_id, e.task_id, e.attempt)
        for e in events
        if isinstance(e, (AttemptStarted, AttemptFinished))
    }
    io = {
        (e.run_id, e.task_id, e.attempt, direction, uri)
        for e in events
        if isinstance(e, AttemptFinished)
        for direction, uris in (("read", e.reads), ("write", e.writes))
        for uri in uris
    }
    tasks = {(e.run_id, t.task_id) for e in events if isinstance(e, TasksPlanned) for t in e.tasks}
    edges = {
        (e.run_id, t.task_id, dep)
        for e in events
        if isinstance(e, TasksPlanned)
        for t in e.tasks
        for dep in t.deps
    }
    assert sizes == {
        "runs": 2,
        "task_runs": len(tasks),
        "attempts": len(attempts),
        "target_io": len(io),
        "task_edges": len(edges),
    }
    assert len(attempts) == 10  # C_1 of each run is attempted twice


def test_folded_rows_merge_every_event_of_their_key() -> None:
    events: list[HistoryEvent] = [
        AttemptFinished("r", "A_1", 1, at(5), AttemptStatus.FAILED, error_type="E"),
        TaskStatusChanged("r", "A_1", TaskStatus.FAILED, at(5)),
        TaskStatusChanged("r", "A_1", TaskStatus.RUNNING, at(1)),
        AttemptStarted("r", "A_1", 1, "h", "w", "c", at(1)),
        AttemptStarted("r", "A_1", 2, "h", "w", None, at(6)),
        # Same instant as FAILED, later in the life cycle: it wins the tie.
        TaskStatusChanged("r", "A_1", TaskStatus.UPSTREAM_FAILED, at(5)),
        TaskStatusChanged("r", "A_1", TaskStatus.PENDING, at(5)),
    ]
    folded = fold_events(events)

    task = folded.tasks[("r", "A_1")]
    assert (task["status"], task["status_at"], task["finished_at"]) == (
        TaskStatus.UPSTREAM_FAILED.value,
        at(5),
        at(5),
    )
    assert (task["attempts"], task["started_at"], task["created_at"]) == (2, at(1), None)
    assert (task["family"], task["params"]) == ("", {})  # placeholder until the plan arrives
    first = folded.attempts[("r", "A_1", 1)]
    assert (first["host"], first["status"], first["error_type"]) == ("h", "FAILED", "E")
    second = folded.attempts[("r", "A_1", 2)]
    assert (second["status"], second["finished_at"]) == (AttemptStatus.RUNNING.value, None)
    assert folded.runs == {}


def test_a_later_status_replaces_an_earlier_terminal_one() -> None:
    folded = fold_events(
        [
            TaskStatusChanged("r", "A_1", TaskStatus.SUCCESS, at(3)),
            TaskStatusChanged("r", "A_1", TaskStatus.PENDING, at(10)),
        ]
    )
    task = folded.tasks[("r", "A_1")]
    assert (task["status"], task["status_at"], task["finished_at"]) == ("PENDING", at(10), None)


def test_something_that_is_not_an_event_is_refused() -> None:
    batch = cast(list[HistoryEvent], [TaskStatusChanged("r", "A_1", TaskStatus.READY, T0), "x"])
    with pytest.raises(HistoryError, match="cannot store str: not a history event"):
        fold_events(batch)
