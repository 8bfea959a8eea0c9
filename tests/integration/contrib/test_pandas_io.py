"""pandas round trips through LocalTarget, MockTarget and S3Target (on the moto server)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from dagcore.contrib.pandas import read_csv, read_parquet, write_csv, write_parquet
from dagcore.contrib.s3 import S3Target
from dagcore.format import UTF8, Format, Gzip, Nop
from dagcore.local_target import LocalTarget
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.target import FileSystemTarget

pytestmark = pytest.mark.integration

MakeTarget = Callable[[str, Format | None], FileSystemTarget]

FORMATS = {"text": None, "utf8": UTF8, "nop": Nop, "utf8-gzip": UTF8 >> Gzip, "gzip": Gzip}


@pytest.fixture(params=["local", "mock", "s3"])
def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeTarget]:
    """A factory of targets of one kind, in a fresh namespace."""
    if request.param == "local":
        yield lambda name, fmt: LocalTarget(tmp_path / name, format=fmt)
    elif request.param == "mock":
        MockFileSystem().clear()
        yield lambda name, fmt: MockTarget(f"/pandas/{name}", format=fmt)
        MockFileSystem().clear()
    else:
        bucket: str = request.getfixturevalue("s3_bucket")
        yield lambda name, fmt: S3Target(f"s3://{bucket}/frames/{name}", format=fmt)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(1, 2001),
            "city": ["Zürich", "São Paulo", "東京", "Köln"] * 500,
            "amount": [1.5, None, -3.25, 1e6] * 500,
        }
    )


def _raw_bytes(target: FileSystemTarget) -> bytes:
    copy = type(target)(target.path, format=Nop)  # type: ignore[call-arg]
    with copy.open("r") as f:
        data: bytes = f.read()
    return data


@pytest.mark.parametrize("fmt_name", ["text", "utf8", "nop", "utf8-gzip"])
def test_csv_round_trip(make_target: MakeTarget, frame: pd.DataFrame, fmt_name: str) -> None:
    target = make_target("sales.csv", FORMATS[fmt_name])
    write_csv(frame, target)
    assert target.exists()
    pd.testing.assert_frame_equal(read_csv(target), frame)


def test_csv_is_plain_csv_without_index(make_target: MakeTarget, frame: pd.DataFrame) -> None:
    target = make_target("sales.csv", UTF8 >> Gzip)
    write_csv(frame.head(2), target)
    text = gzip.decompress(_raw_bytes(target)).decode("utf8")
    assert text.splitlines() == ["id,city,amount", "1,Zürich,1.5", "2,São Paulo,"]


def test_csv_keyword_arguments_pass_through(make_target: MakeTarget, frame: pd.DataFrame) -> None:
    target = make_target("sales.csv", UTF8)
    write_csv(frame, target, sep=";", index=True)
    back = read_csv(target, sep=";", index_col=0, usecols=[0, 1, 2])
    assert list(back.columns) == ["id", "city"]
    assert back["city"].tolist() == frame["city"].tolist()


@pytest.mark.parametrize("fmt_name", ["text", "nop", "gzip"])
def test_parquet_round_trip(make_target: MakeTarget, frame: pd.DataFrame, fmt_name: str) -> None:
    target = make_target("sales.parquet", FORMATS[fmt_name])
    write_parquet(frame, target)
    assert target.exists()
    pd.testing.assert_frame_equal(read_parquet(target), frame)
    pd.testing.assert_frame_equal(read_parquet(target, columns=["city"]), frame[["city"]])


def test_parquet_bytes_are_a_real_parquet_file(
    make_target: MakeTarget, frame: pd.DataFrame, tmp_path: Path
) -> None:
    target = make_target("sales.parquet", None)
    write_parquet(frame, target, compression="snappy")
    data = _raw_bytes(target)
    assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
    local = tmp_path / "copy.parquet"
    local.write_bytes(data)
    pd.testing.assert_frame_equal(pd.read_parquet(local), frame)


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("cannot format this value")


def test_failed_csv_write_leaves_nothing(make_target: MakeTarget, frame: pd.DataFrame) -> None:
    target = make_target("broken.csv", None)
    broken = frame.astype({"city": object})
    broken.loc[1500, "city"] = cast(Any, _Unprintable())
    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv(broken, target)
    assert not target.exists()


def test_failed_parquet_write_leaves_nothing(make_target: MakeTarget) -> None:
    target = make_target("broken.parquet", None)
    unsupported = pd.DataFrame({"value": [object(), object()]})
    with pytest.raises(Exception, match="object"):
        write_parquet(unsupported, target)
    assert not target.exists()


def test_failed_write_keeps_the_previous_file(make_target: MakeTarget, frame: pd.DataFrame) -> None:
    target = make_target("kept.csv", UTF8)
    write_csv(frame, target)
    broken = frame.astype({"city": object})
    broken.loc[10, "city"] = cast(Any, _Unprintable())
    with pytest.raises(RuntimeError):
        write_csv(broken, target)
    pd.testing.assert_frame_equal(read_csv(target), frame)


def test_reading_a_missing_file_raises(make_target: MakeTarget) -> None:
    with pytest.raises((FileNotFoundError, OSError)):
        read_csv(make_target("absent.csv", None))
    with pytest.raises((FileNotFoundError, OSError)):
        read_parquet(make_target("absent.parquet", None))
