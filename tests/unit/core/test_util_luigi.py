"""dagcore.util beyond inherits/requires: delegates, previous, get_previous_completed."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from dagcore import date_interval
from dagcore.interface import build
from dagcore.parameter import (
    DateHourParameter,
    DateIntervalParameter,
    DateParameter,
    IntParameter,
    MonthParameter,
    Parameter,
)
from dagcore.task import Task
from dagcore.util import common_params, delegates, get_previous_completed, previous


class Power(Task):
    k = IntParameter()

    def f(self, x: int) -> int:
        return int(x**self.k)


class Prereq(Task):
    ran: list[str] = []

    def run(self) -> None:
        Prereq.ran.append("prereq")

    def complete(self) -> bool:
        return "prereq" in Prereq.ran


class PowerWithDeps(Power):
    def requires(self) -> Task:
        return Prereq()


@delegates
class Delegator(Task):
    results: list[int] = []

    def subtasks(self) -> list[Task]:
        return [PowerWithDeps(k=1), Power(k=2)]

    def run(self) -> None:
        subs: Any = self.subtasks()
        Delegator.results.append(subs[0].f(3) + subs[1].f(3))

    def complete(self) -> bool:
        return bool(Delegator.results)


def test_delegates_runs_subtasks_in_process_and_needs_their_requirements() -> None:
    task = Delegator()
    assert task.deps() == [Prereq()]
    Prereq.ran.clear()
    Delegator.results.clear()
    assert build([task], local_scheduler=True, log_level="WARNING")
    assert Prereq.ran == ["prereq"]
    assert Delegator.results == [3 + 9]


def test_delegates_needs_subtasks() -> None:
    with pytest.raises(AttributeError, match="subtasks"):

        @delegates
        class NoSubtasks(Task):
            pass


def test_common_params_refuses_swapped_arguments() -> None:
    with pytest.raises(TypeError, match="task_cls"):
        common_params(Power, Power(k=1))  # type: ignore[arg-type]
    assert common_params(PowerWithDeps(k=4), Power) == {"k": 4}


class Daily(Task):
    region = Parameter(default="eu")
    day = DateParameter()

    def complete(self) -> bool:
        return self.day == datetime.date(2024, 2, 27)


def test_previous_steps_the_time_parameter_back() -> None:
    class Hourly(Task):
        hour = DateHourParameter()

    class Weekly(Task):
        week = DateIntervalParameter()

    class Monthly(Task):
        month = MonthParameter()

    assert previous(Daily(day=datetime.date(2024, 3, 1), region="us")) == Daily(
        day=datetime.date(2024, 2, 29), region="us"
    )
    assert previous(Hourly(datetime.datetime(2024, 1, 1, 0))).hour == datetime.datetime(
        2023, 12, 31, 23
    )
    assert previous(Weekly(date_interval.Week(2024, 1))).week == date_interval.Week(2023, 52)
    assert previous(Monthly(datetime.date(2024, 3, 1))).month == datetime.date(2024, 2, 1)


def test_previous_needs_exactly_one_time_parameter() -> None:
    class Undated(Task):
        n = IntParameter()

    class TwoDates(Task):
        a = DateParameter()
        b = DateParameter()

    with pytest.raises(NotImplementedError, match="no date parameter"):
        previous(Undated(n=1))
    with pytest.raises(NotImplementedError, match="several"):
        previous(TwoDates(a=datetime.date(2024, 1, 1), b=datetime.date(2024, 1, 1)))


def test_get_previous_completed_looks_back_at_most_max_steps() -> None:
    task = Daily(day=datetime.date(2024, 3, 1))
    found = get_previous_completed(task, max_steps=3)
    assert found == Daily(day=datetime.date(2024, 2, 27))
    assert get_previous_completed(task, max_steps=2) is None
