"""Parameters on tasks: ids, visibility, positional use, errors Task raises, warnings, caching."""

from __future__ import annotations

import datetime
import enum
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import luigi.parameter
import pytest

import dagcore.parameter as p
from dagcore import freezing
from dagcore.errors import (
    DuplicateParameterException,
    MissingParameterException,
    OptionalParameterTypeWarning,
    ParameterException,
    UnknownParameterException,
)
from dagcore.freezing import FrozenDict
from dagcore.parameter.base import _no_value
from dagcore.task import Task

# Luigi's functions are untyped; go through Any so mypy --strict accepts the calls.
LUIGI: Any = luigi.parameter


class Shade(enum.Enum):
    LIGHT = 1
    DARK = 2


class VisibilityTask(Task):
    public = p.Parameter()
    hidden = p.Parameter(visibility=p.ParameterVisibility.HIDDEN)
    private = p.Parameter(visibility=p.ParameterVisibility.PRIVATE)
    insignificant = p.Parameter(significant=False)


class PositionalTask(Task):
    first = p.IntParameter()
    keyword_only = p.IntParameter(positional=False, default=0)
    second = p.IntParameter(default=2)


class EveryKindTask(Task):
    text = p.Parameter(default="t")
    number = p.IntParameter(default=1)
    day = p.DateParameter(default=datetime.date(2020, 1, 1))
    options = p.DictParameter(default={"a": [1, {"b": 2}]})
    items = p.ListParameter(default=[1, [2, 3]])
    pairs = p.TupleParameter(default=((1, 2),))
    shades = p.EnumListParameter(enum=Shade, default=(Shade.DARK,))
    span = p.TimeDeltaParameter(default=datetime.timedelta(hours=1))
    maybe = p.OptionalIntParameter(default=None)


def test_task_id_leaves_out_insignificant_hidden_and_private_parameters() -> None:
    task = VisibilityTask(public="a", hidden="b", private="c", insignificant="d")
    again = VisibilityTask(public="a", hidden="B", private="C", insignificant="D")
    other = VisibilityTask(public="x", hidden="b", private="c", insignificant="d")
    assert task.task_id == again.task_id
    assert task.task_id != other.task_id
    assert task.to_str_params() == {"public": "a", "hidden": "b", "insignificant": "d"}
    assert task.to_str_params(only_significant=True, only_public=True) == {"public": "a"}


def test_visibility_values_and_fallback() -> None:
    assert p.ParameterVisibility.has_value(2)
    assert not p.ParameterVisibility.has_value(3)
    assert p.ParameterVisibility.PRIVATE.serialize() == 2
    assert p.Parameter(visibility=7).visibility is p.ParameterVisibility.PUBLIC  # type: ignore[arg-type]
    assert p.Parameter().significant and not p.Parameter(significant=False).significant


def test_positional_arguments_follow_declaration_order_and_skip_non_positional() -> None:
    task = PositionalTask(5, 6)
    assert (task.first, task.second, task.keyword_only) == (5, 6, 0)
    with pytest.raises(UnknownParameterException, match="PositionalTask"):
        PositionalTask(1, 2, 3)


def test_is_global_is_deprecated_and_makes_the_parameter_keyword_only() -> None:
    with pytest.warns(DeprecationWarning, match="is_global"):
        param = p.Parameter(is_global=True)
    assert param.positional is False


def test_missing_parameter_names_task_and_parameter() -> None:
    with pytest.raises(MissingParameterException) as caught:
        PositionalTask()
    message = str(caught.value)
    assert "PositionalTask" in message and "'first'" in message
    assert "[PositionalTask]" in message  # says where to set it


def test_unknown_parameter_names_task_parameter_and_the_declared_ones() -> None:
    with pytest.raises(UnknownParameterException) as caught:
        PositionalTask(first=1, frist=2)
    message = str(caught.value)
    assert "PositionalTask" in message and "'frist'" in message and "first" in message


