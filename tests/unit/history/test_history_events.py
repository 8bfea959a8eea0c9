"""History events: immutability, UTC timestamps and the JSON wire format."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dagcore.errors import HistoryError
from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    PlannedTask,
    RunFinished,
    RunStarted,
    RunStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
    event_from_dict,
    event_from_json,
    event_to_json,
)
from tests.unit.history.history_samples import T0, diamond, run_events

PARIS = timezone(timedelta(hours=2))


def test_every_kind_survives_a_json_round_trip() -> None:
    events = run_events("r1", diamond())
    events.append(
        AttemptFinished(
            "r1",
            "D_1",
            2,
            T0,
            AttemptStatus.LOST,
            status_message="worker vanished",
            progress=42.5,
            tracking_url="http://tracker/1",
        )
    )
    kinds = set()
    for event in events:
        wire = json.loads(json.dumps(event.to_dict()))
        kinds.add(wire["kind"])
        assert event_from_dict(wire) == event
        assert event_from_json(event_to_json(event)) == event
    assert kinds == {
        "run_started",
        "tasks_planned",
        "task_status_changed",
        "attempt_started",
        "attempt_finished",
        "run_finished",
    }


def test_wire_format_uses_iso_strings_and_plain_values() -> None:
    event = TasksPlanned(
        "r1",
        [PlannedTask("A_1", "A", "pkg.mod", {"date": "2024-01-01"}, "cpu", 3, {"db": 1})],
        planned_at=datetime(2024, 5, 1, 14, 0, tzinfo=PARIS),
    )
    wire = event.to_dict()
    assert wire == {
        "kind": "tasks_planned",
        "run_id": "r1",
        "planned_at": "2024-05-01T12:00:00+00:00",
        "tasks": [
            {
                "task_id": "A_1",
                "family": "A",
                "module": "pkg.mod",
                "params": {"date": "2024-01-01"},
                "queue": "cpu",
                "priority": 3,
                "resources": {"db": 1},
                "status": "PENDING",
                "deps": [],
            }
        ],
    }
    assert type(wire["tasks"][0]["status"]) is str


def test_timestamps_are_normalised_to_utc() -> None:
    event = TaskStatusChanged("r", "t", TaskStatus.RUNNING, datetime(2024, 1, 1, 2, tzinfo=PARIS))
    assert event.at.tzinfo is not None and event.at.utcoffset() == timedelta(0)
    assert event.at.hour == 0


@pytest.mark.parametrize(
    "build",
    [
        lambda when: RunStarted("r", when, "u", "h", "c", [], "local"),
        lambda when: TaskStatusChanged("r", "t", TaskStatus.RUNNING, when),
        lambda when: RunFinished("r", when, RunStatus.SUCCESS, 0),
    ],
)
def test_naive_timestamps_are_refused(build: Any) -> None:
    with pytest.raises(HistoryError, match="naive datetime"):
        build(datetime(2024, 1, 1))


def test_events_are_frozen_and_hashable_with_sequences_as_tuples() -> None:
    event = AttemptFinished("r", "t", 1, T0, AttemptStatus.SUCCESS, reads=["a"], writes=["b"])
    assert event.reads == ("a",) and event.writes == ("b",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.status = AttemptStatus.FAILED  # type: ignore[misc]
    planned = TasksPlanned("r", [PlannedTask("t", "T", "m", {"x": "1"})], planned_at=T0)
    assert isinstance(planned.tasks, tuple)
    assert len({event, planned, event}) == 2


def test_statuses_are_str_enums() -> None:
    event = TaskStatusChanged("r", "t", "FAILED", T0)  # type: ignore[arg-type]
    assert event.status is TaskStatus.FAILED and event.status == "FAILED"
    assert TaskStatus.SUCCESS.is_terminal and not TaskStatus.RETRY_WAIT.is_terminal
    assert TaskStatus.RUNNING.rank > TaskStatus.PENDING.rank


def test_attempt_rules() -> None:
    with pytest.raises(HistoryError, match="attempt numbers start at 1"):
        AttemptStarted("r", "t", 0, "h", "w", None, T0)
    with pytest.raises(HistoryError, match="final status"):
        AttemptFinished("r", "t", 1, T0, AttemptStatus.RUNNING)


def test_decoding_reports_what_is_wrong() -> None:
    good = TaskStatusChanged("r", "t", TaskStatus.RUNNING, T0).to_dict()
    with pytest.raises(HistoryError, match="unknown history event kind 'nope'"):
        event_from_dict({**good, "kind": "nope"})
    missing = {k: v for k, v in good.items() if k != "task_id"}
    with pytest.raises(HistoryError, match="missing field 'task_id'"):
        event_from_dict(missing)
    with pytest.raises(HistoryError, match="'status' should be one of PENDING"):
        event_from_dict({**good, "status": "WEIRD"})
    with pytest.raises(HistoryError, match="ISO 8601"):
        event_from_dict({**good, "at": "yesterday"})
    with pytest.raises(HistoryError, match="naive datetime"):
        event_from_dict({**good, "at": "2024-01-01T00:00:00"})
    with pytest.raises(HistoryError, match="not valid JSON"):
        event_from_json("{")
    with pytest.raises(HistoryError, match="an object"):
        event_from_json("[1]")


def test_unknown_extra_fields_are_ignored() -> None:
    event = RunFinished("r", T0, RunStatus.FAILED, 1, "summary")
    wire = {**event.to_dict(), "added_by_a_newer_worker": True}
    assert event_from_dict(wire) == event
