"""infer_bulk_complete_from_fs: a few directory listings give the same answer as complete()."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from dagcore.local_target import LocalFileSystem, LocalTarget
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter import DateParameter
from dagcore.task import Task
from dagcore.tools import range_listing
from dagcore.tools.range import RangeDaily, infer_bulk_complete_from_fs

from . import range_tasks as rt

JAN_1 = datetime(2024, 1, 1)


def instants(count: int, step: timedelta = timedelta(days=1)) -> list[datetime]:
    return [JAN_1 + step * i for i in range(count)]


class RtMocked(Task):
    """Outputs in the in-memory mock file system, two per day."""

    date = DateParameter()

    def output(self) -> list[MockTarget]:
        return [
            MockTarget(f"/warehouse/{self.date:%Y/%m}/{self.date:%d}.csv"),
            MockTarget(f"/warehouse/_flags/{self.date:%Y-%m-%d}"),
        ]


class RtDirectory(Task):
    """A directory per day: present when something was written inside it."""

    root: ClassVar[str] = "."
    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/dirs/{self.date:%Y-%m-%d}/")


class RtChanging(Task):
    """A task whose number of outputs changes over time."""

    date = DateParameter()

    def output(self) -> list[LocalTarget]:
        extra = [LocalTarget(f"extra/{self.date}")] if self.date.day > 2 else []
        return [LocalTarget(f"base/{self.date}"), *extra]


class RtNoDirectory(Task):
    """Relative outputs with no directory in common."""

    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.date:%Y-%m-%d}.txt")


@pytest.fixture
def listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the directories LocalFileSystem lists (the listing itself is the real one)."""
    seen: list[str] = []
    real = LocalFileSystem.listdir

    def recording(self: LocalFileSystem, path: str) -> Iterator[str]:
        seen.append(path)
        return real(self, path)

    monkeypatch.setattr(LocalFileSystem, "listdir", recording)
    return seen


def build(cls: type[Task]) -> Callable[[datetime], Task]:
    return lambda d: cls(date=d.date())


def checked_one_by_one(cls: type[Task], moments: Iterable[datetime]) -> list[datetime]:
    return [d for d in moments if not cls(date=d.date()).complete()]


@pytest.mark.parametrize("cls", [rt.RtDaily, rt.RtNestedDaily, rt.RtNaive])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_listing_agrees_with_complete_checks(root: Path, cls: type[Task], seed: int) -> None:
    moments = instants(120)
    chooser = random.Random(seed)
    for d in moments:
        if chooser.random() < 0.6:
            rt.touch(cls(date=d.date()))
    missing = infer_bulk_complete_from_fs(moments, lambda d: cls(date=d.date()))
    assert missing == checked_one_by_one(cls, moments)
    assert 0 < len(missing) < len(moments)


def test_nested_layouts_list_the_deepest_few_directories(root: Path, listings: list[str]) -> None:
    moments = instants(70)  # January to mid March
    for d in moments[::2]:
        rt.touch(rt.RtNestedDaily(date=d.date()))
    missing = infer_bulk_complete_from_fs(moments, lambda d: rt.RtNestedDaily(date=d.date()))
    assert missing == moments[1::2]
    assert listings == [f"{root}/nested/2024/{month:02d}/" for month in (1, 2, 3)]


def test_listing_roots_stop_before_exceeding_the_limit() -> None:
    paths = [f"/d/{y}/{m:02d}/x" for y in (2022, 2023) for m in range(1, 13)]
    assert range_listing._listing_roots(paths, limit=30) == sorted(
        {p.rsplit("/", 1)[0] + "/" for p in paths}
    )
    assert range_listing._listing_roots(paths, limit=10) == ["/d/2022/", "/d/2023/"]
    assert range_listing._listing_roots(paths, limit=1) == ["/d/"]
    # A file directly in a directory keeps that directory as the root.
    assert range_listing._listing_roots(["/d/a/1", "/d/b/2", "/d/3"], limit=10) == ["/d/"]


def test_directory_outputs_count_when_something_is_inside(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moments = instants(4)
    for d in moments[:2]:
        folder = root / "dirs" / f"{d:%Y-%m-%d}"
        folder.mkdir(parents=True)
        (folder / "part-0").write_text("x", encoding="utf-8")
    monkeypatch.setattr(RtDirectory, "root", str(root))
    assert infer_bulk_complete_from_fs(moments, build(RtDirectory)) == moments[2:]


def test_mock_file_system_outputs_are_listed_too() -> None:
    MockFileSystem().clear()
    moments = instants(40)
    for d in moments:
        first, second = RtMocked(date=d.date()).output()
        if d.day % 3:
            first.open("w").close()
        if d.day % 4:
            second.open("w").close()
    try:
        missing = infer_bulk_complete_from_fs(moments, build(RtMocked))
        assert missing == checked_one_by_one(RtMocked, moments)
        assert missing
    finally:
        MockFileSystem().clear()


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (rt.RtFlagged, "not a plain file system path"),
        (RtChanging, "number of outputs changes"),
        (RtNoDirectory, "share no directory"),
        (rt.RtConcurrent, "no outputs"),
    ],
)
def test_outputs_that_cannot_be_listed_are_refused(cls: type[Task], reason: str) -> None:
    with pytest.raises(NotImplementedError, match=reason):
        infer_bulk_complete_from_fs(instants(5), build(cls))


def test_ranges_fall_back_to_checks_when_listing_is_refused() -> None:
    moments = instants(5)
    for d in moments[1:3]:
        Path(f"{d:%Y-%m-%d}.txt").write_text("x", encoding="utf-8")  # the test's own cwd
    wrapper = RangeDaily(
        of=RtNoDirectory,
        start=date(2024, 1, 1),
        stop=date(2024, 1, 6),
        now=rt.epoch(datetime(2024, 2, 1)),
    )
    assert [t.param_kwargs["date"] for t in wrapper.requires()] == [
        moments[0].date(),
        moments[3].date(),
        moments[4].date(),
    ]


def test_no_instants_need_no_listing(listings: list[str]) -> None:
    assert infer_bulk_complete_from_fs([], build(rt.RtDaily)) == []
    assert listings == []
