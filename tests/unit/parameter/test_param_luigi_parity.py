"""Every parameter class beside Luigi's own, on a shared corpus of strings and values.

See :mod:`.parity` for what is compared. Known, deliberate differences are flagged on their
case (``parse_normalized``, ``serialize_deviates``) and tested separately below.
"""

from __future__ import annotations

import datetime
import enum
import operator
from pathlib import Path
from typing import Any

import jsonschema
import luigi.parameter
import pytest

import dagcore.parameter as dp

from .parity import Case, compare, plain

# Luigi's functions are untyped; go through Any so mypy --strict accepts the calls.
LUIGI: Any = luigi.parameter


class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3
    ÉCRU = 4


UTC = datetime.UTC
PARIS_SUMMER = datetime.timezone(datetime.timedelta(hours=2))
THIS_FILE = str(Path(__file__).resolve())

TEXTS = ["", "abc", "ünïcødé ✓", " padded ", "None", "null", "0", "a,b", "x" * 300]

INT_STRINGS = ["0", "-5", "+7", " 42 ", "1_000", "٣", "10" * 12, "abc", "", "1.5", "0x10", "1e3"]
FLOAT_STRINGS = ["1.5", "-0", "-0.0", "1e3", "inf", "-inf", "nan", " 2 ", "1_0.5", "abc", "", ".5"]
BOOL_STRINGS = ["true", "True", "TRUE", "false", "False", "fAlSe", "yes", "1", "0", "", " true"]
BOOL_VALUES = plain(True, False, "true", "False", "TRUE", 1, 0, None, "maybe", 1.0)

DATE_STRINGS = [
    "2013-07-10",
    "2013-7-1",
    "2016-02-29",
    "2015-02-29",
    "2000-02-29",
    "1900-02-29",
    "2021-03-28",
    "2021-10-31",
    "2021-03-14",
    "2021-11-07",  # DST switches in EU and US
    "2013/07/10",
    "",
    "2013-07-10T10",
    "2013-07-10 ",
    "0001-01-01",
    "9999-12-31",
    "20130710",
    "1969-12-31",
    "２０１３-０７-１０",
    "1970-01-01",
]
MONTH_STRINGS = ["2013-07", "2013-7", "2013-13", "2013-00", "2013", "2013-07-10", "", "0001-01"]
YEAR_STRINGS = ["2013", "13", "abcd", "0999", "2013-01", "", "9999"]
HOUR_STRINGS = [
    "2013-07-10T19",
    "2013-07-10T24",
    "2013-07-10T00",
    "2013-07-10",
    "2021-03-28T02",
    "2021-10-31T02",
    "2013-07-10 19",
    "2016-02-29T23",
    "",
]
MINUTE_STRINGS = [
    "2013-07-10T1907",
    "2013-07-10T19H07",
    "2013-07-10T19:07",
    "2013-07-10T1960",
    "2021-03-28T0230",
    "2013-07-10T19",
    "",
]
SECOND_STRINGS = [
    "2013-07-10T190738",
    "2013-07-10T1907",
    "2013-07-10T190760",
    "2021-10-31T025959",
    "",
]
INTERVAL_STRINGS = [
    "2015",
    "2015-05",
    "2015-W35",
    "2015-11-04",
    "2015-11-04-2015-12-04",
    "2015-12-04-2015-11-04",
    "2015-13",
    "2015-W54",
    "2009-W53",
    "2010-W53",
    "2015-W00",
    "2015-02-30",
    "2016-02-29",
    "2015/11",
    "",
    "15",
    "2015-11-04\n",
    "2015-11-04-2015-12",
    "2015-W5",
    "2015-11-04x",
    "２０１５-１１-０４",
    "２０１５-W３５",
]
DURATION_STRINGS = [
    "5",
    "-5",
    "1.5",
    "0",
    "1e3",
    "inf",
    "nan",
    "1e400",
    "1e15",
    " 7 ",
    "P1D",
    "PT1H",
    "P1W",
    "P1W2D",
    "P2DT3H4M5S",
    "PT",
    "P",
    "P0D",
    "PT0S",
    "P1DT",
    "PT90M",
    "1 w",
    "1 week 2 days",
    "2 weeks",
    "1 h",
    "1 hour 30 minutes",
    "1h30m",
    "10 s",
    "3 d 4 h 5 m 6 s",
    "1 d garbage",
    "garbage",
    "",
    "1 m 1 h",
    "1 minute",
    "5 seconds",
    "0 d",
    "2 hours",
    "1 wk",
]
DURATION_VALUES = plain(
    datetime.timedelta(0),
    datetime.timedelta(days=8, hours=3, minutes=4, seconds=5, microseconds=6),
    datetime.timedelta(seconds=-5),
    datetime.timedelta(weeks=3000),
    datetime.timedelta.max,
    datetime.timedelta.min,
)
DICT_STRINGS = [
    '{"a": 1}',
    '{"b": {"c": [1, 2, {"d": "é"}]}}',
    '{"ü": "ß", "✓": null}',
    "[1, 2]",
    '"x"',
    "null",
    "{bad",
    "",
    '{"a": 1, "a": 2}',
    '{"z": 1, "a": 2}',
    "{}",
    '{"n": NaN}',
    "5",
]
DICT_VALUES = plain(
    {"a": [1, {"b": 2}]}, {}, {"z": 1, "a": 2}, {1: "int key"}, {"é": ("x", ["y"])}, [1, 2], "s"
)
LIST_STRINGS = [
    "[1, 2, 3]",
    "[]",
    '[[1, 2], {"a": "é"}]',
    '"abc"',
    "5",
    "null",
    "[1,",
    "",
    '{"a": 1}',
    '["✓", 1.5, true, null]',
]
LIST_VALUES = plain([1, 2], [[1], [2]], (), "abc", ({"a": [1]},), [{"k": {"n": [1, [2]]}}])
TUPLE_STRINGS = [
    "[[1, 2], [3, 4]]",
    "((1,2),(3,4))",
    "[1, 2]",
    "(1,2)",
    '("abcd")',
    '"abc"',
    "[null]",
    "[true]",
    "5",
    "(1,",
    '[["a"], "b"]',
    '[{"a": 1}]',
    "null",
    "",
    "[]",
    "()",
    "[[[1]]]",
    "{1, 2}",
    "('é', 'ß')",
]
TUPLE_VALUES = plain([1, 2], ((1, 2), (3, 4)), [[1, [2]]], ())

