"""Differential test: task ids of tasks with every kind of parameter equal Luigi's."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import luigi
import pytest

import dagcore


class Color(enum.Enum):
    RED = 1
    BLUE = 2


def _pair(name: str, make: Any) -> tuple[type[dagcore.Task], type[luigi.Task]]:
    """The same task family declared in dagcore and in Luigi, from one parameter factory."""
    ours = type(name, (dagcore.Task,), {"__module__": __name__, **make(dagcore)})
    theirs = type(name, (luigi.Task,), {"__module__": __name__, **make(luigi)})
    return ours, theirs


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("IdInts", lambda m: {"a": m.IntParameter(), "b": m.IntParameter(default=7)}, {"a": -3}),
    (
        "IdMixed",
        lambda m: {
            "day": m.DateParameter(),
            "ratio": m.FloatParameter(default=0.1),
            "flag": m.BoolParameter(default=True),
            "label": m.Parameter(default="with spaces/and:colons-and-a-very-long-tail"),
        },
        {"day": dt.date(2024, 2, 29)},
    ),
    (
        "IdStructured",
        lambda m: {
            "items": m.ListParameter(),
            "opts": m.DictParameter(default={"z": [1, 2], "a": {"b": "ü"}}),
            "pair": m.TupleParameter(default=((1, 2), (3, 4))),
        },
        {"items": [3, 1, 2]},
    ),
    (
        "IdTimes",
        lambda m: {
            "hour": m.DateHourParameter(),
            "minute": m.DateMinuteParameter(default=dt.datetime(2024, 1, 1, 10, 30)),
            "month": m.MonthParameter(default=dt.date(2024, 5, 1)),
            "delta": m.TimeDeltaParameter(default=dt.timedelta(hours=25, seconds=3)),
        },
        {"hour": dt.datetime(2023, 12, 31, 23)},
    ),
    (
        "IdChoices",
        lambda m: {
            "color": m.EnumParameter(enum=Color),
            "colors": m.EnumListParameter(enum=Color, default=(Color.BLUE, Color.RED)),
            "mode": m.ChoiceParameter(choices=["fast", "slow"], default="slow"),
            "n": m.NumericalParameter(var_type=int, min_value=0, max_value=10, default=3),
        },
        {"color": Color.RED},
    ),
    (
        "IdHidden",
        lambda m: {
            "shown": m.Parameter(),
            "hidden": m.Parameter(default="h", visibility=m.parameter.ParameterVisibility.HIDDEN),
            "insignificant": m.Parameter(default="x", significant=False),
            "opt": m.OptionalParameter(default=None),
        },
        {"shown": "s"},
    ),
]


@pytest.mark.parametrize(("name", "make", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_task_id_matches_luigi(name: str, make: Any, kwargs: dict[str, Any]) -> None:
    ours, theirs = _pair(name, make)
    ours_task, theirs_task = ours(**kwargs), theirs(**kwargs)
    assert ours_task.task_id == theirs_task.task_id
    assert repr(ours_task) == repr(theirs_task)
    luigi_params = theirs_task.to_str_params()  # type: ignore[no-untyped-call]
    assert ours_task.to_str_params() == luigi_params
    rebuilt = ours.from_str_params(ours_task.to_str_params())
    assert rebuilt.task_id == ours_task.task_id
