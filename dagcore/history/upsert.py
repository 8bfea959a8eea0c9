"""The upsert statements that merge a batch of history rows into the tables.

There is one statement per table, built once per dialect and reused for every batch, and one
row per primary key per batch (the events of a batch are folded in Python first, see
:mod:`dagcore.history.merge`). Because a row may carry only some of what a table holds (the end
of an attempt but not its start), each statement's ``DO UPDATE`` works out from the incoming row
itself which groups of columns it brings:

- a group guarded by a timestamp is present when that timestamp is set (``started_at`` for a
  run's or an attempt's start, ``finished_at`` for its end, ``created_at`` for a task's plan),
  and then overwrites the stored group;
- a task's status, ``status_at`` and ``finished_at`` are replaced only by a status with a later
  ``status_at`` (ties go to the later stage of the life cycle), so a replayed ``PENDING``
  cannot undo a ``SUCCESS``;
- counters keep the largest value and start times the earliest;
- lineage rows and plan edges are inserted once and never updated.

Every rule is idempotent, commutative and associative, so applying rows in any order, any
number of times, folded or not, gives the same table. Both SQLite (3.24+) and PostgreSQL
support this ``ON CONFLICT`` form.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, Table, and_, case, func, literal_column, or_
from sqlalchemy.dialects import postgresql, sqlite

from dagcore.errors import HistoryError
from dagcore.history.events import TaskStatus
from dagcore.history.models import Attempt, Run, TargetIO, TaskEdge, TaskRun

__all__ = [
    "ATTEMPTS",
    "RUNS",
    "TABLE_ORDER",
    "TARGET_IO",
    "TASK_EDGES",
    "TASK_RUNS",
    "upsert_statement",
]

RUNS: Table = Run.__table__  # type: ignore[assignment]
TASK_RUNS: Table = TaskRun.__table__  # type: ignore[assignment]
ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
TARGET_IO: Table = TargetIO.__table__  # type: ignore[assignment]
TASK_EDGES: Table = TaskEdge.__table__  # type: ignore[assignment]

# Every writer touches the tables in this order (and the rows of each in key order), so two
# transactions never wait for each other's rows in a cycle: no deadlocks on PostgreSQL.
TABLE_ORDER: tuple[Table, ...] = (RUNS, TASK_RUNS, ATTEMPTS, TARGET_IO, TASK_EDGES)

# What each kind of event writes, and the timestamp that says a folded row carries it: a row
# sets ``started_at`` only if it holds a RunStarted, and so on. Each group overwrites. These
# must match what :mod:`dagcore.history.merge` folds from each event.
_RUN_STARTED_FIELDS = (
    "executor",
    "username",
    "host",
    "command",
    "root_tasks",
    "params",
    "started_at",
)
_RUN_FINISHED_FIELDS = ("status", "finished_at", "exit_code", "summary")
_ATTEMPT_STARTED_FIELDS = ("host", "worker", "celery_id", "started_at")
_ATTEMPT_FINISHED_FIELDS = (
    "status",
    "finished_at",
    "error_type",
    "error_message",
    "traceback",
    "status_message",
    "progress",
    "tracking_url",
)
# A task's plan; ``created_at`` (the planning time) is set only by TasksPlanned and keeps the
# earliest value instead of being overwritten.
_PLANNED_FIELDS = ("family", "module", "params", "resources", "queue", "priority")

_Cols = Any  # a column collection: the target table's or the statement's ``excluded``


def _group(
    cur: _Cols, new: _Cols, guard: str, names: Sequence[str]
) -> dict[str, ColumnElement[Any]]:
    """Overwrite ``names`` when the incoming row sets its ``guard`` timestamp."""
    present = getattr(new, guard).is_not(None)
    return {name: case((present, getattr(new, name)), else_=getattr(cur, name)) for name in names}


def _earliest(cur: _Cols, new: _Cols, name: str) -> ColumnElement[Any]:
    current, incoming = getattr(cur, name), getattr(new, name)
    take = or_(current.is_(None), and_(incoming.is_not(None), incoming < current))
    return case((take, incoming), else_=current)


# The statuses in life-cycle order between bars; where a status's name is found in it grows with
# its rank, and an unknown status is not found at all (0, below every known one).
_STATUS_LADDER = "|" + "|".join(m.value for m in sorted(TaskStatus, key=lambda m: m.rank)) + "|"
# The same function under each dialect's name: position of a substring, 1-based, 0 if absent.
_FIND = {"postgresql": func.strpos, "sqlite": func.instr}


def _rank(dialect: str, status: ColumnElement[Any]) -> ColumnElement[Any]:
    # A position in a constant string rather than a CASE over the statuses: half the text,
    # which keeps the task statement under the 4 kB up to which psycopg caches its parsed
    # query (the statement holds this six times). Inlined literals, not bound parameters, so
    # that an executemany does not send them with every row.
    bar = literal_column("'|'", String)
    return _FIND[dialect](literal_column(f"'{_STATUS_LADDER}'", String), bar + status + bar)


def _status(cur: _Cols, new: _Cols, dialect: str) -> dict[str, ColumnElement[Any]]:
    """Keep the status with the latest ``status_at``, then the later stage of the life cycle."""
    later = or_(
        new.status_at > cur.status_at,
        and_(
            new.status_at == cur.status_at,
            _rank(dialect, new.status) > _rank(dialect, cur.status),
        ),
    )
    wins = and_(new.status_at.is_not(None), or_(cur.status_at.is_(None), later))
    return {
        name: case((wins, getattr(new, name)), else_=getattr(cur, name))
        for name in ("status", "status_at", "finished_at")
    }


def _set_run(cur: _Cols, new: _Cols, dialect: str) -> Mapping[str, ColumnElement[Any]]:
    return {
        **_group(cur, new, "started_at", _RUN_STARTED_FIELDS),
        **_group(cur, new, "finished_at", _RUN_FINISHED_FIELDS),
    }


def _set_task(cur: _Cols, new: _Cols, dialect: str) -> Mapping[str, ColumnElement[Any]]:
    values = _group(cur, new, "created_at", _PLANNED_FIELDS)
    values["created_at"] = _earliest(cur, new, "created_at")
    values["started_at"] = _earliest(cur, new, "started_at")
    values["attempts"] = case((new.attempts > cur.attempts, new.attempts), else_=cur.attempts)
    values.update(_status(cur, new, dialect))
    return values


def _set_attempt(cur: _Cols, new: _Cols, dialect: str) -> Mapping[str, ColumnElement[Any]]:
    return {
        **_group(cur, new, "started_at", _ATTEMPT_STARTED_FIELDS),
        **_group(cur, new, "finished_at", _ATTEMPT_FINISHED_FIELDS),
    }


_TABLES = {table.name: table for table in TABLE_ORDER}
_SETTERS = {RUNS.name: _set_run, TASK_RUNS.name: _set_task, ATTEMPTS.name: _set_attempt}


@functools.cache
def upsert_statement(dialect: str, table_name: str) -> Any:
    """Return the cached merge statement for ``table_name`` on ``dialect``.

    Raises:
        HistoryError: The dialect is neither SQLite nor PostgreSQL.
    """
    table = _TABLES[table_name]
    if dialect == "postgresql":
        insert: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise HistoryError(f"history store does not support the {dialect!r} database")
    keys = [column.name for column in table.primary_key.columns]
    setter = _SETTERS.get(table_name)
    if setter is None:
        return insert.on_conflict_do_nothing(index_elements=keys)
    values = setter(table.c, insert.excluded, dialect)
    return insert.on_conflict_do_update(index_elements=keys, set_=dict(values))
