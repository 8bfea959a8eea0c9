"""A small ETL built from the contrib pieces, run twice with ``dagcore.build``.

Extract writes CSV to S3, Transform writes a versioned Parquet dataset on S3, Load copies it
into PostgreSQL with CopyToTable. The second build must find everything complete and run
nothing, and Load must read the version Transform published.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import sqlalchemy as sa

from dagcore.configuration import reset_config
from dagcore.contrib.pandas import read_csv, read_parquet, write_csv, write_parquet
from dagcore.contrib.s3 import S3Target
from dagcore.contrib.sqla import CopyToTable
from dagcore.contrib.versioned import VersionedTarget
from dagcore.format import Nop
from dagcore.interface import build
from dagcore.parameter import Parameter
from dagcore.target import FileSystemTarget
from dagcore.task import Task

pytestmark = pytest.mark.integration

RUNS: list[str] = []


def _binary_s3(path: str) -> FileSystemTarget:
    return S3Target(path, format=Nop)


class PipelineExtract(Task):
    bucket = Parameter()

    def output(self) -> S3Target:
        return S3Target(f"s3://{self.bucket}/raw/sales.csv")

    def run(self) -> None:
        RUNS.append("extract")
        frame = pd.DataFrame({"city": ["Köln", "Zürich", "Köln"], "amount": [10, 20, 5]})
        write_csv(frame, self.output())


class PipelineTransform(Task):
    bucket = Parameter()
    version = Parameter()

    def requires(self) -> PipelineExtract:
        return PipelineExtract(bucket=self.bucket)

    def output(self) -> VersionedTarget:
        return VersionedTarget(
            _binary_s3, f"s3://{self.bucket}/totals", self.version, name="totals.parquet"
        )

    def run(self) -> None:
        RUNS.append("transform")
        totals = (
            read_csv(self.input()).groupby("city", as_index=False).agg(amount=("amount", "sum"))
        )
        with self.output().writing() as out:
            write_parquet(totals, out)


class PipelineLoad(CopyToTable):
    bucket = Parameter()
    version = Parameter()
    table = "city_totals"
    columns: ClassVar[Sequence[tuple[Sequence[Any], dict[str, Any]]]] = [
        (["city", sa.String(64)], {"primary_key": True}),
        (["amount", sa.Integer], {}),
    ]

    def requires(self) -> PipelineTransform:
        return PipelineTransform(bucket=self.bucket, version=self.version)

    def rows(self) -> Iterator[Sequence[Any]]:
        RUNS.append("load")
        frame = read_parquet(self.input().latest())
        yield from frame.itertuples(index=False)


@pytest.fixture
def pipeline_env(
    s3_bucket: str, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("DAGCORE_HISTORY_URL", f"sqlite:///{tmp_path / 'history.db'}")
    monkeypatch.setattr(PipelineLoad, "connection_string", postgres_url, raising=False)
    reset_config()
    RUNS.clear()
    yield s3_bucket
    reset_config()


def test_pipeline_runs_once_and_is_then_complete(pipeline_env: str, postgres_url: str) -> None:
    load = PipelineLoad(bucket=pipeline_env, version="2024-01-02")
    assert build([load], local_scheduler=True, workers=1) is True
    assert RUNS == ["extract", "transform", "load"]
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT city, amount FROM city_totals ORDER BY city"))
            assert [tuple(row) for row in rows] == [("Köln", 15), ("Zürich", 20)]
    finally:
        engine.dispose()

    RUNS.clear()
    assert build([load], local_scheduler=True, workers=1) is True
    assert RUNS == []
    assert load.input().latest_version() == "2024-01-02"
