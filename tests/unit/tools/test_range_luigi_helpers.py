"""Luigi's range helpers: globs from output paths, most_common, old-style overrides, wrappers."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter import DateHourParameter, DateParameter
from dagcore.task import Task, WrapperTask
from dagcore.tools.range import (
    RangeDaily,
    RangeDailyBase,
    RangeHourly,
    _constrain_glob,
    _get_filesystems_and_globs,
    _list_existing,
    most_common,
)


@pytest.fixture(autouse=True)
def _clear_mock_fs() -> None:
    MockFileSystem().clear()


def epoch(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1)).total_seconds())


class GlobHourly(Task):
    hour = DateHourParameter()

    def output(self) -> MockTarget:
        return MockTarget(self.hour.strftime("/data/v2/%Y-%m-%d/%H/part"))


class GlobOther(Task):
    hour = DateHourParameter()

    def output(self) -> MockTarget:
        return MockTarget(self.hour.strftime("/other/%Y%m%d/%H"))


class GlobBoth(WrapperTask):
    hour = DateHourParameter()

    def requires(self) -> Iterator[Task]:
        yield GlobHourly(self.hour)
        yield GlobOther(self.hour)


def test_most_common() -> None:
    assert most_common([3, 1, 3, 2, 1, 3]) == (3, 3)
    assert most_common("abca") == ("a", 2)
    with pytest.raises(ValueError, match="empty"):
        most_common([])


def test_constrain_glob_narrows_to_the_digits_present() -> None:
    glob = "/[0-9][0-9][0-9][0-9]/[0-9][0-9]"
    paths = ["/2023/11", "/2023/12", "/2024/01"]
    assert sorted(_constrain_glob(glob, paths)) == paths  # few enough to list one by one
    assert _constrain_glob(glob, paths, limit=1) == ["/202[3-4]/[0-9][0-9]"]
    for narrowed in (_constrain_glob(glob, paths, limit=1), _constrain_glob(glob, paths)):
        assert all(any(fnmatch.fnmatch(p, g) for g in narrowed) for p in paths)
    assert _constrain_glob("/plain/path", ["/plain/path"]) == ["/plain/path"]


def test_globs_are_inferred_per_output_location() -> None:
    found = _get_filesystems_and_globs(GlobBoth, lambda d: d.strftime("(%Y).*(%m).*(%d).*(%H)"))
    assert [(type(fs), glob) for fs, glob in found] == [
        (MockFileSystem, "/data/v2/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/[0-9][0-9]"),
        (MockFileSystem, "/other/[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"),
    ]


def test_a_path_without_the_date_cannot_be_globbed() -> None:
    class Undated(Task):
        hour = DateHourParameter()

        def output(self) -> MockTarget:
            return MockTarget("/static/file")

    with pytest.raises(NotImplementedError, match="/static/file"):
        _get_filesystems_and_globs(Undated, lambda d: d.strftime("(%Y).*(%m).*(%d).*(%H)"))


class GlobbingFileSystem(MockFileSystem):
    """A file system whose exists/listdir take globs, as HDFS's do."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.asked: list[str] = []

    def exists(self, path: str) -> bool:
        return any(fnmatch.fnmatch(p, path + "*") for p in self.paths)

    def listdir(self, path: str) -> list[str]:
        self.asked.append(path)
        return fnmatch.filter(self.paths, path + "*")


def test_list_existing_lists_the_narrowed_globs() -> None:
    stored = ["/d/2024-01-01/a", "/d/2024-01-02/a", "/d/2025-07-01/a"]
    fs = GlobbingFileSystem(stored)
    wanted = ["/d/2024-01-01/a", "/d/2024-01-02/a", "/d/2024-01-03/a"]
    listed = _list_existing(fs, "/d/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]", wanted)
    assert listed == {"/d/2024-01-01/a", "/d/2024-01-02/a"}
    assert all(g.startswith("/d/2024-01-0") for g in fs.asked)


class Daily(Task):
    d = DateParameter()

    def complete(self) -> bool:
        return self.d.day % 2 == 0


def test_format_range_writes_instants_as_the_parameter_does() -> None:
    task = RangeHourly(of=GlobHourly, start=datetime(2024, 1, 1))
    assert task._format_range([datetime(2024, 1, 2, 3), datetime(2024, 2, 1, 23)]) == (
        "[2024-01-02T03, 2024-02-01T23]"
    )


def test_old_style_missing_datetimes_override_still_works() -> None:
    seen: list[Any] = []

    class OldStyle(RangeDailyBase):
        def missing_datetimes(  # type: ignore[override]
            self, task_cls: Any, finite_datetimes: Any
        ) -> Any:
            seen.append(task_cls)
            return finite_datetimes[:2]

    task = OldStyle(
        of=Daily,
        start=date(2024, 1, 1),
        stop=date(2024, 1, 10),
        now=epoch(datetime(2024, 2, 1)),
    )
    with pytest.warns(DeprecationWarning, match="missing_datetimes"):
        required = task.requires()
    assert seen == [Daily]
    assert required == [Daily(date(2024, 1, 1)), Daily(date(2024, 1, 2))]


def test_wrapper_tasks_are_checked_by_listing_their_requirements_outputs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for hour in (0, 2):
        MockTarget(f"/data/v2/2024-01-01/{hour:02d}/part").open("w").close()
        MockTarget(f"/other/20240101/{hour:02d}").open("w").close()
    MockTarget("/other/20240101/01").open("w").close()  # only half of hour 1 exists
    task = RangeHourly(
        of=GlobBoth,
        start=datetime(2024, 1, 1, 0),
        stop=datetime(2024, 1, 1, 4),
        now=epoch(datetime(2024, 2, 1)),
    )
    checked: list[str] = []
    exists = MockFileSystem.exists

    def spy(fs: MockFileSystem, path: str) -> bool:
        checked.append(path)
        return exists(fs, path)

    monkeypatch.setattr(MockFileSystem, "exists", spy)
    assert task.requires() == [GlobBoth(datetime(2024, 1, 1, h)) for h in (1, 3)]
    assert checked == []  # answered by listings, not one exists() per output


def test_wrappers_over_a_custom_complete_are_checked_one_by_one() -> None:
    class WrapsDaily(WrapperTask):
        d = DateParameter()

        def requires(self) -> Task:
            return Daily(self.d)

    task = RangeDaily(
        of=WrapsDaily,
        start=date(2024, 1, 1),
        stop=date(2024, 1, 5),
        now=epoch(datetime(2024, 2, 1) + timedelta(hours=1)),
    )
    assert task.requires() == [WrapsDaily(date(2024, 1, day)) for day in (1, 3)]
