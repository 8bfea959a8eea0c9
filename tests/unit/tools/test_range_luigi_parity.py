"""The same range in Luigi and dagcore: equal task ids, and the same required task ids."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import luigi
import luigi.tools.range as luigi_range
import pytest
from luigi.task_register import Register as LuigiRegister

import dagcore.tools.range as dagcore_range
from dagcore.task import Task

from . import range_tasks as rt


def luigi_tasks(root: Path) -> dict[str, Any]:
    """Luigi twins of the dagcore test tasks: same family names, same output paths."""

    class RtDaily(luigi.Task):
        date = luigi.DateParameter()

        def output(self) -> Any:
            return luigi.LocalTarget(  # type: ignore[no-untyped-call]
                f"{root}/daily/{self.date:%Y-%m-%d}.txt"
            )

    class RtRegional(luigi.Task):
        region = luigi.Parameter()
        date = luigi.DateParameter()

        def output(self) -> Any:
            return luigi.LocalTarget(  # type: ignore[no-untyped-call]
                f"{root}/{self.region}/{self.date:%Y-%m-%d}.txt"
            )

    class RtHourly(luigi.Task):
        hour = luigi.DateHourParameter()

        def output(self) -> Any:
            return luigi.LocalTarget(  # type: ignore[no-untyped-call]
                f"{root}/hourly/{self.hour:%Y-%m-%d}/{self.hour:%H}.txt"
            )

    class RtMinutes(luigi.Task):
        minute = luigi.DateMinuteParameter()

        def output(self) -> Any:
            return luigi.LocalTarget(  # type: ignore[no-untyped-call]
                f"{root}/minutes/{self.minute:%Y-%m-%dT%H%M}.txt"
            )

    class RtMonthly(luigi.Task):
        month = luigi.MonthParameter()

        def output(self) -> Any:
            return luigi.LocalTarget(  # type: ignore[no-untyped-call]
                f"{root}/monthly/{self.month:%Y-%m}.txt"
            )

    return {cls.__name__: cls for cls in (RtDaily, RtRegional, RtHourly, RtMinutes, RtMonthly)}


@dataclass
class Case:
    range_name: str
    of: type[Task]
    present: list[Any]
    kwargs: dict[str, Any]
    of_params: dict[str, Any] = field(default_factory=dict)


NOW = rt.epoch(datetime(2024, 1, 20, 6, 30))
DAYS = [date(2024, 1, 1) + timedelta(days=i) for i in range(15)]
HOURS = [datetime(2024, 1, 19, 22) + timedelta(hours=i) for i in range(8)]
SLOTS = [datetime(2024, 1, 20, 1) + timedelta(minutes=15 * i) for i in range(12)]
MONTHS = [date(2023, m, 1) for m in range(1, 13)]

CASES = {
    "daily": Case(
        "RangeDaily",
        rt.RtDaily,
        DAYS[2:5] + DAYS[9:10],
        {"start": DAYS[0], "stop": DAYS[-1], "param_name": "date"},
    ),
    "daily-default-param-name": Case(
        "RangeDaily", rt.RtDaily, DAYS[::2], {"start": DAYS[0], "task_limit": 4}
    ),
    "daily-reverse-open-stop": Case(
        "RangeDaily",
        rt.RtDaily,
        DAYS[-3:],
        {"start": DAYS[0], "reverse": True, "task_limit": 5, "param_name": "date"},
    ),
    "daily-days-back": Case(
        "RangeDailyBase", rt.RtDaily, DAYS[-4:-2], {"start": DAYS[0], "days_back": 7}
    ),
    "regional-of-params": Case(
        "RangeDaily",
        rt.RtRegional,
        DAYS[5:8],
        {"start": DAYS[3], "stop": DAYS[12], "param_name": "date", "reverse": True},
        {"region": "us"},
    ),
    "hourly": Case(
        "RangeHourlyBase",
        rt.RtHourly,
        HOURS[1:3] + HOURS[6:],
        {"start": HOURS[0], "stop": HOURS[-1] + timedelta(hours=5), "hours_forward": 2},
    ),
    "by-minutes": Case(
        "RangeByMinutes",
        rt.RtMinutes,
        SLOTS[3:6],
        {
            "start": SLOTS[0],
            "minutes_interval": 15,
            "minutes_back": 24 * 60,
            "param_name": "minute",
        },
    ),
    "monthly": Case(
        "RangeMonthly",
        rt.RtMonthly,
        MONTHS[4:7],
        {"start": MONTHS[0], "stop": date(2024, 3, 1), "months_back": 24},
    ),
}


@pytest.fixture
def luigi_cache() -> Iterator[None]:
    LuigiRegister.clear_instance_cache()  # type: ignore[no-untyped-call]
    yield
    LuigiRegister.clear_instance_cache()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("name", sorted(CASES))
def test_luigi_and_dagcore_require_the_same_task_ids(
    root: Path, luigi_cache: None, name: str
) -> None:
    case = CASES[name]
    param = case.of.get_param_names()[-1]  # the time parameter is declared last
    for value in case.present:
        rt.touch(case.of(**case.of_params, **{param: value}))
    luigi_of = luigi_tasks(root)[case.of.__name__]
    kwargs = {"now": NOW, **case.kwargs}

    with warnings.catch_warnings():
        # Luigi warns that its own param_name default (None) is not a string.
        warnings.filterwarnings("ignore", 'Parameter "param_name"', UserWarning)
        theirs = getattr(luigi_range, case.range_name)(
            of=luigi_of, of_params=case.of_params, **kwargs
        )
    ours = getattr(dagcore_range, case.range_name)(of=case.of, of_params=case.of_params, **kwargs)

    assert ours.task_id == theirs.task_id
    assert ours.to_str_params() == theirs.to_str_params()
    their_ids = [task.task_id for task in theirs.requires()]
    assert [task.task_id for task in ours.requires()] == their_ids
    assert their_ids  # every case leaves something to do
