"""Errors say what was expected, name the parameter, and have the kinds ported code catches."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import pytest

import dagcore.parameter as p
from dagcore.errors import ParameterException, ParameterTypeError, ParameterValueError
from dagcore.task import Task

from .parity import Case, compare


class Fruit(enum.Enum):
    APPLE = 1
    PEAR = 2


class NamedTask(Task):
    when = p.DateParameter(default=datetime.date(2020, 1, 1))


@pytest.mark.parametrize(
    ("param", "text", "hint"),
    [
        (p.IntParameter(), "ten", "an integer"),
        (p.FloatParameter(), "1,5", "a number"),
        (p.BoolParameter(), "yes", "true or false"),
        (p.DateParameter(), "10/07/2013", "2013-07-10 (format %Y-%m-%d)"),
        (p.MonthParameter(), "2013-13", "2013-07 (format %Y-%m)"),
        (p.YearParameter(), "13", "2013 (format %Y)"),
        (p.DateHourParameter(), "2013-07-10 19", "2013-07-10T19"),
        (p.DateMinuteParameter(), "2013-07-10T19:07", "2013-07-10T1907"),
        (p.DateSecondParameter(), "2013-07-10T19:07:38", "2013-07-10T190738"),
        (p.DateIntervalParameter(), "last week", "YYYY-Www"),
        (p.DateIntervalParameter(), "2015-02-30", "day is out of range"),
        (p.TimeDeltaParameter(), "soon", "ISO 8601"),
        (p.TimeDeltaParameter(), "1e400", "at most 999999999 days"),
        (p.EnumParameter(enum=Fruit), "KIWI", "Fruit: APPLE, PEAR"),
        (p.EnumListParameter(enum=Fruit), "APPLE,KIWI", "PEAR) at item 1, got 'KIWI'"),
        (p.ChoiceParameter(choices=["a", "b"]), "c", "one of: 'a', 'b'"),
        (p.ChoiceParameter(choices=[1, 2], var_type=int), "x", "a int among: 1, 2"),
        (p.ChoiceListParameter(choices=["a"]), "a,z", "one of: 'a', got 'z'"),
        (p.NumericalParameter(var_type=int, min_value=0, max_value=3), "3", "int in [0, 3)"),
        (p.DictParameter(), "{'a': 1}", "a JSON object"),
        (p.ListParameter(), "[1,", "a JSON array"),
        (p.TupleParameter(), "(1,", "Python tuple literal"),
        (p.TupleParameter(), '("abcd")', "Python tuple literal"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, p.Parameter) else None,
)
def test_parse_errors_say_what_was_expected(param: p.Parameter[Any], text: str, hint: str) -> None:
    with pytest.raises(ValueError) as caught:
        param.parse(text)
    assert isinstance(caught.value, ParameterValueError)
    message = str(caught.value)
    assert hint in message
    assert message.startswith(type(param).__name__)
    # The offending input is quoted: the whole string, or the bad item of a list.
    assert repr(text) in message or "got '" in message


def test_messages_name_the_parameter_when_it_is_declared_on_a_class() -> None:
    with pytest.raises(ParameterValueError, match="DateParameter 'when': expected"):
        NamedTask.when.parse("tomorrow")
    with pytest.raises(ParameterTypeError, match="DateParameter 'when'.*use parse"):
        NamedTask(when="2020-01-01")


def test_bad_values_are_type_errors_and_parameter_exceptions() -> None:
    cases: list[tuple[p.Parameter[Any], object]] = [
        (p.DateParameter(), "2020-01-01"),
        (p.DateHourParameter(), 5),
        (p.MonthParameter(), "2020-01"),
        (p.PathParameter(), None),
        (p.ChoiceListParameter(choices=["a"]), 5),
        (p.ChoiceParameter(choices=["a"]), ["a"]),
        (p.DictParameter(), {"a": {1, 2}}),
    ]
    for param, value in cases:
        with pytest.raises(TypeError) as caught:
            param.serialize(param.normalize(value))
        assert isinstance(caught.value, ParameterException), param


def test_schema_failures_name_the_place_in_the_value() -> None:
    param = p.DictParameter(schema={"type": "object", "properties": {"a": {"type": "integer"}}})
    with pytest.raises(ParameterValueError, match=r"at a: 'x' is not of type 'integer'"):
        param.normalize({"a": "x"})


def test_path_that_must_exist_says_so(tmp_path: Any) -> None:
    missing = tmp_path / "absent.csv"
    with pytest.raises(ParameterValueError, match="an existing path"):
        p.PathParameter(exists=True).normalize(missing)
    missing.write_text("x", encoding="utf-8")
    assert p.PathParameter(exists=True).normalize(str(missing)) == missing


def test_the_luigi_comparison_reports_real_differences() -> None:
    # The parity harness must not be vacuous: twins that differ are reported.
    def mismatched(ns: Any) -> Any:
        return (
            ns.parameter.IntParameter() if ns.name == "dagcore" else ns.parameter.FloatParameter()
        )

    problems = compare(Case("mismatch", mismatched, ["1.5", "2"], lambda ns: [3]))
    assert any("parse('1.5')" in line and "dagcore raised" in line for line in problems)
    assert any("parse('2')" in line and "results differ" in line for line in problems)

    def warns_differently(ns: Any) -> Any:
        return (
            ns.parameter.DateMinuteParameter()
            if ns.name == "luigi"
            else ns.parameter.DateMinuteParameter(interval=1)
        )

    assert compare(Case("same", warns_differently, ["2013-07-10T19H07"])) == []
