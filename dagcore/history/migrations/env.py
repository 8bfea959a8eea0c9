"""Alembic environment of the history schema.

dagcore runs the migrations itself (see ``SqlHistoryStore.migrate``): it builds the Alembic
configuration in code and passes an open connection, already inside a transaction that holds a
migration lock, through ``config.attributes["connection"]``. Developers can still drive Alembic
by hand with ``-x url=...`` or a ``sqlalchemy.url`` option.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from dagcore.errors import HistoryError
from dagcore.history.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise HistoryError("no history database URL: pass -x url=... or set sqlalchemy.url")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables in later migrations.
        render_as_batch=True,
        compare_type=True,
    )
    # When dagcore passes a connection that is already in a transaction, this joins it and
    # leaves the commit to the caller, so the lock taken there covers the whole upgrade.
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as fresh:
            _run(fresh)
            fresh.commit()
    finally:
        engine.dispose()


_main()
