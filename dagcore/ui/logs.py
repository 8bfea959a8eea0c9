"""An attempt's log, when the history records one.

Per-attempt logs are optional in the history schema, so the UI looks for them by shape rather
than importing a model: a ``log`` text column of ``attempts``, or a table named ``*log*`` keyed
by ``run_id``, ``task_id`` and ``attempt`` with one text column (several rows of one attempt,
such as chunks, are joined in key order). With neither, an attempt has no recorded log.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

from sqlalchemy import Engine, MetaData, String, Table, inspect, select

__all__ = ["attempt_log"]

_KEY = ("run_id", "task_id", "attempt")
_TEXT_NAMES = ("log", "text", "content", "body", "data", "chunk", "line", "message")


@dataclass(frozen=True)
class _LogSource:
    table: Table
    column: str


def _text_column(table: Table) -> str | None:
    candidates = [
        column.name
        for column in table.columns
        if column.name not in _KEY and isinstance(column.type, String)
    ]
    for name in _TEXT_NAMES:
        for candidate in candidates:
            if candidate == name or candidate.endswith("_" + name):
                return candidate
    return candidates[0] if len(candidates) == 1 else None


# Found sources per engine; a miss is looked for again a minute later (a newer dagcore may
# migrate the database while the UI runs).
_FOUND: weakref.WeakKeyDictionary[Engine, _LogSource] = weakref.WeakKeyDictionary()
_MISSED: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_RETRY_SECONDS = 60.0


def _source(engine: Engine) -> _LogSource | None:
    key = engine
    if key in _FOUND:
        return _FOUND[key]
    if time.monotonic() - _MISSED.get(key, -_RETRY_SECONDS) < _RETRY_SECONDS:
        return None
    found = _find_source(engine)
    if found is None:
        _MISSED[key] = time.monotonic()
    else:
        _FOUND[key] = found
    return found


def _find_source(engine: Engine) -> _LogSource | None:
    names = inspect(engine).get_table_names()
    metadata = MetaData()
    if "attempts" in names:
        attempts = Table("attempts", metadata, autoload_with=engine)
        if "log" in attempts.columns:
            return _LogSource(attempts, "log")
    for name in sorted(names):
        if "log" not in name:
            continue
        table = Table(name, metadata, autoload_with=engine)
        column = _text_column(table)
        if column is not None and all(key in table.columns for key in _KEY):
            return _LogSource(table, column)
    return None


def attempt_log(engine: Engine, run_id: str, task_id: str, attempt: int) -> str | None:
    """The text logged by one attempt, or ``None`` when none was recorded."""
    source = _source(engine)
    if source is None:
        return None
    table = source.table
    order = [column for column in table.primary_key.columns if column.name not in _KEY]
    query = (
        select(table.c[source.column])
        .where(table.c.run_id == run_id, table.c.task_id == task_id, table.c.attempt == attempt)
        .order_by(*order)
    )
    with engine.connect() as connection:
        parts = [part for part in connection.scalars(query) if part]
    if not parts:
        return None
    joiner = "" if len(parts) == 1 or all(part.endswith("\n") for part in parts) else "\n"
    return joiner.join(parts)
