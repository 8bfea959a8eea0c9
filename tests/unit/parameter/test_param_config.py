"""Parameter values from the configuration: dagcore.toml, Luigi's INI files and ``set()``."""

from __future__ import annotations

import datetime
import enum
import textwrap
from pathlib import Path

import pytest

import dagcore.parameter as p
from dagcore.configuration import get_config
from dagcore.date_interval import Date, Month
from dagcore.errors import MissingParameterException, ParameterException
from dagcore.task import Task


class Tone(enum.Enum):
    SOFT = 1
    LOUD = 2


class ConfiguredTask(Task):
    count = p.IntParameter(default=1)
    ratio = p.FloatParameter(default=0.5)
    day = p.DateParameter(default=datetime.date(2000, 1, 1))
    month = p.MonthParameter(default=datetime.date(2000, 1, 1))
    tags = p.DictParameter(default={})
    items = p.ListParameter(default=[])
    tones = p.EnumListParameter(enum=Tone, default=())
    flag = p.BoolParameter()
    span = p.TimeDeltaParameter(default=datetime.timedelta(0))
    pick = p.ChoiceParameter(choices=[1, 2, 3], var_type=int, default=1)
    picks = p.ChoiceListParameter(choices=["a", "b"], default=())
    bounded = p.NumericalParameter(var_type=int, min_value=0, max_value=10, default=0)
    label = p.StrParameter(default="")
    period = p.DateIntervalParameter(default=Date(2000, 1, 1))
    maybe = p.OptionalIntParameter(default=3)


class RequiredTask(Task):
    needed = p.IntParameter()
    legacy = p.IntParameter(config_path={"section": "legacy", "name": "old-name"}, default=0)


def use_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setenv("DAGCORE_CONFIG_PATH", str(path))


def test_typed_toml_values_become_parameter_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_toml(
        tmp_path,
        monkeypatch,
        """
        [ConfiguredTask]
        count = 5
        ratio = 2
        day = 2020-02-29
        month = 2020-02-17
        tags = {a = 1, b = [1, {c = "é"}]}
        items = [1, [2, 3]]
        tones = ["LOUD", "SOFT"]
        flag = true
        span = 90
        pick = 3
        picks = ["b", "a"]
        bounded = 9
        label = 42
        period = 2020-01-02
        """,
    )
    task = ConfiguredTask()
    assert task.count == 5
    assert task.ratio == 2.0 and isinstance(task.ratio, float)
    assert task.day == datetime.date(2020, 2, 29)
    assert task.month == datetime.date(2020, 2, 1)
    assert task.tags == {"a": 1, "b": (1, {"c": "é"})}
    hash(task.tags)
    assert task.items == (1, (2, 3))
    assert task.tones == (Tone.LOUD, Tone.SOFT)
    assert task.flag is True
    assert task.span == datetime.timedelta(seconds=90)
    assert (task.pick, task.picks, task.bounded) == (3, ("b", "a"), 9)
    assert task.label == "42"
    assert task.period == Date(2020, 1, 2)


def test_toml_strings_are_parsed_like_command_line_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_toml(
        tmp_path,
        monkeypatch,
        """
        [ConfiguredTask]
        count = "7"
        day = "2021-03-28"
        month = "2021-03"
        tags = '{"x": [1]}'
        span = "1 h 30 m"
        period = "2021-03"
        maybe = ""
        """,
    )
    task = ConfiguredTask()
    assert (task.count, task.day, task.month) == (
        7,
        datetime.date(2021, 3, 28),
        datetime.date(2021, 3, 1),
    )
    assert task.tags == {"x": (1,)}
    assert task.span == datetime.timedelta(minutes=90)
    assert task.period == Month(2021, 3)
    assert task.maybe is None


def test_luigi_ini_values_are_read(tmp_path: Path) -> None:
    (tmp_path / "luigi.cfg").write_text(
        "[ConfiguredTask]\ncount = 11\nflag = TRUE\nitems = [1, 2]\n", encoding="utf-8"
    )
    task = ConfiguredTask()
    assert (task.count, task.flag, task.items) == (11, True, (1, 2))


def test_arguments_win_over_config_and_config_over_defaults() -> None:
    get_config().set("ConfiguredTask", "count", "7")
    assert ConfiguredTask().count == 7
    assert ConfiguredTask(count=8).count == 8
    assert ConfiguredTask().ratio == 0.5


def test_set_accepts_strings_and_typed_values() -> None:
    get_config().set("RequiredTask", "needed", 12)
    assert RequiredTask().needed == 12
    get_config().set("RequiredTask", "needed", "13")
    assert RequiredTask().needed == 13


def test_a_missing_required_value_says_where_to_set_it() -> None:
    assert not RequiredTask.needed.has_task_value("RequiredTask", "needed")
    with pytest.raises(MissingParameterException, match=r"\[RequiredTask\]"):
        RequiredTask.needed.task_value("RequiredTask", "needed")


def test_config_path_is_a_second_place_to_look() -> None:
    get_config().set("legacy", "old_name", "4")
    # Luigi's deprecation: the task's own section is where the value belongs.
    with pytest.warns(DeprecationWarning, match=r"\[legacy\] old-name is deprecated"):
        assert RequiredTask(needed=1).legacy == 4
    get_config().set("RequiredTask", "legacy", "5")
    assert RequiredTask(needed=1).legacy == 5


def test_dashes_and_underscores_in_option_names_are_the_same() -> None:
    get_config().set("legacy", "old-name", "6")
    with pytest.warns(DeprecationWarning) as caught:
        assert RequiredTask(needed=1).legacy == 6
    messages = [str(w.message) for w in caught]
    assert any("old-name (with dashes) should be avoided" in m for m in messages)


def test_a_bad_config_value_names_its_source_and_what_was_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_toml(tmp_path, monkeypatch, '[ConfiguredTask]\ncount = "many"\nbounded = 11\n')
    with pytest.raises(ValueError, match=r"settings.toml \[ConfiguredTask\] count.*an integer"):
        ConfiguredTask()
    get_config().set("ConfiguredTask", "count", 1)
    with pytest.raises(ParameterException, match=r"bounded.*int in \[0, 10\)"):
        ConfiguredTask()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        (p.IntParameter(), 1.5),
        (p.IntParameter(), True),
        (p.FloatParameter(), "x"),
        (p.TimeDeltaParameter(), [1]),
        (p.EnumListParameter(enum=Tone), 5),
        (p.EnumListParameter(enum=Tone), [1]),
        (p.ChoiceListParameter(choices=["a"]), 5),
        (p.ChoiceListParameter(choices=["a"]), ["b"]),
        (p.DateIntervalParameter(), 5),
        (p.EnumParameter(enum=Tone), 1),
        (p.NumericalParameter(var_type=int, min_value=0, max_value=2), 1.5),
        (p.NumericalParameter(var_type=int, min_value=0, max_value=2), 2),
        (p.NumericalParameter(var_type=int, min_value=0, max_value=2), "1"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_typed_config_values_of_the_wrong_type_are_rejected(
    param: p.Parameter[object], value: object
) -> None:
    # Strings are parsed, so the string case needs the value in the config to be a non-string.
    get_config().set("Somewhere", "value", [value] if isinstance(value, str) else value)
    with pytest.raises(ParameterException, match=r"\[Somewhere\] value"):
        param.task_value("Somewhere", "value")
