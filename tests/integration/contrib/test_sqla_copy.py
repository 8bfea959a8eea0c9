"""CopyToTable loading into a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagcore.contrib.sqla import CopyToTable, SQLAlchemyTarget, SQLTargetError
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter import Parameter
from dagcore.task import ExternalTask

pytestmark = pytest.mark.integration

ROWS = [(f"item{i}", f"property{i}") for i in range(10)]


class ItemsFile(ExternalTask):
    name = Parameter(default="items.tsv")

    def output(self) -> MockTarget:
        return MockTarget(self.name)


class LoadItems(CopyToTable):
    source = Parameter(default="items.tsv")
    table = "items"
    columns = [
        (["item", sa.String(64)], {"primary_key": True}),
        (["property", sa.String(64)], {}),
    ]
    chunk_size = 3  # several chunks for ten rows

    def requires(self) -> ItemsFile:
        return ItemsFile(name=self.source)


class LoadItemsFailing(LoadItems):
    def rows(self) -> Iterator[Sequence[Any]]:
        for count, row in enumerate(super().rows()):
            if count == 7:
                raise RuntimeError("source went away mid-load")
            yield row


class LoadExisting(CopyToTable):
    table = "existing"
    reflect = True
    column_separator = ","

    def requires(self) -> ItemsFile:
        return ItemsFile(name="items.csv")


class LoadWithoutColumns(CopyToTable):
    table = "nowhere"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database of each kind, set as every test task's connection string."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'load.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setattr(CopyToTable, "connection_string", url, raising=False)
    MockFileSystem().clear()
    MockFileSystem().put_data("items.tsv", "".join(f"{a}\t{b}\n" for a, b in ROWS).encode())
    yield url
    MockFileSystem().clear()


def _select(url: str, query: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_loads_rows_and_records_the_marker(db_url: str) -> None:
    task = LoadItems()
    assert not task.complete()
    task.run()
    assert task.complete()
    assert sorted(_select(db_url, "SELECT item, property FROM items")) == sorted(ROWS)
    assert _select(db_url, "SELECT update_id, target_table FROM table_updates") == [
        (task.task_id, "items")
    ]
    assert isinstance(task.output(), SQLAlchemyTarget)
    assert task.output().uri.endswith(f"/items#{task.task_id}")


def test_failed_load_leaves_neither_rows_nor_marker(db_url: str) -> None:
    task = LoadItemsFailing()
    with pytest.raises(RuntimeError, match="mid-load"):
        task.run()
    assert not task.complete()
    assert _select(db_url, "SELECT count(*) FROM items") == [(0,)]
    LoadItems().run()  # a retry of the same load starts clean
    assert _select(db_url, "SELECT count(*) FROM items") == [(10,)]


def test_reflects_an_existing_table(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE existing (code VARCHAR(10), qty INTEGER)"))
    engine.dispose()
    MockFileSystem().put_data("items.csv", b"a,1\nb,2\n")
    task = LoadExisting()
    task.run()
    assert task.complete()
    assert sorted(_select(db_url, "SELECT code, qty FROM existing")) == [("a", 1), ("b", 2)]


def test_reflect_without_a_table_is_explained(db_url: str) -> None:
    with pytest.raises(SQLTargetError, match="reflect is set but table 'existing' does not exist"):
        LoadExisting().run()


def test_columns_are_required_without_reflect(db_url: str) -> None:
    with pytest.raises(NotImplementedError, match="set columns"):
        LoadWithoutColumns().run()
