"""RangeDaily and RangeDailyBase: which days a range requires, in which order, and errors."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dagcore.errors import ParameterException
from dagcore.task import Task
from dagcore.tools.range import RangeDaily, RangeDailyBase, RangeEvent

from . import range_tasks as rt

JAN_1 = date(2024, 1, 1)
NOW = rt.epoch(datetime(2024, 3, 1, 12, 0))  # well after the January ranges below


def days(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def required_dates(tasks: list[Task]) -> list[date]:
    return [task.param_kwargs["date"] for task in tasks]


def make_present(cls: type[Task], present: list[date]) -> None:
    for day in present:
        rt.touch(cls(date=day))


@pytest.mark.parametrize("cls", [rt.RtDaily, rt.RtNestedDaily])
@pytest.mark.parametrize("range_cls", [RangeDaily, RangeDailyBase])
def test_requires_exactly_the_missing_days(
    root: Path, cls: type[Task], range_cls: type[RangeDailyBase]
) -> None:
    window = days(JAN_1, 14)
    present = window[1:3] + window[6:7] + window[10:]
    make_present(cls, present)

    wrapper = range_cls(of=cls, start=window[0], stop=window[-1] + timedelta(days=1), now=NOW)
    required = wrapper.requires()

    assert required_dates(required) == [d for d in window if d not in present]
    assert all(type(task) is cls and not task.complete() for task in required)
    assert not wrapper.complete()


def test_stop_is_exclusive_and_a_complete_range_requires_nothing(root: Path) -> None:
    window = days(JAN_1, 5)
    make_present(rt.RtDaily, window[:-1])
    assert RangeDaily(of=rt.RtDaily, start=window[0], stop=window[-1], now=NOW).requires() == []
    full = RangeDaily(of=rt.RtDaily, start=window[0], stop=window[-1], now=NOW)
    assert full.complete()
    wider = RangeDaily(of=rt.RtDaily, start=window[0], stop=window[-1] + timedelta(1), now=NOW)
    assert required_dates(wider.requires()) == [window[-1]]


def test_task_limit_takes_the_oldest_gaps(root: Path) -> None:
    window = days(JAN_1, 10)
    make_present(rt.RtDaily, window[::3])
    missing = [d for d in window if d not in window[::3]]
    wrapper = RangeDaily(
        of=rt.RtDaily, start=window[0], stop=window[-1] + timedelta(1), now=NOW, task_limit=3
    )
    assert required_dates(wrapper.requires()) == missing[:3]


def test_reverse_takes_the_newest_gaps_newest_first(root: Path) -> None:
    window = days(JAN_1, 10)
    make_present(rt.RtDaily, window[::3])
    missing = [d for d in window if d not in window[::3]]
    stop = window[-1] + timedelta(1)
    everything = RangeDaily(of=rt.RtDaily, start=window[0], stop=stop, now=NOW, reverse=True)
    assert required_dates(everything.requires()) == missing[::-1]
    limited = RangeDaily(
        of=rt.RtDaily, start=window[0], stop=stop, now=NOW, reverse=True, task_limit=2
    )
    assert required_dates(limited.requires()) == missing[::-1][:2]


def test_days_back_bounds_the_past_from_a_fixed_now(root: Path) -> None:
    now = datetime(2024, 1, 20, 9, 30)
    days_back = 5
    # Today counts (its midnight is before now); the day of now - days_back does not.
    expected = [now.date() - timedelta(days=k) for k in range(days_back - 1, -1, -1)]
    wrapper = RangeDaily(of=rt.RtDaily, start=JAN_1, now=rt.epoch(now), days_back=days_back)
    assert required_dates(wrapper.requires()) == expected


def test_days_forward_extends_past_now_and_reverse_needs_no_start(root: Path) -> None:
    now = datetime(2024, 1, 20, 9, 30)
    wrapper = RangeDaily(
        of=rt.RtDaily,
        stop=date(2030, 1, 1),
        now=rt.epoch(now),
        days_back=2,
        days_forward=3,
        reverse=True,
    )
    expected = [now.date() + timedelta(days=k) for k in range(-1, 4)]
    assert required_dates(wrapper.requires()) == expected[::-1]


def test_stop_before_the_moving_window_requires_nothing(root: Path) -> None:
    now = datetime(2024, 6, 1)
    wrapper = RangeDaily(
        of=rt.RtDaily, start=JAN_1, stop=date(2024, 1, 5), now=rt.epoch(now), days_back=10
    )
    assert wrapper.requires() == []


def test_start_after_stop_names_the_task_and_the_bounds(root: Path) -> None:
    wrapper = RangeDaily(of=rt.RtDaily, start=date(2024, 1, 10), stop=JAN_1, now=NOW)
    with pytest.raises(ParameterException) as caught:
        wrapper.requires()
    message = str(caught.value)
    for part in ("RangeDaily", "RtDaily", "start=2024-01-10", "stop=2024-01-01"):
        assert part in message


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({}, "give start, stop or both"),
        ({"stop": JAN_1}, "reverse=True"),
    ],
)
def test_unbounded_ranges_are_refused(root: Path, kwargs: dict[str, Any], hint: str) -> None:
    with pytest.raises(ParameterException, match="RangeDaily.*RtDaily") as caught:
        RangeDaily(of=rt.RtDaily, now=NOW, **kwargs).requires()
    assert hint in str(caught.value)


def test_of_params_and_param_name_reach_the_instances(root: Path) -> None:
    window = days(JAN_1, 4)
    for day in window[:2]:
        rt.touch(rt.RtRegional(region="us", date=day))
    for day in window[2:]:
        rt.touch(rt.RtRegional(region="eu", date=day))
    wrapper = RangeDaily(
        of=rt.RtRegional,
        of_params={"region": "us"},
        param_name="date",
        start=window[0],
        stop=window[-1] + timedelta(1),
        now=NOW,
    )
    required = wrapper.requires()
    assert required == [rt.RtRegional(region="us", date=day) for day in window[2:]]


def test_the_first_positional_parameter_is_the_default_param_name(root: Path) -> None:
    # RtRegional declares region first, so without param_name the dates would go there.
    wrapper = RangeDaily(of=rt.RtRegional, start=JAN_1, stop=date(2024, 1, 3), now=NOW)
    with pytest.raises(ParameterException):
        wrapper.requires()  # region gets a date, date gets nothing
    named = RangeDaily(
        of=rt.RtRegional,
        of_params={"region": "x"},
        param_name="date",
        start=JAN_1,
        stop=date(2024, 1, 3),
        now=NOW,
    )
    assert required_dates(named.requires()) == days(JAN_1, 2)


def test_bulk_complete_is_called_once_with_every_candidate(root: Path) -> None:
    window = days(JAN_1, 8)
    rt.RtBulk.done = set(window[::2])
    wrapper = RangeDaily(of=rt.RtBulk, start=window[0], stop=window[-1] + timedelta(1), now=NOW)
    required = wrapper.requires()
    assert len(rt.RtBulk.calls) == 1
    called_with, candidates = rt.RtBulk.calls[0]
    assert candidates == window
    assert called_with.get_task_family() == "RtBulk"
    assert required_dates(required) == window[1::2]
    wrapper.requires()
    assert len(rt.RtBulk.calls) == 1  # requires() is computed once per instance


def test_mixin_naive_bulk_complete_builds_instances_with_of_params(root: Path) -> None:
    window = days(JAN_1, 6)
    for day in window[:3]:
        rt.touch(rt.RtNaive(date=day, region="us"))
    for day in window[3:]:
        rt.touch(rt.RtNaive(date=day, region="eu"))
    wrapper = RangeDaily(
        of=rt.RtNaive,
        of_params={"region": "us"},
        start=window[0],
        stop=window[-1] + timedelta(1),
        now=NOW,
    )
    assert wrapper.requires() == [rt.RtNaive(date=day, region="us") for day in window[3:]]
    # Called directly, the default region (eu) applies; all three candidate forms work.
    candidates = [window[0], (window[4],), {"date": window[5]}]
    assert rt.RtNaive.bulk_complete(candidates) == candidates[1:]


def test_a_custom_complete_is_honoured_over_existing_files(root: Path) -> None:
    window = days(JAN_1, 4)
    make_present(rt.RtCustomComplete, window)
    rt.RtCustomComplete.validated = {window[0], window[2]}
    wrapper = RangeDaily(
        of=rt.RtCustomComplete, start=window[0], stop=window[-1] + timedelta(1), now=NOW
    )
    assert required_dates(wrapper.requires()) == [window[1], window[3]]


def test_outputs_that_are_not_paths_are_checked_one_by_one(root: Path) -> None:
    window = days(JAN_1, 5)
    rt.FlagTarget.flags = {f"{d:%Y-%m-%d}" for d in window[1:3]}
    wrapper = RangeDaily(of=rt.RtFlagged, start=window[0], stop=window[-1] + timedelta(1), now=NOW)
    assert required_dates(wrapper.requires()) == [window[0], *window[3:]]


@pytest.mark.parametrize("range_cls", [RangeDaily, RangeDailyBase])
def test_one_by_one_checks_run_concurrently(
    root: Path, monkeypatch: pytest.MonkeyPatch, range_cls: type[RangeDailyBase]
) -> None:
    window = days(JAN_1, 4)
    # Each complete() waits for all four: a sequential check would break the barrier.
    monkeypatch.setattr(rt.RtConcurrent, "barrier", threading.Barrier(len(window), timeout=10))
    wrapper = range_cls(
        of=rt.RtConcurrent, start=window[0], stop=window[-1] + timedelta(1), now=NOW
    )
    assert required_dates(wrapper.requires()) == window


def test_metrics_events_describe_the_window(root: Path) -> None:
    window = days(JAN_1, 10)
    make_present(rt.RtDaily, window[:4] + window[6:])
    seen: dict[str, tuple[Any, ...]] = {}

    class RtObservedRange(RangeDaily):
        pass

    for event in (RangeEvent.COMPLETE_COUNT, RangeEvent.COMPLETE_FRACTION, RangeEvent.DELAY):
        RtObservedRange.event_handler(event)(
            lambda *args, _event=event: seen.__setitem__(_event, args)
        )
    RtObservedRange(
        of=rt.RtDaily, start=window[0], stop=window[-1] + timedelta(1), now=NOW
    ).requires()
    present = len(window[:4] + window[6:])
    assert seen[RangeEvent.COMPLETE_COUNT] == ("RtDaily", present)
    assert seen[RangeEvent.COMPLETE_FRACTION] == ("RtDaily", present / len(window))
    assert seen[RangeEvent.DELAY] == ("RtDaily", len(window) - 4)


def test_string_parameters_round_trip_including_unset_bounds(root: Path) -> None:
    wrapper = RangeDaily(of=rt.RtDaily, start=JAN_1, reverse=True)
    strings = wrapper.to_str_params()
    assert strings["stop"] == "None" and strings["now"] == "None"
    assert strings["param_name"] == "None" and strings["of"] == "RtDaily"
    rebuilt = RangeDaily.from_str_params(strings)
    assert rebuilt.task_id == wrapper.task_id
    assert rebuilt.stop is None and rebuilt.now is None and rebuilt.param_name is None
    assert rebuilt.of is rt.RtDaily


def test_without_now_the_window_ends_at_the_current_utc_time(root: Path) -> None:
    today = datetime.now(UTC).date()
    wrapper = RangeDaily(of=rt.RtDaily, start=today - timedelta(days=3))
    required = required_dates(wrapper.requires())
    if datetime.now(UTC).date() != today:
        pytest.skip("the UTC date changed while the test ran")
    assert required == days(today - timedelta(days=3), 4)


def test_a_malformed_now_string_is_a_parameter_error(root: Path) -> None:
    strings = RangeDaily(of=rt.RtDaily, start=JAN_1, now=NOW).to_str_params()
    with pytest.raises(ParameterException, match="seconds since the epoch.*'soon'"):
        RangeDaily.from_str_params({**strings, "now": "soon"})
