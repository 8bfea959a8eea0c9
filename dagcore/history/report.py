"""Rendering of history query results for the CLI, as text tables or JSON.

Pure functions from the records in :mod:`dagcore.history.records` to strings; the CLI decides
where they go. Times are shown in UTC; JSON carries ISO 8601 timestamps.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any

from dagcore.history.events import TaskStatus
from dagcore.history.records import AttemptRecord, Lineage, LineageStep, RunRecord, TaskRunRecord

__all__ = [
    "format_duration",
    "format_lineage",
    "format_run",
    "format_runs",
    "lineage_to_json",
    "record_to_dict",
    "run_to_json",
    "runs_to_json",
]

# The run id is a 32-character hex string; this many characters identify it in practice and
# `dagcore history --run` accepts the prefix.
SHORT_ID = 12
_OK = (TaskStatus.SUCCESS.value, TaskStatus.DONE.value)
_BAD = (TaskStatus.FAILED.value, TaskStatus.UPSTREAM_FAILED.value)


def format_duration(value: timedelta | None) -> str:
    """Render a duration compactly: ``0.52s``, ``3m 07s``, ``2h 05m 00s``; ``-`` if unknown."""
    if value is None:
        return "-"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _task_progress(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    done = sum(counts.get(status, 0) for status in _OK)
    failed = sum(counts.get(status, 0) for status in _BAD)
    text = f"{done}/{total}"
    return f"{text} ({failed} failed)" if failed else text


def format_runs(runs: Sequence[RunRecord]) -> str:
    """The table printed by ``dagcore history``: one line per run, newest first."""
    if not runs:
        return "No runs recorded yet."
    rows = [
        [
            run.run_id[:SHORT_ID],
            _time(run.started_at),
            format_duration(run.duration),
            run.status.value,
            _task_progress(run.task_counts),
            run.executor or "-",
            f"{run.user}@{run.host}" if run.user or run.host else "-",
            ", ".join(run.root_tasks) or "-",
        ]
        for run in runs
    ]
    headers = ["RUN", "STARTED (UTC)", "DURATION", "STATUS", "TASKS", "EXECUTOR", "BY", "ROOTS"]
    return "\n".join(_table(headers, rows))


def _indent(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in text.rstrip("\n").splitlines()]


def _run_header(run: RunRecord) -> list[str]:
    exit_code = "-" if run.exit_code is None else str(run.exit_code)
    return [
        f"Run {run.run_id}: {run.status.value} (exit code {exit_code})",
        f"  command:   {run.command or '-'}",
        f"  by:        {run.user or '-'}@{run.host or '-'} with the {run.executor or '?'} executor",
        f"  started:   {_time(run.started_at)} UTC",
        f"  finished:  {_time(run.finished_at)} UTC ({format_duration(run.duration)})",
        f"  roots:     {', '.join(run.root_tasks) or '-'}",
    ]


def _attempt_lines(attempts: Sequence[AttemptRecord]) -> list[str]:
    rows = [
        [
            attempt.task_id,
            str(attempt.attempt),
            attempt.status.value,
            attempt.host or "-",
            attempt.worker or "-",
            _time(attempt.started_at),
            format_duration(attempt.duration),
            attempt.error_type or "",
        ]
        for attempt in attempts
    ]
    headers = ["TASK", "#", "STATUS", "HOST", "WORKER", "STARTED (UTC)", "DURATION", "ERROR"]
    lines = [f"Attempts ({len(attempts)}):", *_indent("\n".join(_table(headers, rows)), "  ")]
    for attempt in attempts:
        if attempt.error_type is None and attempt.traceback is None:
            continue
        lines.append("")
        lines.append(f"  {attempt.task_id} attempt {attempt.attempt} ({attempt.status.value}):")
        lines.append(f"    {attempt.error_type or 'Error'}: {attempt.error_message or ''}".rstrip())
        if attempt.traceback:
            lines.extend(_indent(attempt.traceback, "      "))
    return lines


def format_run(
    run: RunRecord, tasks: Sequence[TaskRunRecord], attempts: Sequence[AttemptRecord]
) -> str:
    """The report printed by ``dagcore history --run ID``: the run, its tasks, its attempts."""
    lines = _run_header(run)
    task_rows = [
        [
            task.status.value,
            str(task.attempts),
            format_duration(task.duration),
            task.queue or "-",
            task.task_id,
        ]
        for task in tasks
    ]
    lines += ["", f"Tasks ({len(tasks)}):"]
    headers = ["STATUS", "ATTEMPTS", "DURATION", "QUEUE", "TASK"]
    lines += _indent("\n".join(_table(headers, task_rows)), "  ")
    if attempts:
        lines += ["", *_attempt_lines(attempts)]
    if run.summary:
        lines += ["", "Summary:", *_indent(run.summary, "  ")]
    return "\n".join(lines)


def _producer_line(step: LineageStep) -> str:
    producer = step.producer
    if producer is None:
        return "<- no recorded producer (source data)"
    return (
        f"<- {producer.task_id} (run {producer.run_id[:SHORT_ID]}, attempt {producer.attempt}, "
        f"{producer.status.value}, finished {_time(producer.finished_at)} UTC)"
    )


def format_lineage(lineage: Lineage) -> str:
    """The tree printed by ``dagcore lineage URI``: each target, who wrote it, what it read.

    A target reached twice (shared inputs) is expanded the first time only.
    """
    by_uri = {step.uri: step for step in lineage.steps}
    lines: list[str] = []
    shown: set[str] = set()
    # Depth-first with an explicit stack, so a long chain cannot hit the recursion limit.
    stack: list[tuple[str, int]] = [(lineage.uri, 0)]
    while stack:
        uri, level = stack.pop()
        pad = "    " * level
        step = by_uri.get(uri)
        if step is None:
            lines.append(f"{pad}{uri}  (not traced: depth limit)")
            continue
        if uri in shown:
            lines.append(f"{pad}{uri}  (see above)")
            continue
        shown.add(uri)
        lines.append(f"{pad}{uri}")
        lines.append(f"{pad}  {_producer_line(step)}")
        stack.extend((item, level + 1) for item in reversed(step.inputs))
    if lineage.truncated:
        lines.append("(lineage truncated; raise the depth limit to see further upstream)")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return record_to_dict(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def record_to_dict(record: Any) -> dict[str, Any]:
    """A query record as a JSON-ready dict (ISO timestamps, plain strings for statuses).

    Records with a ``duration`` also get ``duration_seconds``.
    """
    out = {item.name: _jsonable(getattr(record, item.name)) for item in fields(record)}
    if hasattr(record, "duration"):
        duration = record.duration
        out["duration_seconds"] = None if duration is None else duration.total_seconds()
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2)


def runs_to_json(runs: Sequence[RunRecord]) -> str:
    """``dagcore history --json``: a JSON list of runs."""
    return _dumps([record_to_dict(run) for run in runs])


def run_to_json(
    run: RunRecord, tasks: Sequence[TaskRunRecord], attempts: Sequence[AttemptRecord]
) -> str:
    """``dagcore history --run ID --json``: ``{"run": ..., "tasks": [...], "attempts": [...]}``."""
    return _dumps(
        {
            "run": record_to_dict(run),
            "tasks": [record_to_dict(task) for task in tasks],
            "attempts": [record_to_dict(attempt) for attempt in attempts],
        }
    )


def lineage_to_json(lineage: Lineage) -> str:
    """``dagcore lineage URI --json``: ``{"uri": ..., "truncated": ..., "steps": [...]}``."""
    return _dumps(record_to_dict(lineage))
