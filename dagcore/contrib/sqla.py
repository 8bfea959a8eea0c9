"""SQL databases through SQLAlchemy: a marker-row target, and Luigi's ``CopyToTable`` task.

A task that loads data into a table records "update ``update_id`` of ``target_table`` is done"
by :meth:`SQLAlchemyTarget.touch`; the target :meth:`~SQLAlchemyTarget.exists` once that row
is there. The marker table is Luigi's, so a database shared with Luigi pipelines keeps working:
``table_updates`` (or ``[sqlalchemy] marker_table``) with the columns ``update_id``
(``VARCHAR(128)``, primary key), ``target_table`` (``VARCHAR(128)``) and ``inserted``
(``TIMESTAMP``, local time).

:class:`CopyToTable` loads rows (by default the tab-separated lines of its input) into a table
and records its marker in the same transaction, so the data and "done" commit together.

One engine is created per connection string (and ``echo``/``connect_args``) per process and
shared by all targets; a forked child creates its own, since a connection pool must not cross
a fork.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from dagcore.configuration import get_config
from dagcore.errors import TargetError
from dagcore.target import Target
from dagcore.task import Task

__all__ = ["CopyToTable", "SQLAlchemyTarget", "SQLTargetError", "marker_table_schema"]

logger = logging.getLogger(__name__)

_DEFAULT_MARKER_TABLE = "table_updates"

_engines: dict[tuple[int, str, bool, str], Engine] = {}
_engines_lock = threading.Lock()
_marker_tables: dict[str, sa.Table] = {}
_marker_tables_lock = threading.Lock()
# (engine id, marker table) pairs known to exist, so exists() does not inspect the schema on
# every completeness check.
_created: set[tuple[int, str]] = set()


class SQLTargetError(TargetError):
    """The marker table could not be read or written; the message names database and table."""


def marker_table_schema(name: str) -> sa.Table:
    """Return the :class:`~sqlalchemy.Table` describing the marker table called ``name``.

    The columns are Luigi's, so existing marker tables are read and written as they are.
    """
    with _marker_tables_lock:
        table = _marker_tables.get(name)
        if table is None:
            table = _marker_tables[name] = sa.Table(
                name,
                sa.MetaData(),
                sa.Column("update_id", sa.String(128), primary_key=True),
                sa.Column("target_table", sa.String(128)),
                sa.Column("inserted", sa.DateTime, default=datetime.datetime.now),
            )
        return table


def _get_engine(connection_string: str, echo: bool, connect_args: Mapping[str, Any]) -> Engine:
    # repr() because connect_args values (an SSL context, say) need not be hashable.
    key = (os.getpid(), connection_string, echo, repr(sorted(connect_args.items())))
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = sa.create_engine(
                connection_string, echo=echo, connect_args=dict(connect_args)
            )
        return engine


class SQLAlchemyTarget(Target):
    """Update ``update_id`` of the table ``target_table``, recorded in a marker table.

    Args:
        connection_string: An SQLAlchemy database URL, e.g.
            ``postgresql+psycopg://user@host/db`` or ``sqlite:///data.db``.
        target_table: The table the update wrote to (a label; it is not checked).
        update_id: What identifies this update, usually the task id. Luigi's marker schema
            keys on it alone, so it must be unique across target tables.
        echo: Log every SQL statement (SQLAlchemy's ``echo``).
        connect_args: Extra arguments for the DB-API ``connect()`` call.
    """

    marker_table: str | None = None
    """The marker table's name; ``None`` reads ``[sqlalchemy] marker_table`` (default
    ``table_updates``). Set it on a subclass to use another table."""

    def __init__(
        self,
        connection_string: str,
        target_table: str,
        update_id: str,
        echo: bool = False,
        connect_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.connection_string = connection_string
        self.target_table = target_table
        self.update_id = update_id
        self.echo = echo
        self.connect_args: dict[str, Any] = dict(connect_args or {})

    def __str__(self) -> str:
        return self.target_table

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self._safe_url()!r}, {self.target_table!r}, "
            f"{self.update_id!r})"
        )

    @property
    def engine(self) -> Engine:
        """The process-wide engine for this target's database."""
        return _get_engine(self.connection_string, self.echo, self.connect_args)

    @property
    def uri(self) -> str:
        """``sqla://<database URL without password>/<table>#<update_id>``."""
        return f"sqla://{self._safe_url()}/{self.target_table}#{self.update_id}"

    @property
    def marker_table_name(self) -> str:
        """The marker table this target reads and writes."""
        if self.marker_table is not None:
            return self.marker_table
        name = get_config().get("sqlalchemy", "marker_table", default=_DEFAULT_MARKER_TABLE)
        return str(name)

    @property
    def marker_table_bound(self) -> sa.Table:
        """The marker table as an SQLAlchemy :class:`~sqlalchemy.Table` (Luigi's attribute)."""
        return marker_table_schema(self.marker_table_name)

    def _safe_url(self) -> str:
        url = make_url(self.connection_string)
        # URL.set(password=None) leaves the password alone, so rebuild the URL without it.
        bare = URL.create(
            url.drivername,
            username=url.username,
            host=url.host,
            port=url.port,
            database=url.database,
            query=url.query,
        )
        return bare.render_as_string(hide_password=False)

    def _fail(self, action: str, exc: SQLAlchemyError) -> NoReturn:
        raise SQLTargetError(
            f"cannot {action} marker table {self.marker_table_name!r} for update "
            f"{self.update_id!r} of table {self.target_table!r} at {self._safe_url()}: "
            f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}"
        ) from exc

    def create_marker_table(self, connection: sa.Connection | None = None) -> None:
        """Create the marker table unless it exists already.

        Safe to call from several processes at once: losing the race to create the table is
        not an error.

        Args:
            connection: Create the table inside this connection's transaction (so it commits
                or rolls back with it); by default in a transaction of its own.
        """
        table = self.marker_table_bound
        engine = self.engine
        if (id(engine), table.name) in _created:
            return
        if connection is not None:
            # A savepoint, so a lost creation race does not abort the caller's transaction.
            try:
                with connection.begin_nested():
                    table.create(connection, checkfirst=True)
            except SQLAlchemyError as exc:
                if not sa.inspect(connection).has_table(table.name):
                    self._fail("create", exc)
            # Not cached: the caller's transaction may still roll the creation back.
            return
        try:
            table.create(engine, checkfirst=True)
        except SQLAlchemyError as exc:
            # Another process may have created it between the check and the CREATE.
            if not self._marker_table_exists(engine):
                self._fail("create", exc)
        _created.add((id(engine), table.name))

    def _marker_table_exists(self, engine: Engine) -> bool:
        if (id(engine), self.marker_table_name) in _created:
            return True
        try:
            found = sa.inspect(engine).has_table(self.marker_table_name)
        except SQLAlchemyError as exc:
            self._fail("inspect", exc)
        if found:
            _created.add((id(engine), self.marker_table_name))
        return found

    def exists(self) -> bool:
        """Return whether this update has been recorded.

        Unlike Luigi's, this does not create the marker table: a missing table means that
        nothing has been recorded, and a completeness check should not need DDL rights.
        """
        engine = self.engine
        if not self._marker_table_exists(engine):
            return False
        table = self.marker_table_bound
        query = (
            sa.select(table.c.update_id)
            .where(table.c.update_id == self.update_id)
            .where(table.c.target_table == self.target_table)
            .limit(1)
        )
        try:
            with engine.connect() as conn:
                return conn.execute(query).first() is not None
        except SQLAlchemyError as exc:
            self._fail("read", exc)

    def touch(self, connection: sa.Connection | None = None) -> None:
        """Record this update as done, refreshing ``inserted`` if it was recorded before.

        Args:
            connection: A connection with an open transaction to record the marker in, so
                that the data and its marker commit together; by default a transaction of
                its own.

        Raises:
            SQLTargetError: The marker table cannot be written, or ``update_id`` is already
                recorded for another target table.
        """
        try:
            if connection is not None:
                self.create_marker_table(connection)
                self._upsert(connection)
                return
            self.create_marker_table()
            with self.engine.begin() as conn:
                self._upsert(conn)
        except SQLTargetError:
            raise
        except SQLAlchemyError as exc:
            self._fail("write", exc)

    def _upsert(self, conn: sa.Connection) -> None:
        table = self.marker_table_bound
        mine = (table.c.update_id == self.update_id) & (table.c.target_table == self.target_table)
        values = {"inserted": datetime.datetime.now()}
        if conn.execute(table.update().where(mine).values(values)).rowcount > 0:
            return
        # A savepoint, so a lost insert race leaves the caller's transaction usable.
        try:
            with conn.begin_nested():
                conn.execute(
                    table.insert().values(
                        update_id=self.update_id, target_table=self.target_table, **values
                    )
                )
        except IntegrityError:
            if conn.execute(table.update().where(mine).values(values)).rowcount > 0:
                return  # another writer recorded the same update first
            raise SQLTargetError(
                f"update id {self.update_id!r} is already recorded in marker table "
                f"{self.marker_table_name!r} for another target table than "
                f"{self.target_table!r}; the marker table keys on update_id alone, so use "
                "update ids that are unique across tables (the task id is)"
            ) from None

    def open(self, mode: str = "r") -> NoReturn:
        """Not supported: the data lives in ``target_table``, read it with SQL."""
        raise NotImplementedError(
            f"cannot open() SQLAlchemyTarget for table {self.target_table!r}: query the table "
            "through self.engine instead"
        )


