"""Luigi's client of a central scheduler server, which dagcore does not have.

``luigi.rpc.RemoteScheduler`` talks HTTP to ``luigid``. dagcore has no central scheduler:
runs are resolved and executed by the submitting process (``executor = "local"``) or by a
Celery fleet (``executor = "celery"``), and ``dagcore status`` / ``dagcore ui`` show what runs.
The names are importable so Luigi code that mentions them loads; using them raises an error that
says what to do instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

from dagcore.errors import DagcoreError

__all__ = ["HAS_REQUESTS", "RPCError", "RemoteScheduler", "URLLibFetcher"]

HAS_REQUESTS = False

_ADVICE = (
    "dagcore has no central scheduler server (luigid); drop --scheduler-host / "
    "RemoteScheduler and run with the local executor (the default) or with "
    '--executor celery (or [core] executor = "celery") to run on a Celery fleet'
)


class RPCError(DagcoreError):
    """Raised by the central-scheduler client; ``sub_exception`` as in Luigi."""

    def __init__(self, message: str, sub_exception: BaseException | None = None) -> None:
        super().__init__(message)
        self.sub_exception = sub_exception


def _refuse(what: str) -> NoReturn:
    raise RPCError(f"{what}: {_ADVICE}")


class RemoteScheduler:
    """Stands where Luigi's HTTP scheduler client stands; every use raises :class:`RPCError`."""

    def __init__(self, url: str = "http://localhost:8082/", connect_timeout: float | None = None):
        self._url = url
        self._connect_timeout = connect_timeout
        _refuse(f"RemoteScheduler({url!r})")

    def __getattr__(self, name: str) -> Any:
        _refuse(f"RemoteScheduler.{name}")


class URLLibFetcher:
    """Luigi's HTTP fetcher; dagcore has no server to fetch from."""

    raises = (RPCError,)

    def fetch(self, full_url: str, body: Any, timeout: float | None) -> NoReturn:
        _refuse(f"fetching {full_url}")
