"""Values that would not survive their string travel as themselves (celery_app.identity)."""

from __future__ import annotations

import decimal

import pytest

import dagcore
from celery_app.identity import build_task, travelling_values
from dagcore.errors import ExecutionError
from dagcore.graph import resolve


class Sized(dagcore.Task):
    size = dagcore.FloatParameter(default=20)
    name = dagcore.Parameter(default="x")

    def complete(self) -> bool:
        return False


def test_an_int_given_to_a_float_parameter_travels_as_itself() -> None:
    task = Sized()
    values = travelling_values(resolve([task]))
    assert values == {task.task_id: {"size": 20}}
    # The string alone parses back as 20.0, whose string is another task id's.
    assert Sized.size.serialize(Sized.size.parse(task.to_str_params()["size"])) == "20.0"
    rebuilt = build_task(Sized, task.to_str_params(), values[task.task_id])
    assert rebuilt.task_id == task.task_id and rebuilt.param_kwargs["size"] == 20


def test_values_that_survive_their_string_do_not_travel() -> None:
    assert travelling_values(resolve([Sized(size=2.5, name="y")])) == {}


def test_a_value_json_cannot_carry_is_refused_with_what_to_pass() -> None:
    with pytest.raises(ExecutionError, match=r"parameter 'size'.*pass 3.0"):
        travelling_values(resolve([Sized(size=decimal.Decimal("3"))]))
