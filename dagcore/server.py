"""Luigi's central scheduler server (``luigid``), which dagcore does not have.

Importable so Luigi code and scripts that mention it load; starting it raises an error that
says what dagcore offers instead (``dagcore ui`` for a web view of runs, the Celery executor for
a shared fleet).
"""

from __future__ import annotations

from typing import Any, NoReturn

from dagcore.rpc import RPCError

__all__ = ["run", "stop"]

_ADVICE = (
    "dagcore has no central scheduler server (luigid): runs are scheduled by the process that "
    "submits them; use `dagcore ui` to watch runs and --executor celery to share a fleet"
)


def run(*args: Any, **kwargs: Any) -> NoReturn:
    """Luigi's ``luigi.server.run``: refused with what to use instead."""
    raise RPCError(f"luigi.server.run: {_ADVICE}")


def stop() -> NoReturn:
    raise RPCError(f"luigi.server.stop: {_ADVICE}")
