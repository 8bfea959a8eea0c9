"""Text and JSON rendering of history query results for the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from dagcore.history.events import RunStatus
from dagcore.history.records import RunRecord
from dagcore.history.report import (
    format_duration,
    format_lineage,
    format_run,
    format_runs,
    lineage_to_json,
    record_to_dict,
    run_to_json,
    runs_to_json,
)
from dagcore.history.store import SqlHistoryStore
from tests.unit.history.history_samples import T0, Spec, at, diamond, run_events

RUN_A = "3fa85f6457174562b3fc2c963f66afa6"
RUN_B = "7c9e66794ad04f8a9c5d4e1f2a3b4c5d"


@pytest.fixture
def store() -> Iterator[SqlHistoryStore]:
    opened = SqlHistoryStore("sqlite://")
    opened.apply(run_events(RUN_A, diamond()))
    opened.apply(run_events(RUN_B, [Spec("A_1"), Spec("B_1", succeed=False)], start=at(7200)))
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.5, "0.50s"), (59.994, "59.99s"), (61, "1m 01s"), (3600 * 2 + 5 * 60, "2h 05m 00s")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert format_duration(None) == "-"


def test_runs_table(store: SqlHistoryStore) -> None:
    assert format_runs([]) == "No runs recorded yet."
    lines = format_runs(store.list_runs()).splitlines()
    assert lines[0].split() == [
        "RUN",
        "STARTED",
        "(UTC)",
        "DURATION",
        "STATUS",
        "TASKS",
        "EXECUTOR",
        "BY",
        "ROOTS",
    ]
    newest, oldest = lines[1], lines[2]
    assert newest.startswith(RUN_B[:12] + " ") and RUN_B[12:] not in newest
    assert "FAILED" in newest and "1/2 (1 failed)" in newest and "2024-05-01 14:00:00" in newest
    assert oldest.startswith(RUN_A[:12]) and "SUCCESS" in oldest and "4/4" in oldest
    assert "alice@host-a" in oldest and oldest.rstrip().endswith("D_1")
    # Columns line up: every row has its status where the header has STATUS.
    column = lines[0].index("STATUS")
    assert newest[column:].startswith("FAILED") and oldest[column:].startswith("SUCCESS")


def test_runs_json(store: SqlHistoryStore) -> None:
    data = json.loads(runs_to_json(store.list_runs()))
    assert [run["run_id"] for run in data] == [RUN_B, RUN_A]
    first = data[1]
    assert datetime.fromisoformat(first["started_at"]) == T0
    assert first["status"] == "SUCCESS" and first["root_tasks"] == ["D_1"]
    assert first["duration_seconds"] == pytest.approx(
        (datetime.fromisoformat(first["finished_at"]) - T0).total_seconds()
    )


def test_run_report_lists_tasks_attempts_errors_and_summary(store: SqlHistoryStore) -> None:
    run = store.get_run(RUN_A[:6])
    assert run is not None
    text = format_run(run, store.tasks(run.run_id), store.attempts(run.run_id))
    assert text.startswith(f"Run {RUN_A}: SUCCESS (exit code 0)")
    assert "dagcore run --module examples.sample D" in text
    assert "Tasks (4):" in text and "Attempts (5):" in text
    task_line = next(line for line in text.splitlines() if line.rstrip().endswith("C_1"))
    assert task_line.split()[:3] == ["SUCCESS", "2", "3.00s"]
    assert "C_1 attempt 1 (FAILED):" in text
    assert "    ValueError: bad input in C_1" in text
    assert '        File "x.py"' in text
    assert text.rstrip().endswith("Scheduled tasks: all done")


def test_run_json(store: SqlHistoryStore) -> None:
    run = store.get_run(RUN_B)
    assert run is not None
    data = json.loads(run_to_json(run, store.tasks(RUN_B), store.attempts(RUN_B)))
    assert data["run"]["exit_code"] == 1
    assert {task["task_id"]: task["status"] for task in data["tasks"]} == {
        "A_1": "SUCCESS",
        "B_1": "FAILED",
    }
    assert data["attempts"][1]["error_message"] == "bad input in B_1"
    assert data["tasks"][0]["params"] == {} and data["tasks"][0]["resources"] == {"cpu": 1}


def test_lineage_text_shows_shared_inputs_once(store: SqlHistoryStore) -> None:
    text = format_lineage(store.lineage("mem://d"))
    lines = text.splitlines()
    assert lines[0] == "mem://d"
    assert lines[1].startswith(f"  <- D_1 (run {RUN_A[:12]}, attempt 1, SUCCESS, finished ")
    assert lines[2] == "    mem://b"
    assert [line.strip() for line in lines].count("mem://a") == 1
    assert "        mem://a  (see above)" in lines
    assert "<- no recorded producer (source data)" in text
    assert "truncated" not in text
    short = format_lineage(store.lineage("mem://d", max_depth=1))
    assert "mem://a  (not traced: depth limit)" in short
    assert short.endswith("(lineage truncated; raise the depth limit to see further upstream)")


def test_lineage_json(store: SqlHistoryStore) -> None:
    data = json.loads(lineage_to_json(store.lineage("mem://d")))
    assert data["uri"] == "mem://d" and data["truncated"] is False
    steps = {step["uri"]: step for step in data["steps"]}
    assert steps["mem://d"]["inputs"] == ["mem://b", "mem://c"]
    assert steps["mem://d"]["producer"]["task_id"] == "D_1"
    assert steps["mem://src"]["producer"] is None
    finished = datetime.fromisoformat(steps["mem://c"]["producer"]["finished_at"])
    assert finished.utcoffset() == timedelta(0)


def test_record_to_dict_of_a_run_without_a_start() -> None:
    record = RunRecord(
        run_id="r",
        status=RunStatus.RUNNING,
        executor="",
        user="",
        host="",
        command="",
        root_tasks=(),
        params={},
        started_at=None,
        finished_at=T0,
        exit_code=None,
        summary="",
        task_counts={},
    )
    data = record_to_dict(record)
    assert data["started_at"] is None and data["duration_seconds"] is None
    assert data["finished_at"] == T0.isoformat()
    assert "No runs" not in format_runs([record]) and " - " in format_runs([record])
