"""RangeHourly, RangeByMinutes and RangeMonthly over LocalTarget outputs in tmp_path."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from dagcore.errors import ParameterException
from dagcore.task import Task
from dagcore.tools.range import (
    RangeByMinutes,
    RangeByMinutesBase,
    RangeHourly,
    RangeHourlyBase,
    RangeMonthly,
)

from . import range_tasks as rt

NOW = rt.epoch(datetime(2024, 1, 2, 12, 0))  # within a day of the ranges below
LATER = rt.epoch(datetime(2025, 1, 1))


def values(tasks: list[Task], name: str) -> list[object]:
    return [task.param_kwargs[name] for task in tasks]


@pytest.mark.parametrize("range_cls", [RangeHourly, RangeHourlyBase])
def test_hourly_requires_the_missing_hours_across_midnight(
    root: Path, range_cls: type[RangeHourlyBase]
) -> None:
    start = datetime(2024, 1, 1, 20)
    hours = [start + timedelta(hours=i) for i in range(9)]  # 20:00 .. 04:00 next day
    present = [hours[0], hours[3], hours[4], hours[8]]
    for hour in present:
        rt.touch(rt.RtHourly(hour=hour))
    wrapper = range_cls(
        of=rt.RtHourly, start=hours[0], stop=hours[-1] + timedelta(hours=1), now=NOW
    )
    assert values(wrapper.requires(), "hour") == [h for h in hours if h not in present]


def test_hourly_hours_back_and_reverse_limit(root: Path) -> None:
    now = datetime(2024, 1, 2, 5, 40)
    back = 6
    # now - 6h is 23:40; whole hours from 00:00 to 05:00 fall in the window.
    expected = [now.replace(minute=0) - timedelta(hours=k) for k in range(back - 1, -1, -1)]
    wrapper = RangeHourly(
        of=rt.RtHourly, start=datetime(2023, 1, 1), now=rt.epoch(now), hours_back=back
    )
    assert values(wrapper.requires(), "hour") == expected
    newest = RangeHourly(
        of=rt.RtHourly,
        start=datetime(2023, 1, 1),
        now=rt.epoch(now),
        hours_back=back,
        reverse=True,
        task_limit=2,
    )
    assert values(newest.requires(), "hour") == expected[::-1][:2]


def test_hourly_start_after_stop_is_refused(root: Path) -> None:
    wrapper = RangeHourly(
        of=rt.RtHourly, start=datetime(2024, 1, 2, 5), stop=datetime(2024, 1, 2, 4), now=NOW
    )
    with pytest.raises(ParameterException, match=r"RangeHourly\(of=RtHourly\).*2024-01-02T05"):
        wrapper.requires()


@pytest.mark.parametrize("range_cls", [RangeByMinutes, RangeByMinutesBase])
def test_by_minutes_requires_the_missing_slots(
    root: Path, range_cls: type[RangeByMinutesBase]
) -> None:
    interval = 15
    first = datetime(2024, 1, 1, 23, 0)
    slots = [first + timedelta(minutes=interval * i) for i in range(8)]
    present = slots[2:5]
    for slot in present:
        rt.touch(rt.RtMinutes(minute=slot))
    wrapper = range_cls(
        of=rt.RtMinutes,
        start=slots[0],
        stop=slots[-1] + timedelta(minutes=interval),
        minutes_interval=interval,
        now=NOW,
    )
    assert values(wrapper.requires(), "minute") == [s for s in slots if s not in present]


def test_by_minutes_aligns_an_odd_start_to_the_interval(root: Path) -> None:
    start = datetime(2024, 1, 2, 10, 7)
    wrapper = RangeByMinutes(
        of=rt.RtMinutes,
        start=start,
        stop=datetime(2024, 1, 2, 11, 0),
        minutes_interval=20,
        now=NOW,
    )
    # Slots sit at :00, :20, :40; 10:00 is before the start.
    assert values(wrapper.requires(), "minute") == [
        start.replace(minute=20),
        start.replace(minute=40),
    ]


def test_by_minutes_back_from_a_fixed_now(root: Path) -> None:
    now = datetime(2024, 1, 1, 10, 31)
    wrapper = RangeByMinutes(
        of=rt.RtMinutes,
        start=datetime(2023, 1, 1),
        now=rt.epoch(now),
        minutes_back=30,
        minutes_interval=10,
    )
    expected = [now.replace(minute=m) for m in (10, 20, 30)]  # 10:01 < slot <= 10:31
    assert values(wrapper.requires(), "minute") == expected


@pytest.mark.parametrize("interval", [0, 7, 60, -5])
def test_by_minutes_refuses_intervals_that_do_not_divide_an_hour(root: Path, interval: int) -> None:
    wrapper = RangeByMinutes(
        of=rt.RtMinutes,
        start=datetime(2024, 1, 1),
        stop=datetime(2024, 1, 2),
        minutes_interval=interval,
        now=NOW,
    )
    with pytest.raises(ParameterException, match=f"RangeByMinutes.*minutes_interval={interval}"):
        wrapper.requires()


def test_monthly_requires_the_missing_months(root: Path) -> None:
    months = [date(2023, 11, 1) + relativedelta(months=i) for i in range(6)]
    present = [months[1], months[4]]
    for month in present:
        rt.touch(rt.RtMonthly(month=month))
    wrapper = RangeMonthly(
        of=rt.RtMonthly,
        start=months[0],
        stop=months[-1] + relativedelta(months=1),
        now=LATER,
        months_back=24,
    )
    assert values(wrapper.requires(), "month") == [m for m in months if m not in present]


def test_monthly_months_back_from_a_fixed_now(root: Path) -> None:
    now = datetime(2024, 5, 17)
    wrapper = RangeMonthly(
        of=rt.RtMonthly,
        start=date(2000, 1, 1),
        now=rt.epoch(now),
        months_back=3,
        months_forward=1,
    )
    # Whole months from three before the current one up to, excluding, the month after it.
    expected = [date(2024, 5, 1) + relativedelta(months=k) for k in range(-3, 1)]
    assert values(wrapper.requires(), "month") == expected