OBJECT_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer", "minimum": 0}},
    "required": ["a"],
}
ARRAY_SCHEMA = {"type": "array", "items": {"type": "number", "maximum": 10}, "minItems": 1}


def param(name: str, **kwargs: Any) -> Any:
    """A builder calling ``ns.parameter.<name>(**kwargs)``."""
    return lambda ns: getattr(ns.parameter, name)(**kwargs)


def intervals(ns: Any) -> list[Any]:
    di = ns.date_interval
    return [
        di.Date(2015, 11, 4),
        di.Week(2015, 35),
        di.Month(2015, 12),
        di.Year(2015),
        di.Custom(datetime.date(2015, 1, 1), datetime.date(2015, 3, 1)),
        "2015",
    ]


CASES: list[Case] = [
    # -- strings and numbers -------------------------------------------------------------------
    Case("Parameter", param("Parameter"), TEXTS, plain("abc", "", 5, None, ("t",))),
    Case("StrParameter", param("StrParameter"), TEXTS, plain("abc", 5, None)),
    Case("IntParameter", param("IntParameter"), INT_STRINGS, plain(0, -3, 10**20, "5", None)),
    Case("FloatParameter", param("FloatParameter"), FLOAT_STRINGS, plain(1.5, 2, float("nan"))),
    Case("BoolParameter", param("BoolParameter"), BOOL_STRINGS, BOOL_VALUES),
    Case(
        "BoolParameter explicit",
        param("BoolParameter", parsing="explicit", default=True),
        BOOL_STRINGS,
        BOOL_VALUES,
    ),
    Case(
        "NumericalParameter int [-3, 7)",
        param("NumericalParameter", var_type=int, min_value=-3, max_value=7),
        ["-3", "6", "7", "-4", "3.5", "abc", "", " 5 ", "+2"],
        plain(5, 100, "x", None),
    ),
    Case(
        "NumericalParameter float (0, 1]",
        param(
            "NumericalParameter",
            var_type=float,
            min_value=0.0,
            max_value=1.0,
            left_op=operator.lt,
            right_op=operator.le,
        ),
        ["0", "0.0", "1", "1.0", "0.5", "nan", "inf", "-0.0", "1e-9", "1.0000001"],
        plain(0.5, 2.0),
    ),
    Case(
        "NumericalParameter float [0, 1] (le, le)",
        param(
            "NumericalParameter",
            var_type=float,
            min_value=0.0,
            max_value=1.0,
            right_op=operator.le,
        ),
        ["0", "1", "1.5"],
    ),
    Case(
        "ChoiceParameter str",
        param("ChoiceParameter", choices=["a", "b", "ü"]),
        ["a", "ü", "d", "", "A", " a"],
        plain("a", "z", ["a"], None),
    ),
    Case(
        "ChoiceParameter int",
        param("ChoiceParameter", choices=[1, 2, 3], var_type=int),
        ["1", "4", "x", "", " 2", "1.0"],
        plain(1, 4, "1", 1.0, True),
    ),
    Case(
        "ChoiceParameter float",
        param("ChoiceParameter", choices=[0.1, 0.2], var_type=float),
        ["0.1", "0.10", "0.3", "1e-1"],
        plain(0.1, 0.3),
    ),
    Case(
        "ChoiceListParameter str",
        param("ChoiceListParameter", choices=["a", "b", "ü"]),
        ["a,b", "", "a", "a,,b", "a,d", "b,a,b", "ü,a"],
        plain(["a", "b"], ("a",), "ab", ["z"], 5, []),
    ),
    Case(
        "ChoiceListParameter int",
        param("ChoiceListParameter", choices=[1, 2], var_type=int),
        ["1,2", "1,3", "", "x"],
        plain([1, 2], [3]),
        serialize_deviates=True,
    ),
    Case(
        "EnumParameter",
        param("EnumParameter", enum=Color),
        ["RED", "red", "", "BLUE", "ÉCRU", "1"],
        plain(Color.RED, "RED", None, Color.ÉCRU),
    ),
    Case(
        "EnumListParameter",
        param("EnumListParameter", enum=Color),
        ["RED,GREEN", "", "RED", "RED,,GREEN", "RED,PURPLE", "BLUE,BLUE", "ÉCRU,RED"],
        plain((Color.RED,), [Color.RED, Color.GREEN], (), "RED"),
    ),
    Case(
        "PathParameter",
        param("PathParameter"),
        ["a/b", "/tmp/x", "", "~", "./a/../b", "ü/✓"],
        plain(Path("a"), "a/b", None, 5),
        parse_normalized=True,
    ),
    Case(
        "PathParameter absolute",
        param("PathParameter", absolute=True),
        ["a/b", "/tmp/x", "."],
        plain(Path("rel"), "/abs"),
        parse_normalized=True,
    ),
    Case(
        "PathParameter exists",
        param("PathParameter", exists=True),
        [THIS_FILE, "/nonexistent/dagcore/parity"],
        plain(Path(THIS_FILE), "/nonexistent/dagcore/parity"),
        parse_normalized=True,
    ),
    # -- dates and times -----------------------------------------------------------------------
    Case(
        "DateParameter",
        param("DateParameter"),
        DATE_STRINGS,
        plain(
            datetime.date(2016, 2, 29),
            datetime.datetime(2021, 3, 28, 2, 30),
            datetime.datetime(2021, 10, 31, 2, 30, tzinfo=PARIS_SUMMER),
            "2013-07-10",
            None,
            datetime.date.min,
            datetime.date.max,
        ),
    ),
    Case(
        "DateParameter interval=3",
        param("DateParameter", interval=3, start=datetime.date(2020, 1, 1)),
        ["2020-01-01", "2020-01-03", "2019-12-31", "2020-02-29"],
        plain(datetime.date(2019, 12, 31), datetime.date(2020, 1, 4), datetime.date(2024, 2, 29)),
    ),
    Case(
        "DateParameter interval=7",
        param("DateParameter", interval=7),
        ["2013-07-10"],
        plain(datetime.date(1969, 12, 25), datetime.date(2013, 7, 10)),
    ),
    Case(
        "MonthParameter",
        param("MonthParameter"),
        MONTH_STRINGS,
        lambda ns: [
            datetime.date(2013, 7, 10),
            datetime.datetime(2016, 2, 29, 23),
            ns.date_interval.Month(2013, 7),
            None,
            "2013-07",
            datetime.date(1, 1, 31),
        ],
    ),
    Case(
        "MonthParameter interval=3",
        param("MonthParameter", interval=3, start=datetime.date(2000, 2, 1)),
        ["2000-01", "2000-02", "2000-05", "1999-12"],
        lambda ns: [datetime.date(2000, 1, 15), ns.date_interval.Month(2000, 4)],
    ),
    Case(
        "YearParameter",
        param("YearParameter"),
        YEAR_STRINGS,
        lambda ns: [datetime.date(2013, 7, 10), ns.date_interval.Year(2013), None, "2013"],
    ),
    Case(
        "YearParameter interval=5",
        param("YearParameter", interval=5, start=datetime.date(2001, 1, 1)),
        ["2001", "2005", "2006", "1999"],
        lambda ns: [datetime.date(2010, 6, 1), ns.date_interval.Year(1996)],
    ),
    Case(
        "DateHourParameter",
        param("DateHourParameter"),
        HOUR_STRINGS,
        plain(
            datetime.datetime(2013, 7, 10, 19, 30, 15, 123456),
            datetime.date(2013, 7, 10),
            datetime.datetime(2021, 3, 28, 2, 30, tzinfo=UTC),
            "2013-07-10T19",
            None,
        ),
    ),
    Case(
        "DateHourParameter interval=6",
        param("DateHourParameter", interval=6, start=datetime.datetime(2000, 1, 1, 3)),
        ["2013-07-10T19", "2000-01-01T02", "1999-12-31T21"],
        plain(datetime.datetime(2021, 3, 28, 14, 30, 5), datetime.datetime(1960, 5, 5, 5)),
    ),
    Case(
        "DateHourParameter aware start",
        param("DateHourParameter", interval=2, start=datetime.datetime(1970, 1, 1, tzinfo=UTC)),
        [],
        plain(
            datetime.datetime(2021, 3, 28, 3, 30, tzinfo=PARIS_SUMMER),
            datetime.datetime(2021, 3, 28, 3, 30),
        ),
    ),
    Case(
        "DateMinuteParameter",
        param("DateMinuteParameter"),
        MINUTE_STRINGS,
        plain(datetime.datetime(2013, 7, 10, 19, 7, 59, 999999), datetime.date(2013, 7, 10)),
    ),
    Case(
        "DateMinuteParameter interval=15",
        param("DateMinuteParameter", interval=15),
        ["2013-07-10T1907", "2013-07-10T1915"],
        plain(datetime.datetime(2013, 7, 10, 19, 59), datetime.datetime(1969, 12, 31, 23, 59)),
    ),
    Case(
        "DateSecondParameter",
        param("DateSecondParameter"),
        SECOND_STRINGS,
        plain(datetime.datetime(2013, 7, 10, 19, 7, 38, 500000)),
    ),
    Case(
        "DateSecondParameter interval=30",
        param("DateSecondParameter", interval=30, start=datetime.datetime(2000, 1, 1, 0, 0, 7)),
        ["2013-07-10T190738", "2000-01-01T000006"],
        plain(datetime.datetime(2013, 7, 10, 19, 7, 38)),
    ),
    Case("DateIntervalParameter", param("DateIntervalParameter"), INTERVAL_STRINGS, intervals),
    Case("TimeDeltaParameter", param("TimeDeltaParameter"), DURATION_STRINGS, DURATION_VALUES),
    # -- structures ----------------------------------------------------------------------------
    Case("DictParameter", param("DictParameter"), DICT_STRINGS, DICT_VALUES),
    Case(
        "DictParameter schema",
        param("DictParameter", schema=OBJECT_SCHEMA),
        ['{"a": 1}', '{"a": -1}', '{"b": 1}', '{"a": "x"}'],
        plain({"a": 1}, {"a": -1}, {"b": 2}, {"a": 1, "extra": [1]}),
    ),
    Case(
        "DictParameter validator",
        param("DictParameter", schema=jsonschema.Draft7Validator(OBJECT_SCHEMA)),
        ['{"a": 1}'],
        plain({"a": 1}, {"a": -1}),
    ),
    Case("ListParameter", param("ListParameter"), LIST_STRINGS, LIST_VALUES),
    Case(
        "ListParameter schema",
        param("ListParameter", schema=ARRAY_SCHEMA),
        ["[1, 8.7, 6]", "[]", "[-999, 999]"],
        plain([1, 2], [], [11], ["x"]),
    ),
    Case("TupleParameter", param("TupleParameter"), TUPLE_STRINGS, TUPLE_VALUES),
    # -- optional variants ---------------------------------------------------------------------
    Case("OptionalParameter", param("OptionalParameter"), TEXTS, plain(None, "a", 5)),
    Case("OptionalStrParameter", param("OptionalStrParameter"), TEXTS, plain(None, "a", 5)),
    Case(
        "OptionalIntParameter",
        param("OptionalIntParameter"),
        ["", "5", "x", "None"],
        plain(None, 5, "5"),
    ),
    Case(
        "OptionalFloatParameter",
        param("OptionalFloatParameter"),
        ["", "1.5", "x"],
        plain(None, 1.5, 2),
    ),
    Case(
        "OptionalBoolParameter",
        param("OptionalBoolParameter"),
        ["", "true", "FALSE", "x"],
        plain(None, True, 1, "maybe", "true"),
    ),
    Case(
        "OptionalDictParameter",
        param("OptionalDictParameter"),
        ["", '{"a": [1]}', "null", "{bad"],
        plain(None, {"a": [1]}),
    ),
    Case(
        "OptionalListParameter",
        param("OptionalListParameter"),
        ["", "[1, [2]]", "null", "[bad"],
        plain(None, [1, [2]]),
    ),
    Case(
        "OptionalTupleParameter",
        param("OptionalTupleParameter"),
        ["", "[[1, 2]]", "((1, 2),)", "null"],
        plain(None, [[1, 2]]),
    ),
    Case(
        "OptionalNumericalParameter",
        param("OptionalNumericalParameter", var_type=int, min_value=0, max_value=10),
        ["", "5", "10", "x"],
        plain(None, 5, 50),
    ),
    Case(
        "OptionalChoiceParameter",
        param("OptionalChoiceParameter", choices=["a", "b"]),
        ["", "a", "c"],
        plain(None, "a", "c"),
    ),
    Case(
        "OptionalChoiceParameter int",
        param("OptionalChoiceParameter", var_type=int, choices=[1, 2]),
        ["", "1", "3"],
        plain(None, 2, 3),
    ),
    Case(
        "OptionalPathParameter",
        param("OptionalPathParameter"),
        ["", "a/b"],
        plain(None, "a/b", Path("c")),
        parse_normalized=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_same_behaviour_as_luigi(case: Case) -> None:
    problems = compare(case)
    assert not problems, "\n".join(problems)


def test_corpus_covers_every_parameter_class_luigi_has() -> None:
    luigi_classes = {
        name
        for name, obj in vars(luigi.parameter).items()
        if isinstance(obj, type) and issubclass(obj, LUIGI.Parameter) and not name.startswith("_")
    }
    covered = {case.name.split()[0] for case in CASES} | {"TaskParameter"}  # see test_task_param
    assert luigi_classes - covered == set()


def test_path_parse_returns_a_path_where_luigi_returns_the_string() -> None:
    assert LUIGI.PathParameter().parse("a/b") == "a/b"
    assert dp.PathParameter().parse("a/b") == Path("a/b")
    assert dp.OptionalPathParameter().parse("") is None


def test_choice_list_of_ints_serialises_where_luigi_raises() -> None:
    with pytest.raises(TypeError):
        LUIGI.ChoiceListParameter(var_type=int, choices=[1, 2]).serialize((1, 2))
    ours = dp.ChoiceListParameter(var_type=int, choices=[1, 2])
    assert ours.serialize((1, 2)) == "1,2"
    assert ours.parse(ours.serialize((2, 1))) == (2, 1)
