"""Runs nobody can close any more: the reaper closes them in history, with the reason.

A Celery run closes itself (its last settle, a cancel, or its submitter), but only while Redis
holds its bookkeeping. When the submitter died before the run reached Redis, or Redis lost the
run (flushed, evicted, restarted without persistence), no worker will ever settle it and its
history row would say RUNNING forever. The reaper looks at the recent Celery runs the history
still has as RUNNING; one started more than :data:`GRACE_SECONDS` ago that Redis does not know is
closed as FAILED with that reason.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery_app.joins import RunStore
from dagcore.history.events import RunFinished, RunStatus, utcnow
from dagcore.history.store import HistoryStore

__all__ = ["GRACE_SECONDS", "VANISHED_REASON", "close_vanished_runs"]

logger = logging.getLogger("dagcore.reaper")

GRACE_SECONDS = 300.0
"""How long after its start a run may be missing from Redis (its submission under way)."""

VANISHED_REASON = (
    "closed by the reaper: the run is not in Redis (its submitter died before submitting it, "
    "or Redis lost it: flushed, evicted or restarted without persistence)"
)

# How many recent runs one pass looks at.
_RECENT = 200


def close_vanished_runs(
    store: RunStore, history: HistoryStore, exit_code: int, grace: float = GRACE_SECONDS
) -> list[str]:
    """Close the recent RUNNING Celery runs that Redis does not know; returns their ids."""
    cutoff = utcnow() - timedelta(seconds=grace)
    closed: list[str] = []
    for run in history.list_runs(_RECENT):
        if run.status is not RunStatus.RUNNING or run.executor != "celery":
            continue
        if run.started_at is None or run.started_at > cutoff:
            continue
        if store.run_status(run.run_id):
            continue
        history.apply(
            [RunFinished(run.run_id, utcnow(), RunStatus.FAILED, exit_code, VANISHED_REASON)]
        )
        logger.warning("reaper: run %s %s", run.run_id, VANISHED_REASON)
        closed.append(run.run_id)
    return closed
