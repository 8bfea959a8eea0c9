"""How typed parameters look to a type checker; mypy --strict checks this file with the tests.

Each ``assert_type`` fails type checking if the parameter's value type is not the one stated.
Annotating a parameter with its own class (``day: DateParameter = DateParameter()``) gives the
task's constructor a keyword argument of the value type; unannotated parameters (Luigi style)
still read as their value type on instances.
"""

from __future__ import annotations

import datetime
import enum
from pathlib import Path
from typing import Any, assert_type

import dagcore.parameter as p
from dagcore.date_interval import DateInterval, Month
from dagcore.freezing import FrozenDict
from dagcore.task import Task


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class TypedSample(Task):
    """One parameter of every kind, annotated so the constructor is typed."""

    name: p.Parameter = p.Parameter(default="n")
    text: p.StrParameter = p.StrParameter(default="t")
    count: p.IntParameter = p.IntParameter(default=1)
    ratio: p.FloatParameter = p.FloatParameter(default=0.5)
    flag: p.BoolParameter = p.BoolParameter()
    day: p.DateParameter = p.DateParameter(default=datetime.date(2020, 1, 1))
    month: p.MonthParameter = p.MonthParameter(default=datetime.date(2020, 1, 1))
    year: p.YearParameter = p.YearParameter(default=datetime.date(2020, 1, 1))
    hour: p.DateHourParameter = p.DateHourParameter(default=datetime.datetime(2020, 1, 1))
    minute: p.DateMinuteParameter = p.DateMinuteParameter(default=datetime.datetime(2020, 1, 1))
    second: p.DateSecondParameter = p.DateSecondParameter(default=datetime.datetime(2020, 1, 1))
    period: p.DateIntervalParameter = p.DateIntervalParameter(default=Month(2020, 1))
    span: p.TimeDeltaParameter = p.TimeDeltaParameter(default=datetime.timedelta(hours=1))
    level: p.EnumParameter[Level] = p.EnumParameter(enum=Level, default=Level.LOW)
    levels: p.EnumListParameter[Level] = p.EnumListParameter(enum=Level, default=())
    options: p.DictParameter = p.DictParameter(default={})
    items: p.ListParameter = p.ListParameter(default=[])
    pairs: p.TupleParameter = p.TupleParameter(default=())
    size: p.NumericalParameter[int] = p.NumericalParameter(
        var_type=int, min_value=0, max_value=10, default=1
    )
    pick: p.ChoiceParameter[str] = p.ChoiceParameter(choices=["a", "b"], default="a")
    picks: p.ChoiceListParameter[int] = p.ChoiceListParameter(
        var_type=int, choices=[1, 2], default=()
    )
    where: p.PathParameter = p.PathParameter(default=Path("."))
    task_class: p.TaskParameter = p.TaskParameter(default=Task)
    maybe_text: p.OptionalParameter = p.OptionalParameter(default=None)
    maybe_str: p.OptionalStrParameter = p.OptionalStrParameter(default=None)
    maybe_count: p.OptionalIntParameter = p.OptionalIntParameter(default=None)
    maybe_ratio: p.OptionalFloatParameter = p.OptionalFloatParameter(default=None)
    maybe_flag: p.OptionalBoolParameter = p.OptionalBoolParameter(default=None)
    maybe_options: p.OptionalDictParameter = p.OptionalDictParameter(default=None)
    maybe_items: p.OptionalListParameter = p.OptionalListParameter(default=None)
    maybe_pairs: p.OptionalTupleParameter = p.OptionalTupleParameter(default=None)
    maybe_size: p.OptionalNumericalParameter[float] = p.OptionalNumericalParameter(
        var_type=float, min_value=0.0, max_value=1.0, default=None
    )
    maybe_pick: p.OptionalChoiceParameter[str] = p.OptionalChoiceParameter(
        choices=["x"], default=None
    )
    maybe_where: p.OptionalPathParameter = p.OptionalPathParameter(default=None)


class LuigiStyle(Task):
    """Unannotated, as ported Luigi code is: instance attributes are still typed."""

    day = p.DateParameter()
    count = p.IntParameter(default=3)
    anything = p.Parameter()


def check_types(task: TypedSample, luigi_style: LuigiStyle) -> list[Any]:
    """Return every value; mypy checks each one's type on the way."""
    values: list[Any] = [
        assert_type(task.name, str),
        assert_type(task.text, str),
        assert_type(task.count, int),
        assert_type(task.ratio, float),
        assert_type(task.flag, bool),
        assert_type(task.day, datetime.date),
        assert_type(task.month, datetime.date),
        assert_type(task.year, datetime.date),
        assert_type(task.hour, datetime.datetime),
        assert_type(task.minute, datetime.datetime),
        assert_type(task.second, datetime.datetime),
        assert_type(task.period, DateInterval),
        assert_type(task.span, datetime.timedelta),
        assert_type(task.level, Level),
        assert_type(task.levels, tuple[Level, ...]),
        assert_type(task.options, FrozenDict),
        assert_type(task.items, tuple[Any, ...]),
        assert_type(task.pairs, tuple[Any, ...]),
        assert_type(task.size, int),
        assert_type(task.pick, str),
        assert_type(task.picks, tuple[int, ...]),
        assert_type(task.where, Path),
        assert_type(task.task_class, type[Task]),
        assert_type(task.maybe_text, str | None),
        assert_type(task.maybe_str, str | None),
        assert_type(task.maybe_count, int | None),
        assert_type(task.maybe_ratio, float | None),
        assert_type(task.maybe_flag, bool | None),
        assert_type(task.maybe_options, FrozenDict | None),
        assert_type(task.maybe_items, tuple[Any, ...] | None),
        assert_type(task.maybe_pairs, tuple[Any, ...] | None),
        assert_type(task.maybe_size, float | None),
        assert_type(task.maybe_pick, str | None),
        assert_type(task.maybe_where, Path | None),
        assert_type(luigi_style.day, datetime.date),
        assert_type(luigi_style.count, int),
        assert_type(luigi_style.anything, str),
    ]
    # Class access gives the parameter itself, with its typed methods.
    assert_type(TypedSample.day, p.DateParameter)
    assert_type(TypedSample.day.parse("2020-01-02"), datetime.date)
    assert_type(TypedSample.size.next_in_enumeration(3), int | None)
    return values


def build() -> tuple[TypedSample, LuigiStyle]:
    """Construct both tasks with arguments of the accepted input types."""
    task = TypedSample(
        count=2,
        ratio=3,  # an int is a fine float
        day=datetime.datetime(2020, 5, 6, 7),  # a datetime is a date
        month=Month(2020, 5),
        hour=datetime.date(2020, 5, 6),
        options={"a": [1]},
        items=[1, 2],
        levels=[Level.HIGH],
        picks=[2, 1],
        where="relative/path",
        maybe_count=None,
        maybe_items=[3],
        maybe_where="x",
    )
    return task, LuigiStyle(day=datetime.date(2021, 1, 1), anything="x")
