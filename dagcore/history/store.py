"""The history store: where history events are merged and queried.

:class:`HistoryStore` is the small protocol the executors, the Redis-stream writer and the CLI
depend on; :class:`SqlHistoryStore` implements it on SQLite (the embedded default) and
PostgreSQL. The schema is brought to the latest Alembic revision automatically the first time a
store is used, under a lock, so several processes may open a fresh database at once.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from dagcore.errors import HistoryError
from dagcore.history.events import HistoryEvent
from dagcore.history.lineage import walk_lineage
from dagcore.history.merge import apply_events
from dagcore.history.models import Attempt, Run, TargetIO, TaskRun
from dagcore.history.records import (
    AttemptRecord,
    Lineage,
    RunRecord,
    TaskRunRecord,
)
from dagcore.history.rows import attempt_record, run_record, task_record

__all__ = [
    "DEFAULT_HISTORY_URL",
    "HISTORY_URL_ENV",
    "HistoryStore",
    "HistoryUnavailableError",
    "SqlHistoryStore",
    "history_url",
]

DEFAULT_HISTORY_URL = "sqlite:///.dagcore/history.db"
HISTORY_URL_ENV = "DAGCORE_HISTORY_URL"

_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises migrations ("dagc" in ASCII).
_MIGRATION_LOCK_KEY = 0x64616763
_SQLITE_BEGIN_OPTION = "dagcore_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
# How long SQLite waits for another process's write lock before reporting "database is locked".
_SQLITE_BUSY_SECONDS = 30.0
_PG_CONNECT_TIMEOUT_SECONDS = 10


class HistoryUnavailableError(HistoryError):
    """The history database cannot be reached or is busy; the operation may succeed later."""


class HistoryStore(Protocol):
    """What the executors, writers and CLI need from a history backend."""

    def apply(self, events: Sequence[HistoryEvent]) -> None:
        """Merge a batch of events atomically and idempotently."""
        ...

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """Return the most recent runs, newest first."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return a run by id or unique id prefix, or ``None``."""
        ...

    def tasks(self, run_id: str) -> list[TaskRunRecord]:
        """Return the tasks of a run."""
        ...

    def attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        """Return the attempts of a run, or of one of its tasks."""
        ...

    def lineage(self, uri: str, max_depth: int = 20) -> Lineage:
        """Return where a target came from, transitively."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def history_url(url: str | None = None) -> str:
    """Resolve the history database URL: the argument, then ``DAGCORE_HISTORY_URL``, then
    the default SQLite file under ``.dagcore/`` in the working directory."""
    return url or os.environ.get(HISTORY_URL_ENV) or DEFAULT_HISTORY_URL


@functools.cache
def _head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(_alembic_config()).get_heads())


@functools.cache
def _known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(_alembic_config())
    return frozenset(rev.revision for rev in script.walk_revisions())


def _alembic_config(connection: Connection | None = None) -> Config:
    # Built in code so that users never need an alembic.ini.
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _sqlite_is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _use_wal(dbapi_connection: Any) -> None:
    """Switch a SQLite file to WAL, which lets `dagcore history` read while a run writes."""
    cursor = dbapi_connection.cursor()
    try:
        # WAL is a property of the file: once set, later connections only read the mode.
        if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        deadline = time.monotonic() + _SQLITE_BUSY_SECONDS
        while True:
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                # Changing the mode needs a moment alone with the file; SQLite may report
                # "locked" without waiting when other processes open it at the same time.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        cursor.close()


def _sqlite_engine(url: URL) -> Engine:
    memory = _sqlite_is_memory(url)
    if memory:
        # One shared connection, or every checkout would see a new empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(
            url, connect_args={"timeout": _SQLITE_BUSY_SECONDS, "check_same_thread": False}
        )

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (which does not wrap DDL in
        # transactions) and issue BEGIN ourselves in on_begin.
        dbapi_connection.isolation_level = None
        if not memory:
            _use_wal(dbapi_connection)

    def on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in _SQLITE_BEGIN_MODES:
            raise HistoryError(f"invalid SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    return engine


_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def normalize_url(url: URL) -> URL:
    """``postgres://`` and ``postgresql://`` (the forms Heroku, libpq and most services give)
    name the psycopg 3 driver that dagcore installs; other URLs are returned as they are."""
    driver = url.drivername
    if driver in ("postgres", "postgresql"):
        return url.set(drivername="postgresql+psycopg")
    if driver.startswith("postgres+"):
        return url.set(drivername="postgresql+" + driver.partition("+")[2])
    return url


def _make_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            # Fail fast when the server is unreachable; the writer retries later anyway.
            connect_args["connect_timeout"] = _PG_CONNECT_TIMEOUT_SECONDS
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    raise HistoryError(
        f"history URL {url.render_as_string(hide_password=True)!r} uses {backend!r}; "
        "dagcore stores history in SQLite (sqlite:///path.db) or PostgreSQL "
        "(postgresql+psycopg://user@host/db)"
    )


def _is_transient(exc: SQLAlchemyError) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeoutError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SqlHistoryStore:
    """History store on SQLite or PostgreSQL through SQLAlchemy.

    Creating a store does not connect; the first operation does, and brings the schema up to
    date. Every method raises :class:`HistoryUnavailableError` when the database cannot be
    reached (so callers can retry) and :class:`~dagcore.errors.HistoryError` for other failures.

    Args:
        url: A SQLAlchemy URL such as ``sqlite:///.dagcore/history.db`` or
            ``postgresql+psycopg://postgres@127.0.0.1:5432/dagcore``. For a SQLite file the
            parent directory is created when needed.
    """

    def __init__(self, url: str | URL) -> None:
        try:
            self._url = normalize_url(make_url(url))
        except (ArgumentError, ValueError) as exc:
            shown = _PASSWORD.sub(r"\1***@", str(url))
            raise HistoryError(
                f"history URL {shown!r} is not a database URL; expected "
                "sqlite:///path.db or postgresql+psycopg://user@host/db"
            ) from exc
        try:
            self._engine = _make_engine(self._url)
        except ImportError as exc:
            raise HistoryError(
                f"history URL {self._url.render_as_string(hide_password=True)!r} needs a "
                f"database driver that is not installed ({exc}); use postgresql+psycopg://"
            ) from exc
        self._is_sqlite = self._url.get_backend_name() == "sqlite"
        self._migrated = False
        self._migrate_lock = threading.Lock()
        # A shared in-memory SQLite connection must not be used by two threads at once.
        self._serial: AbstractContextManager[Any] = (
            threading.RLock() if self._is_sqlite and _sqlite_is_memory(self._url) else nullcontext()
        )

    @classmethod
    def from_url(cls, url: str | None = None) -> SqlHistoryStore:
        """Open the store at ``url``, else ``$DAGCORE_HISTORY_URL``, else the default file."""
        return cls(history_url(url))

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools and tests; the store owns it)."""
        return self._engine

    def __repr__(self) -> str:
        return f"SqlHistoryStore({self.url!r})"

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Translate database errors into dagcore errors that say what to do."""
        try:
            with self._serial:
                yield
        except HistoryError:
            raise
        except SQLAlchemyError as exc:
            # The driver's own message; SQLAlchemy's would add the statement and parameters.
            reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
            if _is_transient(exc):
                # The database may have been replaced (a deleted SQLite file): re-check the
                # schema on the next try.
                self._migrated = False
                raise HistoryUnavailableError(
                    f"history database {self.url} is unavailable while {action}: {reason}. "
                    "Check that it is running and reachable; history writers keep events and "
                    "retry."
                ) from exc
            raise HistoryError(
                f"history database {self.url} failed while {action}: {reason}"
            ) from exc
        except OSError as exc:
            self._migrated = False
            raise HistoryUnavailableError(
                f"history database {self.url} is unavailable while {action}: {exc}"
            ) from exc

    def migrate(self) -> None:
        """Bring the schema to the latest revision (done automatically on first use).

        Raises:
            HistoryUnavailableError: The database cannot be reached.
            HistoryError: The database was migrated by a newer dagcore.
        """
        if self._migrated:
            return
        with self._migrate_lock, self._guard("migrating the schema"):
            if self._migrated:
                return
            if self._is_sqlite and not _sqlite_is_memory(self._url) and self._url.database:
                Path(self._url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            with self._engine.connect() as connection:
                if not self._at_head(connection):
                    connection.rollback()
                    self._upgrade(connection)
            self._migrated = True

    def _at_head(self, connection: Connection) -> bool:
        current = set(MigrationContext.configure(connection).get_current_heads())
        unknown = current - _known_revisions()
        if unknown:
            raise HistoryError(
                f"history database {self.url} is at revision {', '.join(sorted(unknown))}, "
                "written by a newer dagcore; upgrade dagcore or point DAGCORE_HISTORY_URL "
                "at another database"
            )
        return current == _head_revisions()

    def _upgrade(self, connection: Connection) -> None:
        # One transaction holds a lock for the whole upgrade; a second process waits here,
        # then finds the schema current and Alembic does nothing.
        connection.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            if not self._is_sqlite:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            command.upgrade(_alembic_config(connection), "head")

    def apply(self, events: Sequence[HistoryEvent]) -> None:
        """Merge ``events`` in one transaction; applying them again changes nothing.

        Raises:
            HistoryUnavailableError: The database cannot be reached; retry later.
            HistoryError: The batch cannot be stored (it holds something that is not an event).
        """
        if not events:
            return
        self.migrate()
        with self._guard(f"storing {len(events)} events"):
            with self._engine.connect() as connection:
                connection.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
                with connection.begin():
                    apply_events(connection, events)

    @contextmanager
    def _session(self, action: str) -> Iterator[Session]:
        self.migrate()
        with self._guard(action), Session(self._engine) as session:
            yield session

    def _task_counts(self, session: Session, run_ids: list[str]) -> dict[str, dict[str, int]]:
        return task_counts(session, run_ids)

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        """Return the ``limit`` most recently started runs, newest first."""
        with self._session("listing runs") as session:
            query = (
                select(Run)
                .order_by(Run.started_at.desc().nulls_last(), Run.run_id.desc())
                .limit(limit)
            )
            runs = list(session.scalars(query))
            counts = self._task_counts(session, [run.run_id for run in runs])
            return [run_record(run, counts.get(run.run_id, {})) for run in runs]

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return the run with this id, or the only run whose id starts with it.

        Raises:
            HistoryError: The prefix matches several runs.
        """
        if not run_id:
            return None
        with self._session(f"looking up run {run_id}") as session:
            run = session.get(Run, run_id)
            if run is None:
                query = (
                    select(Run)
                    .where(Run.run_id.startswith(run_id, autoescape=True))
                    .order_by(Run.run_id)
                    .limit(5)
                )
                matches = list(session.scalars(query))
                if not matches:
                    return None
                if len(matches) > 1:
                    shown = ", ".join(match.run_id for match in matches)
                    raise HistoryError(
                        f"run id prefix {run_id!r} matches several runs ({shown}); "
                        "give more characters"
                    )
                run = matches[0]
            counts = self._task_counts(session, [run.run_id])
            return run_record(run, counts.get(run.run_id, {}))

    def tasks(self, run_id: str) -> list[TaskRunRecord]:
        """Return every task of the run (exact id), in order of first start."""
        with self._session(f"listing the tasks of run {run_id}") as session:
            query = (
                select(TaskRun)
                .where(TaskRun.run_id == run_id)
                .order_by(TaskRun.started_at.asc().nulls_last(), TaskRun.task_id)
            )
            return [task_record(row) for row in session.scalars(query)]

    def attempts(self, run_id: str, task_id: str | None = None) -> list[AttemptRecord]:
        """Return the attempts of a run (exact id), or of one of its tasks, with their I/O."""
        with self._session(f"listing the attempts of run {run_id}") as session:
            query = select(Attempt).where(Attempt.run_id == run_id)
            io_query = select(TargetIO).where(TargetIO.run_id == run_id)
            if task_id is not None:
                query = query.where(Attempt.task_id == task_id)
                io_query = io_query.where(TargetIO.task_id == task_id)
            io: dict[tuple[str, int, str], list[str]] = defaultdict(list)
            for row in session.scalars(io_query.order_by(TargetIO.uri)):
                io[(row.task_id, row.attempt, row.direction)].append(row.uri)
            rows = session.scalars(query.order_by(Attempt.task_id, Attempt.attempt))
            return [attempt_record(row, io) for row in rows]

    def lineage(self, uri: str, max_depth: int = 20) -> Lineage:
        """Return the producer of ``uri``, that producer's inputs, and so on upstream.

        Args:
            uri: The target to explain.
            max_depth: How many producer hops to follow; deeper inputs are listed but not
                explained, and the result is marked ``truncated``.
        """
        with self._session(f"tracing the lineage of {uri}") as session:
            return walk_lineage(session, uri, max_depth)

    def close(self) -> None:
        """Close pooled connections; the store reconnects if used again."""
        self._engine.dispose()


def task_counts(db: Connection | Session, run_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per run, how many of its tasks are in each status (one grouped query)."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if not run_ids:
        return counts
    query = (
        select(TaskRun.run_id, TaskRun.status, func.count())
        .where(TaskRun.run_id.in_(run_ids))
        .group_by(TaskRun.run_id, TaskRun.status)
    )
    for run_id, status, count in db.execute(query):
        counts[run_id][status] = count
    return counts
