"""How tasks of one family are folded into one line, and how long groups are cut short."""

from __future__ import annotations

import datetime
import time
from collections.abc import Sequence

import pytest

from dagcore.plan import Plan
from dagcore.summary import summarize
from dagcore.task import Task

from . import tasks as t
from .builders import RECOMMENDED, node, plan_from, plan_of, simulate


def _ran_lines(roots: Sequence[Task], live: bool = True, summary_length: int = 5) -> list[str]:
    """The lines under "ran successfully" after running ``roots`` (and nothing else)."""
    plan = plan_from(roots, live=live)
    summary = summarize(simulate(plan), plan, "r", RECOMMENDED, summary_length=summary_length)
    lines = summary.summary_text.splitlines()
    start = lines.index(f"* {len(plan.nodes)} ran successfully:")
    out = []
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def _day(n: int) -> datetime.date:
    return datetime.date(2020, 1, 1) + datetime.timedelta(days=n)


@pytest.mark.parametrize("live", [True, False], ids=["live-tasks", "registry"])
def test_contiguous_ints_fold_into_a_range(live: bool) -> None:
    assert _ran_lines([t.Load(i=i) for i in range(1000)], live) == ["- 1000 Load(i=0...999)"]


@pytest.mark.parametrize("live", [True, False], ids=["live-tasks", "registry"])
def test_contiguous_dates_fold_into_a_range(live: bool) -> None:
    days = [t.Daily(d=_day(n)) for n in range(60)]
    assert _ran_lines(days, live) == ["- 60 Daily(d=2020-01-01...2020-02-29)"]


def test_three_values_are_listed_not_ranged() -> None:
    # One parameter needs more than three values for a range, as in Luigi.
    assert _ran_lines([t.Load(i=i) for i in (5, 6, 7)]) == ["- 3 Load(i=5,6,7)"]
    assert _ran_lines([t.Load(i=i) for i in (5, 6, 7, 8)]) == ["- 4 Load(i=5...8)"]


def test_values_with_a_gap_are_listed_in_label_order() -> None:
    # Sorted as labels (strings), so 10 comes before 2.
    assert _ran_lines([t.Load(i=i) for i in (1, 2, 10, 11)]) == ["- 4 Load(i=1,10,11,2)"]


def test_long_lists_are_cut_with_dots() -> None:
    line = _ran_lines([t.Load(i=i) for i in range(0, 42, 2)])[0]
    # Values are added while the text is under 30 characters; the rest become "...".
    assert line == "- 21 Load(i=0,10,12,14,16,18,2,20,22,24,26,...)"


def test_one_varying_parameter_among_several() -> None:
    pairs = [t.Pair(x=7, i=i) for i in range(10)]
    assert _ran_lines(pairs) == ["- 10 Pair(x=7, i=0...9)"]
    # With several parameters three values already make a range.
    assert _ran_lines([t.Pair(x=8, i=i) for i in range(3)]) == ["- 3 Pair(x=8, i=0...2)"]


def test_several_parameters_fallbacks() -> None:
    assert _ran_lines([t.Pair(x=1, i=4)]) == ["- 1 Pair(x=1, i=4)"]
    assert _ran_lines([t.Pair(x=1, i=4), t.Pair(x=1, i=5)]) == [
        "- 2 Pair(x=1, i=4) and Pair(x=1, i=5)"
    ]
    grid = [t.Grid(a=a, b=b) for a in range(2) for b in range(3)]
    assert _ran_lines(grid) == ["- 6 Grid(a=0, b=0) ..."]
    gaps = [t.Pair(x=1, i=i) for i in (1, 3, 5)]
    assert _ran_lines(gaps) == ["- 3 Pair(x=1, i=1) ..."]


def test_long_parameter_names_are_elided() -> None:
    wide = [
        t.Wide(
            a_rather_long_parameter_name_to_push_past=i,
            the_limit_luigi_sets_on_parameter_names=0,
        )
        for i in range(2)
    ]
    assert _ran_lines(wide) == ["- 2 Wide(...)"]


def test_no_parameters() -> None:
    assert _ran_lines([t.Solo()]) == ["- 1 Solo()"]


def test_unknown_family_falls_back_to_the_serialised_text() -> None:
    # A plan read back without its classes: values are strings, so nothing is ranged.
    nodes = [node(f"n{i}", family="Gone", params={"i": str(i)}) for i in range(6)]
    plan = plan_of(*nodes, roots=[n.task_id for n in nodes])
    summary = summarize(simulate(plan), plan, "r", RECOMMENDED)
    assert "    - 6 Gone(i=0,1,2,3,4,5)" in summary.summary_text.splitlines()


def test_families_are_sorted_and_cut_after_summary_length() -> None:
    families = [t.Fam0, t.Fam1, t.Fam2, t.Fam3, t.Fam4, t.Fam5, t.Fam6]
    roots: list[Task] = [cls() for cls in reversed(families)]
    assert _ran_lines(roots) == [f"- 1 Fam{i}()" for i in range(5)] + ["..."]
    assert _ran_lines(roots, summary_length=2) == ["- 1 Fam0()", "- 1 Fam1()", "..."]
    assert len(_ran_lines(roots, summary_length=0)) == 7


def test_pending_subgroups_are_indented_further() -> None:
    t.CHILDREN["root"] = [t.Ext(i=i) for i in range(4)]
    plan = plan_from([t.Group(name="root")])
    text = summarize(None, plan, "r", RECOMMENDED).summary_text
    assert "    * 4 were missing external dependencies:\n        - 4 Ext(i=0...3)\n" in text


def test_a_huge_family_is_summarised_quickly() -> None:
    count = 300_000
    plan = Plan(roots=[])
    for i in range(count):
        n = node(f"Load_{i}", family="Load", params={"i": str(i)}, label=f"Load(i={i})")
        n.complete = True
        plan.nodes[n.task_id] = n
    started = time.perf_counter()
    summary = summarize(None, plan, "r", RECOMMENDED)
    elapsed = time.perf_counter() - started
    assert f"    - {count} Load(i=0...{count - 1})" in summary.summary_text.splitlines()
    assert elapsed < 30, f"summarising {count} tasks took {elapsed:.1f}s"
