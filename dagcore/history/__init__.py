"""Run history: events, the SQL store, the background writer and CLI rendering.

Executors describe what happens as :mod:`~dagcore.history.events`; a
:class:`~dagcore.history.writer.HistoryWriter` (in process) or the Celery stream writer hands
them in batches to a :class:`~dagcore.history.store.HistoryStore`, which merges them
idempotently into SQL tables and answers queries with :mod:`~dagcore.history.records`.
"""

from __future__ import annotations

from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    HistoryEvent,
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
from dagcore.history.records import (
    AttemptRecord,
    Lineage,
    LineageStep,
    Producer,
    RunRecord,
    TaskRunRecord,
)
from dagcore.history.store import (
    DEFAULT_HISTORY_URL,
    HistoryStore,
    HistoryUnavailableError,
    SqlHistoryStore,
    history_url,
)
from dagcore.history.writer import HistoryWriter, WriterSettings, replay_journal

__all__ = [
    "DEFAULT_HISTORY_URL",
    "AttemptFinished",
    "AttemptRecord",
    "AttemptStarted",
    "AttemptStatus",
    "HistoryEvent",
    "HistoryStore",
    "HistoryUnavailableError",
    "HistoryWriter",
    "Lineage",
    "LineageStep",
    "PlannedTask",
    "Producer",
    "RunFinished",
    "RunRecord",
    "RunStarted",
    "RunStatus",
    "SqlHistoryStore",
    "TaskRunRecord",
    "TaskStatus",
    "TaskStatusChanged",
    "TasksPlanned",
    "WriterSettings",
    "event_from_dict",
    "event_from_json",
    "event_to_json",
    "history_url",
    "replay_journal",
]