def test_duplicate_parameter_names_task_and_parameter() -> None:
    with pytest.raises(DuplicateParameterException) as caught:
        PositionalTask(1, first=1)
    assert "PositionalTask" in str(caught.value) and "'first'" in str(caught.value)


def test_task_errors_are_parameter_exceptions() -> None:
    for kind in (MissingParameterException, UnknownParameterException, DuplicateParameterException):
        assert issubclass(kind, ParameterException)
    assert p.MissingParameterException is MissingParameterException


def test_every_kind_of_value_is_hashable_and_tasks_are_cached() -> None:
    task = EveryKindTask()
    assert isinstance(task.options, FrozenDict)
    assert task.options == {"a": (1, {"b": 2})}
    assert task.items == (1, (2, 3))
    for _, value in task.param_kwargs.items():
        hash(value)
    assert EveryKindTask() is task
    assert EveryKindTask(options={"a": [1, {"b": 2}]}) is task
    assert EveryKindTask(options={"a": [1, {"b": 3}]}) is not task


def test_frozen_values_survive_pickling_with_a_fresh_hash() -> None:
    frozen = p.DictParameter().normalize({"key": ["v", {"n": 1}]})
    copy = pickle.loads(pickle.dumps(frozen))
    assert copy == frozen and hash(copy) == hash(frozen)
    assert pickle.loads(pickle.dumps(_no_value)) is _no_value


def test_task_round_trips_through_string_parameters() -> None:
    task = EveryKindTask(options={"é": [1]}, shades=[Shade.LIGHT, Shade.DARK], maybe=3)
    rebuilt = EveryKindTask.from_str_params(task.to_str_params())
    assert rebuilt.task_id == task.task_id
    assert rebuilt.options == {"é": (1,)} and rebuilt.shades == (Shade.LIGHT, Shade.DARK)


def test_plain_parameter_warns_on_non_string_values() -> None:
    with pytest.warns(UserWarning, match='"public" with value "5" is not of type string'):
        VisibilityTask(public=5, hidden="", private="", insignificant="")


