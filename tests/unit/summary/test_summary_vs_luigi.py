"""The same tasks, the same outcomes: dagcore's summary reads as Luigi's does.

Each case declares the tasks twice (``tasks`` for dagcore, ``luigi_twins`` for Luigi), runs
them with ``luigi.build`` and simulates the same run in dagcore, then compares the texts.
Luigi's text with "Luigi" replaced by "dagcore" must equal dagcore's, once dagcore's extra
error lines (under failed groups) are taken out.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import luigi
import pytest
from luigi.setup_logging import InterfaceLogging

from dagcore.summary import Summary, summarize

from . import luigi_twins, tasks
from .builders import RECOMMENDED, plan_from, simulate

_ERROR_LINE = re.compile(r"^(?: {6}| {10})\S")

Case = Callable[[ModuleType], list[Any]]


def _run_both(
    make: Case, complete: Iterable[str] = (), failing: Iterable[str] = ()
) -> tuple[Summary, Any]:
    """Build the roots with ``make`` for both frameworks and run them."""
    complete, failing = set(complete), set(failing)
    for module in (tasks, luigi_twins):
        module.COMPLETE.update(complete)
        module.FAILING.update(failing)
    luigi_roots = make(luigi_twins)
    dag_roots = make(tasks)
    ours = plan_from(dag_roots, complete=complete)
    result = simulate(ours, fail=failing) if ours.ok else None
    summary = summarize(result, ours, "r", RECOMMENDED)
    theirs = luigi.build(  # type: ignore[no-untyped-call]
        luigi_roots,
        local_scheduler=True,
        detailed_summary=True,
        workers=1,
    )
    return summary, theirs


@pytest.fixture(autouse=True)
def _leave_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # luigi.build configures logging handlers for the whole process once; pretend it has.
    monkeypatch.setattr(InterfaceLogging, "_configured", True)


def _without_error_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if not _ERROR_LINE.match(line))


def _assert_same(summary: Summary, theirs: Any) -> None:
    expected = theirs.summary_text.replace("Luigi", "dagcore")
    assert _without_error_lines(summary.summary_text) == expected
    assert summary.status.name == theirs.status.name


def _day(n: int) -> datetime.date:
    return datetime.date(2020, 1, 1) + datetime.timedelta(days=n)


def test_complete_ran_failed_and_upstream_failed() -> None:
    def make(ns: ModuleType) -> list[Any]:
        ns.CHILDREN["up"] = [ns.Daily(d=_day(0)), ns.Load(i=3)]
        ns.CHILDREN["mixed"] = [ns.Load(i=i) for i in range(10)] + [ns.Group(name="up")]
        return [ns.Group(name="mixed")]

    complete = {f"Load(i={i})" for i in range(3)}
    summary, theirs = _run_both(make, complete, {"Daily(d=2020-01-01)"})
    _assert_same(summary, theirs)
    assert "      Daily(d=2020-01-01): ValueError: boom Daily(d=2020-01-01)" in (
        summary.summary_text.splitlines()
    )


def test_folding_and_truncation_match_luigi() -> None:
    def make(ns: ModuleType) -> list[Any]:
        ns.CHILDREN["all"] = (
            [ns.Load(i=i) for i in range(0, 42, 2)]  # complete: listed, cut with "..."
            + [ns.Load(i=i) for i in range(100, 220)]  # ran: a range
            + [ns.Daily(d=_day(n)) for n in (0, 1, 2, 3, 5, 6)]  # complete, with a gap
            + [ns.Daily(d=_day(n)) for n in range(31, 51)]  # ran: a date range
            + [ns.Pair(x=7, i=0), ns.Pair(x=7, i=1)]  # complete: "A and B"
            + [ns.Pair(x=8, i=i) for i in range(5)]  # ran: one of several varying
            + [ns.Grid(a=a, b=b) for a in range(3) for b in range(2)]  # ran: fallback
            + [
                ns.Wide(
                    a_rather_long_parameter_name_to_push_past=i,
                    the_limit_luigi_sets_on_parameter_names=0,
                )
                for i in range(2)
            ]
            + [ns.Solo()]
        )
        return [ns.Group(name="all")]

    complete = (
        {f"Load(i={i})" for i in range(0, 42, 2)}
        | {f"Daily(d={_day(n)})" for n in (0, 1, 2, 3, 5, 6)}
        | {"Pair(x=7, i=0)", "Pair(x=7, i=1)"}
    )
    summary, theirs = _run_both(make, complete)
    _assert_same(summary, theirs)
    assert "    - 120 Load(i=100...219)" in summary.summary_text.splitlines()
    assert "    ..." in summary.summary_text.splitlines()  # more than five families ran


def test_missing_external_matches_luigi() -> None:
    def make(ns: ModuleType) -> list[Any]:
        ns.CHILDREN["needs"] = [ns.Ext(i=i) for i in range(5)] + [ns.Load(i=1)]
        ns.CHILDREN["root"] = [ns.Group(name="needs"), ns.Load(i=2)]
        return [ns.Group(name="root")]

    summary, theirs = _run_both(make, complete={"Load(i=1)", "Load(i=2)", "Ext(i=2)"})
    _assert_same(summary, theirs)
    assert summary.status.name == "MISSING_EXT"


def test_nothing_to_do_matches_luigi() -> None:
    def make(ns: ModuleType) -> list[Any]:
        return [ns.Load(i=i) for i in range(4)]

    summary, theirs = _run_both(make, complete={f"Load(i={i})" for i in range(4)})
    _assert_same(summary, theirs)
    assert "Did not run any tasks" in summary.summary_text


@pytest.mark.parametrize("count", [1, 2, 3, 4, 12])
def test_one_parameter_listing_matches_luigi(count: int) -> None:
    values = [3 * n + (n % 2) for n in range(count)]  # never contiguous beyond two

    def make(ns: ModuleType) -> list[Any]:
        return [ns.Load(i=v) for v in values]

    summary, theirs = _run_both(make)
    _assert_same(summary, theirs)