class _CopyState:
    """Instance attributes of :class:`CopyToTable`.

    They live on a plain base class because the task metaclass's ``dataclass_transform``
    would take annotations on the task class for constructor fields.
    """

    table_bound: sa.Table | None = None
    """The table, once :meth:`CopyToTable.create_table` has created or reflected it."""


class CopyToTable(_CopyState, Task):
    """Insert rows into a table, then record the load with a :class:`SQLAlchemyTarget`.

    Subclasses set ``connection_string`` and ``table``, and either ``columns`` (to create the
    table if needed) or ``reflect = True`` (to use an existing table). Override :meth:`rows`
    to produce rows another way than splitting the input's lines on ``column_separator``, and
    :meth:`copy` to write them another way than a plain INSERT.

    Unlike Luigi's, the rows and the marker commit in one transaction: a load that fails part
    way leaves neither rows nor marker, so a retry starts clean.
    """

    connection_string: ClassVar[str]
    """The SQLAlchemy database URL."""
    table: ClassVar[str]
    """The table to load into."""
    columns: ClassVar[Sequence[tuple[Sequence[Any], Mapping[str, Any]]]] = []
    """The table's columns as ``(args, kwargs)`` of :class:`sqlalchemy.Column`, e.g.
    ``(["name", sqlalchemy.String(64)], {"primary_key": True})``."""
    schema: ClassVar[str] = ""
    """The target table's schema (the marker table stays in the default one)."""
    reflect: ClassVar[bool] = False
    """Use the existing table's definition instead of ``columns``."""
    column_separator: ClassVar[str] = "\t"
    chunk_size: ClassVar[int] = 5000
    """Rows per INSERT statement."""
    echo: ClassVar[bool] = False
    connect_args: ClassVar[dict[str, Any]] = {}

    def update_id(self) -> str:
        """The marker's update id: the task id, unique per task and parameters."""
        return self.task_id

    def output(self) -> SQLAlchemyTarget:
        """The marker of this load."""
        return SQLAlchemyTarget(
            connection_string=self.connection_string,
            target_table=self.table,
            update_id=self.update_id(),
            echo=self.echo,
            connect_args=self.connect_args,
        )

    def create_table(self, engine: Engine) -> None:
        """Create the table from ``columns`` unless it exists, or reflect it; set ``table_bound``.

        Raises:
            NotImplementedError: Neither ``reflect`` nor complete ``(args, kwargs)`` columns.
        """
        if not self.reflect and (not self.columns or any(len(c) != 2 for c in self.columns)):
            raise NotImplementedError(
                f"{self.get_task_family()}: set columns to (args, kwargs) pairs for "
                f"sqlalchemy.Column, set reflect = True, or override create_table() to create "
                f"table {self.table!r}"
            )
        schema = self.schema or None
        metadata = sa.MetaData()
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(self.table, schema=schema):
                self.table_bound = sa.Table(self.table, metadata, schema=schema, autoload_with=conn)
                return
            if self.reflect:
                raise SQLTargetError(
                    f"{self.get_task_family()}: reflect is set but table {self.table!r} does "
                    "not exist; create it first or give columns"
                )
            columns = [sa.Column(*args, **kwargs) for args, kwargs in self.columns]
            self.table_bound = sa.Table(self.table, metadata, *columns, schema=schema)
            self.table_bound.create(conn, checkfirst=True)

    def rows(self) -> Iterator[Sequence[Any]]:
        """Yield the rows to insert: by default each input line split on ``column_separator``."""
        with self.input().open("r") as lines:
            for line in lines:
                yield line.rstrip("\n").split(self.column_separator)

    def run(self) -> None:
        """Create or reflect the table, insert the rows in chunks, then record the marker."""
        output = self.output()
        self.create_table(output.engine)
        table = self.table_bound
        if table is None:
            raise SQLTargetError(f"{self.get_task_family()}: create_table() set no table_bound")
        keys = ["_" + column.key for column in table.columns]
        rows = iter(self.rows())
        inserted = 0
        with output.engine.begin() as conn:
            while chunk := [
                dict(zip(keys, row, strict=False))
                for row in itertools.islice(rows, self.chunk_size)
            ]:
                self.copy(conn, chunk, table)
                inserted += len(chunk)
            output.touch(connection=conn)
        logger.info("Inserted %d rows into %s (%s)", inserted, self.table, output.uri)

    def copy(
        self, conn: sa.Connection, ins_rows: list[dict[str, Any]], table_bound: sa.Table
    ) -> None:
        """Insert one chunk of rows.

        Args:
            conn: The connection, inside the load's transaction.
            ins_rows: The rows, keyed ``"_" + column name`` (bind parameter names that cannot
                clash with the columns themselves).
            table_bound: The table.
        """
        values: dict[Any, Any] = {
            column: sa.bindparam("_" + column.key) for column in table_bound.columns
        }
        conn.execute(table_bound.insert().values(values), ins_rows)