def test_optional_parameters_warn_on_values_of_other_types() -> None:
    class OptionalWarnTask(Task):
        count = p.OptionalIntParameter(default=None)
        where = p.OptionalPathParameter(default=None)
        pick = p.OptionalNumericalParameter(var_type=int, min_value=0, max_value=9, default=None)

    with pytest.warns(OptionalParameterTypeWarning, match='type "int" or None'):
        OptionalWarnTask(count="3")
    with pytest.warns(OptionalParameterTypeWarning, match=r'any type in \["str", "Path"\]'):
        # Tasks warn on normalised values, which are Paths here; ask the parameter directly.
        OptionalWarnTask.where._warn_on_wrong_param_type("where", 3)
    with pytest.warns(OptionalParameterTypeWarning, match='type "int"'):
        OptionalWarnTask(pick=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OptionalWarnTask(count=None, where="a", pick=3)


def test_timedelta_parameter_warns_on_other_values() -> None:
    with pytest.warns(UserWarning, match="not of type timedelta"):
        p.TimeDeltaParameter()._warn_on_wrong_param_type("span", 5)


def test_task_parameter_parses_families_and_serialises_classes() -> None:
    class ParamTarget(Task):
        pass

    param = p.TaskParameter()
    assert param.parse("ParamTarget") is ParamTarget
    assert param.serialize(ParamTarget) == "ParamTarget"
    with pytest.raises(p.ParameterException, match="a task class"):
        param.serialize(int)  # type: ignore[arg-type]

    class Holder(Task):
        task_class = p.TaskParameter()

    holder = Holder.from_str_params({"task_class": "ParamTarget"})
    assert holder.task_class is ParamTarget
    assert holder.to_str_params() == {"task_class": "ParamTarget"}


def test_task_parameter_unknown_family_says_so_like_luigi_raises() -> None:
    from dagcore.errors import TaskClassNotFoundException

    with pytest.raises(TaskClassNotFoundException, match="NoSuchFamilyAnywhere"):
        p.TaskParameter().parse("NoSuchFamilyAnywhere")
    with pytest.raises(Exception, match="NoSuchFamilyAnywhere"):
        LUIGI.TaskParameter().parse("NoSuchFamilyAnywhere")


@pytest.mark.parametrize(
    ("param", "value", "following"),
    [
        (p.IntParameter(), 41, 42),
        (p.DateParameter(), datetime.date(2016, 2, 28), datetime.date(2016, 2, 29)),
        (p.DateParameter(interval=7), datetime.date(2020, 1, 2), datetime.date(2020, 1, 9)),
        (p.MonthParameter(), datetime.date(2019, 12, 1), datetime.date(2020, 1, 1)),
        (p.MonthParameter(interval=5), datetime.date(2019, 10, 1), datetime.date(2020, 3, 1)),
        (p.YearParameter(interval=10), datetime.date(2010, 1, 1), datetime.date(2020, 1, 1)),
        (
            p.DateHourParameter(interval=6),
            datetime.datetime(2021, 3, 27, 18),
            datetime.datetime(2021, 3, 28, 0),
        ),
        (
            p.DateMinuteParameter(interval=15),
            datetime.datetime(2021, 10, 31, 2, 45),
            datetime.datetime(2021, 10, 31, 3, 0),
        ),
        (
            p.DateSecondParameter(),
            datetime.datetime(1999, 12, 31, 23, 59, 59),
            datetime.datetime(2000, 1, 1),
        ),
        (p.FloatParameter(), 1.0, None),
        (p.Parameter(), "a", None),
        (p.OptionalIntParameter(), 1, None),
        (p.TimeDeltaParameter(), datetime.timedelta(1), None),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, p.Parameter) else str(v),
)
def test_next_in_enumeration_matches_luigi(param: Any, value: Any, following: Any) -> None:
    assert param.next_in_enumeration(value) == following
    twin = getattr(luigi.parameter, type(param).__name__)(
        **{k: getattr(param, k) for k in ("interval", "start") if hasattr(param, k)}
    )
    assert twin.next_in_enumeration(value) == following


def test_bool_parameter_defaults_to_false_and_knows_its_command_line_form() -> None:
    implicit = p.BoolParameter()
    explicit = p.BoolParameter(parsing=p.BoolParameter.EXPLICIT_PARSING)
    assert implicit.has_default and implicit.default is False
    assert implicit._parser_kwargs("flag", "Task") == {"action": "store_true", "dest": "Task_flag"}
    assert explicit._parser_kwargs("flag") == {
        "action": "store",
        "dest": "flag",
        "nargs": "?",
        "const": True,
    }
    # Luigi 3.8.1: every optional parameter, the bool one included, defaults to None.
    assert p.OptionalBoolParameter().default is None
    with pytest.raises(ParameterException, match="unknown parsing 'sometimes'"):
        p.BoolParameter(parsing="sometimes")


def test_bool_parsing_can_be_switched_for_the_whole_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(p.BoolParameter, "parsing", p.BoolParameter.EXPLICIT_PARSING)
    assert p.BoolParameter().parsing == "explicit"
    assert p.BoolParameter(parsing="implicit").parsing == "implicit"


def test_constructor_errors_say_what_is_missing() -> None:
    with pytest.raises(ParameterException, match="min_value, max_value must be given"):
        p.NumericalParameter(var_type=int)
    with pytest.raises(ParameterException, match="choices must be given"):
        p.ChoiceParameter()
    with pytest.raises(ParameterException, match="every choice must be a int"):
        p.ChoiceParameter(choices=[1, "2"], var_type=int)
    with pytest.raises(ParameterException, match="enum= class"):
        p.EnumParameter()
    with pytest.raises(ParameterException, match="enum= class"):
        p.EnumListParameter()
    with pytest.raises(ParameterException, match="'section' and 'name'"):
        p.Parameter(config_path={"section": "x"})


def test_descriptions_list_permitted_values() -> None:
    numerical = p.NumericalParameter(var_type=int, min_value=0, max_value=5, description="Size.")
    assert numerical.description == "Size. permitted values: int in [0, 5)"
    choice = p.ChoiceParameter(choices=["b", "a"])
    assert choice.description == "Choices: {b, a}"


def test_batch_method_combines_parsed_values() -> None:
    param = p.IntParameter(batch_method=max)
    assert param._is_batchable() and param._parse_list(["3", "11", "7"]) == 11
    with pytest.raises(NotImplementedError):
        p.IntParameter()._parse_list(["1"])
    with pytest.raises(ValueError, match="empty list"):
        param._parse_list([])


def test_class_access_gives_the_parameter_and_knows_its_name() -> None:
    assert isinstance(PositionalTask.first, p.IntParameter)
    assert PositionalTask.first._name == "first"
    assert repr(PositionalTask.second) == "IntParameter(default=2)"


def test_frozen_dicts_pickled_in_another_hash_seed_hash_correctly_here(tmp_path: Path) -> None:
    dumped = tmp_path / "frozen.pickle"
    script = (
        "import pickle, sys\n"
        "from dagcore.freezing import FrozenDict\n"
        "value = FrozenDict(alpha='a', beta=('b',))\n"
        "hash(value)\n"  # caches the hash under this process's seed
        "open(sys.argv[1], 'wb').write(pickle.dumps(value))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script, str(dumped)], check=True, env=env, timeout=60)
    loaded = pickle.loads(dumped.read_bytes())
    fresh = FrozenDict(alpha="a", beta=("b",))
    assert loaded == fresh and hash(loaded) == hash(fresh)
    assert {fresh: 1}[loaded] == 1


def test_luigi_freezing_names_are_available() -> None:
    assert freezing.FrozenOrderedDict is FrozenDict
    assert freezing.recursively_freeze([{"a": [1]}]) == ({"a": (1,)},)
    assert freezing.recursively_unfreeze(({"a": (1,)},)) == [{"a": [1]}]


class OptionalDateParameter(p.OptionalParameterMixin, p.DateParameter):
    """The Luigi recipe for an optional variant of any parameter class."""

    expected_type = datetime.date


def test_the_optional_mixin_makes_any_parameter_optional() -> None:
    param = OptionalDateParameter(interval=7)
    assert param.parse("") is None and param.serialize(None) == ""
    assert param.parse("2020-01-08") == datetime.date(2020, 1, 8)
    assert param.normalize(None) is None
    assert param.normalize(datetime.date(2020, 1, 8)) == datetime.date(2020, 1, 2)
    assert param.next_in_enumeration(datetime.date(2020, 1, 2)) is None
    with pytest.warns(OptionalParameterTypeWarning, match='type "date" or None'):
        param._warn_on_wrong_param_type("day", "2020-01-08")


@pytest.mark.parametrize(
    "first_import", ["dagcore.task_register", "dagcore.parameter.structured", "dagcore.task"]
)
def test_modules_import_in_any_order(first_import: str) -> None:
    # parameter.structured and task_register import each other; either may come first.
    script = (
        f"import {first_import}\n"
        "from dagcore.parameter import TaskParameter\n"
        "from dagcore.task import Task\n"
        "class Found(Task): pass\n"
        "assert TaskParameter().parse('Found') is Found\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", script], check=True, timeout=60)


def test_optional_parameters_without_a_default_give_none() -> None:
    class WithOptionals(Task):
        text = p.OptionalParameter()
        count = p.OptionalIntParameter()
        flag = p.OptionalBoolParameter()
        items = p.OptionalListParameter()

    task = WithOptionals()
    assert (task.text, task.count, task.flag, task.items) == (None, None, None, None)
    assert WithOptionals(count=3).count == 3
