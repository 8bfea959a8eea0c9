"""SQLAlchemy models of the run history.

Four tables, each keyed by the natural key of what it records, so that a replayed or duplicated
event lands on the same row instead of adding one:

- ``runs``: one row per run (who, what, where, when, final status).
- ``task_runs``: one row per task per run (its plan node, status and timings).
- ``attempts``: one row per attempt at running a task (worker, errors, traceback).
- ``target_io``: the targets each attempt read and wrote, for lineage.
- ``task_edges``: the plan's dependencies, one row per (task, upstream task) of a run.

There are deliberately no foreign keys: events arrive at least once and in any order (an attempt
may be stored before its run), and the store fills the gaps when the missing event arrives.

The schema itself is created by the Alembic migrations in ``migrations/``; these classes are the
typed view used for queries and must stay in step with the latest migration (a test compares
them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dagcore.errors import HistoryError

__all__ = ["Attempt", "Base", "Run", "TargetIO", "TaskEdge", "TaskRun", "UTCDateTime"]

# Fixed constraint names keep migrations identical on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``. SQLite has no timestamp type, so the value is stored as
    naive UTC text of fixed width, which keeps ``<``/``>`` comparisons in SQL correct.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to what the backend stores."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise HistoryError(
                f"naive datetime {value.isoformat()} given to the history store; "
                "use timezone-aware datetimes such as datetime.now(timezone.utc)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return stored values as aware UTC datetimes."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise HistoryError(f"unexpected timestamp value {value!r} read from the history store")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the history tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class Run(Base):
    """One run of ``dagcore run`` / ``dagcore.build``."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    executor: Mapped[str | None] = mapped_column(String(64))
    # "user" is reserved in PostgreSQL, so the column has a plainer name.
    user: Mapped[str | None] = mapped_column("username", String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    command: Mapped[str | None] = mapped_column(Text)
    root_tasks: Mapped[list[str] | None] = mapped_column(JSON)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_runs_started_at", "started_at"),)


class TaskRun(Base):
    """One task within one run."""

    __tablename__ = "task_runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(Text, primary_key=True)
    family: Mapped[str] = mapped_column(Text)
    module: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    resources: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    queue: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    # When ``status`` was reached: lets out-of-order events keep the latest status.
    status_at: Mapped[datetime | None]
    created_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_task_runs_task_id", "task_id"),
        Index("ix_task_runs_family", "family"),
    )


class Attempt(Base):
    """One attempt at running one task of one run."""

    __tablename__ = "attempts"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(Text, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str | None] = mapped_column(String(255))
    worker: Mapped[str | None] = mapped_column(String(255))
    celery_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32))
    error_type: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    status_message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float | None] = mapped_column(Float)
    tracking_url: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_attempts_celery_id", "celery_id"),)


class TargetIO(Base):
    """A target URI read or written by one attempt (lineage)."""

    __tablename__ = "target_io"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(Text, primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    uri: Mapped[str] = mapped_column(Text, primary_key=True)

    __table_args__ = (Index("ix_target_io_uri", "uri", "direction"),)


class TaskEdge(Base):
    """A dependency of one task on another within one run (the plan's edges)."""

    __tablename__ = "task_edges"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(Text, primary_key=True)
    upstream_id: Mapped[str] = mapped_column(Text, primary_key=True)
