"""dagcore.date_interval beside luigi.date_interval: notation, days, neighbours, comparisons."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import luigi.date_interval as theirs
import pytest

import dagcore.date_interval as ours

D = datetime.date


def build_all(di: Any) -> list[Any]:
    return [
        di.Date(2016, 2, 29),
        di.Date(2015, 12, 31),
        di.Week(2009, 1),  # starts Monday 29 December 2008
        di.Week(2009, 53),
        di.Week(2015, 35),
        di.Month(2015, 12),
        di.Month(2016, 2),
        di.Year(2016),
        di.Custom(D(2015, 11, 4), D(2015, 12, 4)),
        di.Custom(D(2015, 12, 4), D(2015, 11, 4)),  # empty
    ]


def outcome(action: Callable[..., Any], *args: Any) -> Any:
    try:
        value = action(*args)
    except Exception as exc:  # the kind of failure is what is compared
        return ("raised", type(exc).__name__)
    if isinstance(value, ours.DateInterval | theirs.DateInterval):
        return (type(value).__name__, value.date_a, value.date_b, str(value))
    return value


PROBES: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "repr": repr,
    "hash": hash,
    "dates": lambda i: i.dates(),
    "hours": lambda i: list(i.hours())[::7],
    "iter": list,
    "next": lambda i: i.next(),
    "prev": lambda i: i.prev(),
    "next.next.prev": lambda i: i.next().next().prev(),
    "contains first": lambda i: i.date_a in i,
    "contains last": lambda i: (i.date_b - datetime.timedelta(1)) in i,
    "contains end": lambda i: i.date_b in i,
    "contains datetime": lambda i: datetime.datetime.combine(i.date_a, datetime.time()) in i,
    "contains text": lambda i: "2016" in i,
    "equals date": lambda i: i == i.date_a,
}


@pytest.mark.parametrize("probe", PROBES)
def test_intervals_behave_like_luigis(probe: str) -> None:
    action = PROBES[probe]
    for mine, luigis in zip(build_all(ours), build_all(theirs), strict=True):
        assert outcome(action, mine) == outcome(action, luigis), repr(luigis)


def test_comparisons_match_luigi_including_type_mismatches() -> None:
    operators: list[Callable[[Any, Any], Any]] = [
        lambda a, b: a == b,
        lambda a, b: a != b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ]
    mine, luigis = build_all(ours), build_all(theirs)
    for compare in operators:
        for i in range(len(mine)):
            for j in range(len(mine)):
                expected = outcome(compare, luigis[i], luigis[j])
                assert outcome(compare, mine[i], mine[j]) == expected, (i, j)


@pytest.mark.parametrize(
    "text",
    [
        "2015",
        "2015-05",
        "2015-W35",
        "2015-11-04",
        "2015-11-04-2015-12-04",
        "2015-13",
        "2015-W54",
        "2015-02-30",
        "abc",
        "",
        "2015-11-04\n",
        "２０１５",
    ],
)
def test_each_kind_parses_its_notation_like_luigi(text: str) -> None:
    for name in ("Date", "Week", "Month", "Year", "Custom"):
        mine = outcome(getattr(ours, name).parse, text)
        assert mine == outcome(getattr(theirs, name).parse, text), name


def test_week_numbers_straddle_new_year() -> None:
    week = ours.Week(2009, 1)
    assert week.date_a == D(2008, 12, 29) and week.date_b == D(2009, 1, 5)
    assert ours.Week.from_date(D(2010, 1, 3)) == ours.Week(2009, 53)
    with pytest.raises(ValueError, match="2010 has no ISO week 53"):
        ours.Week(2010, 53)


def test_custom_intervals_have_no_neighbours() -> None:
    custom = ours.Custom(D(2020, 1, 1), D(2020, 1, 3))
    assert custom.dates() == [D(2020, 1, 1), D(2020, 1, 2)]
    with pytest.raises(NotImplementedError):
        custom.next()


def test_the_base_class_is_abstract() -> None:
    base = ours.DateInterval(D(2020, 1, 1), D(2020, 1, 2))
    with pytest.raises(NotImplementedError):
        str(base)
    with pytest.raises(NotImplementedError):
        ours.DateInterval.parse("2020")
