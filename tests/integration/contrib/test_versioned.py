"""VersionedTarget on local files, the in-memory file system and S3 (moto server)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from dagcore.contrib.pandas import read_parquet, write_parquet
from dagcore.contrib.s3 import S3Target
from dagcore.contrib.versioned import (
    TargetFactory,
    VersionedTarget,
    VersionedWriteError,
    new_version,
    versioned_path,
)
from dagcore.format import Nop
from dagcore.local_target import LocalTarget
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.target import FileAlreadyExists, FileSystemTarget, InvalidTargetArgument

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "mock", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TargetFactory, str]]:
    """A target factory and a base path in a fresh namespace of each storage kind."""
    if request.param == "local":
        yield LocalTarget, str(tmp_path / "sales")
    elif request.param == "mock":
        MockFileSystem().clear()
        yield MockTarget, "/versioned/sales"
        MockFileSystem().clear()
    else:
        bucket: str = request.getfixturevalue("s3_bucket")
        yield S3Target, f"s3://{bucket}/sales"


def _write(target: VersionedTarget, text: str) -> None:
    with target.writing() as out:
        with out.open("w") as f:
            f.write(text)


def _read(target: FileSystemTarget) -> str:
    with target.open("r") as f:
        return str(f.read())


def test_each_write_is_a_new_version_and_becomes_latest(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    first = VersionedTarget(factory, base, "v1")
    assert not first.exists()
    assert first.latest_version() is None
    _write(first, "one")
    assert first.exists()
    assert first.latest_version() == "v1"
    assert _read(first.latest()) == "one"

    second = VersionedTarget(factory, base, "v2")
    _write(second, "two")
    assert first.latest_version() == "v2"
    assert _read(VersionedTarget(factory, base, "v1").latest()) == "two"
    with first.open("r") as f:
        assert f.read() == "one"  # the old version is untouched
    assert first.versions() == ["v1", "v2"]


def test_a_complete_version_is_never_overwritten(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    _write(VersionedTarget(factory, base, "v1"), "good")
    _write(VersionedTarget(factory, base, "v2"), "newer")
    with pytest.raises(FileAlreadyExists, match="never overwritten"):
        _write(VersionedTarget(factory, base, "v1"), "bad")
    assert _read(VersionedTarget(factory, base, "v1").target) == "good"
    assert VersionedTarget(factory, base, "v1").latest_version() == "v2"


def test_failed_write_leaves_the_pointer_and_no_debris(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    _write(VersionedTarget(factory, base, "v1"), "good")
    broken = VersionedTarget(factory, base, "v2")
    with pytest.raises(RuntimeError, match="transform failed"):
        with broken.writing() as out:
            with out.open("w") as f:
                f.write("complete data file")
            extra = factory(f"{broken.version_dir}/part-2")
            with extra.open("w") as f:
                f.write("second file")
            raise RuntimeError("transform failed")
    assert not broken.exists()
    assert not broken.target.exists()
    assert not broken.target.fs.exists(broken.version_dir)
    assert broken.latest_version() == "v1"
    assert _read(broken.latest()) == "good"
    assert broken.versions() == ["v1"]


def test_block_that_writes_nothing_is_an_error(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    target = VersionedTarget(factory, base, "v1")
    with pytest.raises(VersionedWriteError, match="nothing was written"):
        with target.writing():
            pass
    assert not target.exists()
    assert target.latest_version() is None


def test_leftovers_of_an_interrupted_attempt_are_replaced(
    store: tuple[TargetFactory, str],
) -> None:
    factory, base = store
    target = VersionedTarget(factory, base, "v1")
    with factory(target.path).open("w") as f:  # data written, then the process died
        f.write("stale partial")
    with factory(f"{target.version_dir}/part-9").open("w") as f:
        f.write("stale extra")
    assert not target.exists()
    assert target.versions() == []
    _write(target, "fresh")
    assert _read(target.latest()) == "fresh"
    assert not factory(f"{target.version_dir}/part-9").exists()


def test_promote_an_older_version_and_refuse_an_incomplete_one(
    store: tuple[TargetFactory, str],
) -> None:
    factory, base = store
    _write(VersionedTarget(factory, base, "v1"), "one")
    _write(VersionedTarget(factory, base, "v2"), "two")
    VersionedTarget(factory, base, "v1").promote()
    assert _read(VersionedTarget(factory, base, "v2").latest()) == "one"
    with pytest.raises(VersionedWriteError, match="not complete"):
        VersionedTarget(factory, base, "v3").promote()
    assert VersionedTarget(factory, base, "v3").latest_version() == "v1"


def test_latest_errors(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    target = VersionedTarget(factory, base, "v1")
    with pytest.raises(VersionedWriteError, match="no version .* has been written yet"):
        target.latest()
    with factory(f"{base}/_LATEST").open("w") as f:
        f.write("ghost\n")
    with pytest.raises(VersionedWriteError, match="'ghost', which is not complete"):
        target.latest()


def test_binary_factory_with_parquet(store: tuple[TargetFactory, str]) -> None:
    base_factory, base = store

    def factory(path: str) -> FileSystemTarget:
        return base_factory(path, format=Nop)  # type: ignore[call-arg]

    frame = pd.DataFrame({"day": ["mon", "tue"], "sales": [3, 4]})
    target = VersionedTarget(factory, base, new_version(), name="sales.parquet")
    with target.writing() as out:
        write_parquet(frame, out)
    assert target.latest().path.endswith("/sales.parquet")
    pd.testing.assert_frame_equal(read_parquet(target.latest()), frame)
    pd.testing.assert_frame_equal(read_parquet(target), frame)


def test_only_reading_through_open(store: tuple[TargetFactory, str]) -> None:
    factory, base = store
    target = VersionedTarget(factory, base, "v1")
    with pytest.raises(InvalidTargetArgument, match="target.writing"):
        target.open("w")
    _write(target, "data")
    with target.open("r") as f:
        assert f.read() == "data"
    assert target.uri == factory(target.path).uri


@pytest.mark.parametrize("version", ["", "_LATEST", ".hidden", "a/b", "../up", "x" * 129, "é"])
def test_invalid_versions_are_refused(version: str) -> None:
    with pytest.raises(InvalidTargetArgument, match="invalid version"):
        VersionedTarget(LocalTarget, "/tmp/base", version)


def test_versioned_path() -> None:
    assert versioned_path("s3://b/sales/", "v1") == "s3://b/sales/v1/data"
    assert versioned_path("/data/sales", "2024-01-01", "x.csv") == "/data/sales/2024-01-01/x.csv"


def test_new_version_is_unique_and_sorts_by_time() -> None:
    early = datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
    late = early + datetime.timedelta(microseconds=1)
    first, second = new_version(early), new_version(late)
    assert first.startswith("20240102T030405123456Z-")
    assert first < second
    assert len({new_version(early) for _ in range(100)}) == 100
    VersionedTarget(LocalTarget, "/tmp/base", new_version())  # a valid version name
