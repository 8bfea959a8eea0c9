"""SQLAlchemyTarget against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import datetime
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from luigi.contrib.sqla import SQLAlchemyTarget as LuigiSQLAlchemyTarget

from dagcore.configuration import get_config, reset_config
from dagcore.contrib.sqla import SQLAlchemyTarget, SQLTargetError
from dagcore.errors import TargetError

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'markers.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def _marker_rows(url: str, table: str = "table_updates") -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f"SELECT update_id, target_table FROM {table}")).all()
        return sorted((row[0], row[1]) for row in rows)
    finally:
        engine.dispose()


def _table_names(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return sorted(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_touch_then_exists(db_url: str) -> None:
    target = SQLAlchemyTarget(db_url, "sales", "Load_2024_01_01_abc123")
    assert not target.exists()
    target.touch()
    assert target.exists()
    assert SQLAlchemyTarget(db_url, "sales", "Load_2024_01_01_abc123").exists()
    assert _marker_rows(db_url) == [("Load_2024_01_01_abc123", "sales")]


def test_exists_does_not_create_the_marker_table(db_url: str) -> None:
    assert not SQLAlchemyTarget(db_url, "sales", "u1").exists()
    assert "table_updates" not in _table_names(db_url)
    SQLAlchemyTarget(db_url, "sales", "u1").create_marker_table()
    assert "table_updates" in _table_names(db_url)


def test_updates_are_told_apart_by_id_and_table(db_url: str) -> None:
    SQLAlchemyTarget(db_url, "sales", "u1").touch()
    assert not SQLAlchemyTarget(db_url, "sales", "u2").exists()
    assert not SQLAlchemyTarget(db_url, "customers", "u1").exists()


def test_touch_again_refreshes_the_timestamp(db_url: str) -> None:
    target = SQLAlchemyTarget(db_url, "sales", "u1")
    target.touch()
    table = target.marker_table_bound
    with target.engine.connect() as conn:
        first = conn.execute(sa.select(table.c.inserted)).scalar_one()
    time.sleep(0.05)
    target.touch()
    with target.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.inserted)).scalars().all()
    assert len(rows) == 1
    assert rows[0] > first
    assert abs(datetime.datetime.now() - rows[0]) < datetime.timedelta(minutes=1)


def test_update_id_reused_for_another_table_is_explained(db_url: str) -> None:
    SQLAlchemyTarget(db_url, "sales", "shared-id").touch()
    with pytest.raises(SQLTargetError, match="unique across tables"):
        SQLAlchemyTarget(db_url, "customers", "shared-id").touch()
    assert _marker_rows(db_url) == [("shared-id", "sales")]


def test_concurrent_touches_record_one_row(db_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def touch() -> None:
        try:
            barrier.wait()
            SQLAlchemyTarget(db_url, "sales", "racy").touch()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=touch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _marker_rows(db_url) == [("racy", "sales")]


def test_touch_in_the_callers_transaction_commits_with_the_data(db_url: str) -> None:
    target = SQLAlchemyTarget(db_url, "sales", "atomic")
    with target.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sales (amount INTEGER)"))
    with pytest.raises(RuntimeError):
        with target.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO sales VALUES (1)"))
            target.touch(connection=conn)
            raise RuntimeError("load failed after the marker was written")
    assert not target.exists()
    with target.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sales VALUES (2)"))
        target.touch(connection=conn)
    assert target.exists()
    with target.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT amount FROM sales")).scalars().all() == [2]


def test_marker_table_from_config(db_url: str) -> None:
    get_config().set("sqlalchemy", "marker_table", "my_markers")
    try:
        SQLAlchemyTarget(db_url, "sales", "u1").touch()
        assert SQLAlchemyTarget(db_url, "sales", "u1").exists()
    finally:
        reset_config()
    assert "my_markers" in _table_names(db_url)
    assert "table_updates" not in _table_names(db_url)
    assert not SQLAlchemyTarget(db_url, "sales", "u1").exists()


def test_marker_table_on_a_subclass(db_url: str) -> None:
    class AuditTarget(SQLAlchemyTarget):
        marker_table = "audit_markers"

    AuditTarget(db_url, "sales", "u1").touch()
    assert _marker_rows(db_url, "audit_markers") == [("u1", "sales")]


def test_schema_matches_luigis_marker_table(db_url: str) -> None:
    # Luigi creates its marker table under another name in the same database; both tables
    # must agree column for column, and dagcore must be able to use the one Luigi made.
    class LuigiTarget(LuigiSQLAlchemyTarget):
        marker_table = "luigi_markers"

    luigi_target = LuigiTarget(db_url, "sales", "u1")  # type: ignore[no-untyped-call]
    luigi_target.create_marker_table()  # type: ignore[no-untyped-call]
    SQLAlchemyTarget(db_url, "sales", "u1").create_marker_table()

    def describe(table: str) -> list[tuple[str, str, bool]]:
        engine = sa.create_engine(db_url)
        try:
            inspector = sa.inspect(engine)
            pk = set(inspector.get_pk_constraint(table)["constrained_columns"])
            return [
                (col["name"], type(col["type"]).__name__, col["name"] in pk)
                for col in inspector.get_columns(table)
            ]
        finally:
            engine.dispose()

    assert describe("luigi_markers") == describe("table_updates")
    names = [(name, is_pk) for name, _, is_pk in describe("table_updates")]
    assert names == [("update_id", True), ("target_table", False), ("inserted", False)]

    class OnLuigisTable(SQLAlchemyTarget):
        marker_table = "luigi_markers"

    OnLuigisTable(db_url, "sales", "u1").touch()
    assert OnLuigisTable(db_url, "sales", "u1").exists()
    assert _marker_rows(db_url, "luigi_markers") == [("u1", "sales")]


def test_uri_and_str_hide_the_password() -> None:
    target = SQLAlchemyTarget("postgresql+psycopg://etl:s3cret@db.example:5432/wh", "sales", "u1")
    assert target.uri == "sqla://postgresql+psycopg://etl@db.example:5432/wh/sales#u1"
    assert "s3cret" not in repr(target)
    assert str(target) == "sales"


def test_engine_is_shared_per_connection_string(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first = SQLAlchemyTarget(url, "t", "u1").engine
    assert SQLAlchemyTarget(url, "other", "u2").engine is first
    assert SQLAlchemyTarget(f"sqlite:///{tmp_path / 'b.db'}", "t", "u1").engine is not first
    assert SQLAlchemyTarget(url, "t", "u1", echo=True).engine is not first


def test_engine_is_recreated_in_a_forked_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    parent_engine = SQLAlchemyTarget(url, "t", "u1").engine
    monkeypatch.setattr("os.getpid", lambda: -1)
    assert SQLAlchemyTarget(url, "t", "u1").engine is not parent_engine


def test_connect_args_reach_the_driver(tmp_path: Path) -> None:
    target = SQLAlchemyTarget(
        f"sqlite:///{tmp_path / 'c.db'}", "t", "u1", connect_args={"timeout": 7.5}
    )
    target.touch()
    assert target.exists()
    assert target.engine is not SQLAlchemyTarget(f"sqlite:///{tmp_path / 'c.db'}", "t", "u1").engine


def test_unreachable_database_is_a_target_error() -> None:
    target = SQLAlchemyTarget(
        "postgresql+psycopg://nobody:hunter2@127.0.0.1:9/none",
        "sales",
        "u1",
        connect_args={"connect_timeout": 2},
    )
    with pytest.raises(SQLTargetError) as info:
        target.exists()
    message = str(info.value)
    assert "postgresql+psycopg://nobody@127.0.0.1:9/none" in message
    assert "'table_updates'" in message
    assert "hunter2" not in message
    assert isinstance(info.value, TargetError)


def test_open_is_not_supported(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="query the table"):
        SQLAlchemyTarget(f"sqlite:///{tmp_path / 'a.db'}", "sales", "u1").open("r")


def test_luigis_dashed_marker_table_key_still_works_with_its_deprecation(db_url: str) -> None:
    get_config().set("sqlalchemy", "marker-table", "dashed_markers")
    try:
        with pytest.warns(DeprecationWarning, match="marker-table \\(with dashes\\)"):
            SQLAlchemyTarget(db_url, "sales", "u2").touch()
    finally:
        reset_config()
    assert "dashed_markers" in _table_names(db_url)
