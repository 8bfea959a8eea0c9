"""Folding one family's tasks into one line of the execution summary, as Luigi folds them.

``- 1000 Load(i=0...999)`` for an unbroken range of one parameter, ``- 3 Load(i=5,6,7)`` for a
few values, ``- 10 Pair(x=7, i=0...9)`` when one of several parameters varies, and shorter forms
for families with long parameters. Values are the tasks' own (a live task, or the family's
class parsing the serialised strings); a family whose class is unknown is folded as text.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dagcore.errors import DagcoreError
from dagcore.parameter.base import Parameter
from dagcore.plan import Plan
from dagcore.task_register import Register

__all__ = ["folded"]


# Stands in for the parameters of a family whose class is unknown: text, never a range.
_TEXT: Parameter[Any] = Parameter()


class _View(NamedTuple):
    """One task as folding sees it. A tuple: a family can have 300,000, tuples build fastest."""

    task_id: str
    label: str
    values: tuple[Any, ...]


@dataclass
class _Family:
    name: str
    params: list[tuple[str, Parameter[Any]]]
    views: list[_View]  # sorted by label, as Luigi sorts by str(task)


def _declared(plan: Plan, family: str, first: str) -> list[tuple[str, Any]] | None:
    """The family's parameters, from a live task or else the registry; None if unknown."""
    task = plan.tasks.get(first)
    if task is not None:
        return list(type(task).get_params())
    task_cls = _task_class(family, plan.nodes[first].module)
    if task_cls is None:
        return None
    declared = task_cls.get_params()
    # Values will be parsed from the node's strings, and private parameters have none.
    serialised = plan.nodes[first].params
    return [(name, param) for name, param in declared if name in serialised]


def _task_class(family: str, module: str) -> type[Any] | None:
    """The class of ``family`` defined in ``module``: the registry's, or the module's own.

    The registry may hold another class of that name (a registry reset, a namesake elsewhere);
    the node's module says which one the plan meant.
    """
    try:
        found: type[Any] | None = Register.get_task_cls(family, module)
    except DagcoreError:
        found = None
    if found is not None and found.__module__ == module:
        return found
    source = sys.modules.get(module)
    for value in vars(source).values() if source is not None else ():
        get_family = getattr(value, "get_task_family", None)
        if isinstance(value, type) and callable(get_family) and get_family() == family:
            return value
    return found


def _typed_family(plan: Plan, family: str, task_ids: Sequence[str]) -> _Family | None:
    """Views with real parameter values, or None if the family's class is not available."""
    declared = _declared(plan, family, task_ids[0])
    if declared is None:
        return None
    tasks, nodes = plan.tasks, plan.nodes
    # Column by column: one tight loop per parameter is much cheaper on 300,000 tasks.
    columns: list[list[Any]] = []
    for name, param in declared:
        column = []
        for task_id in task_ids:
            task = tasks.get(task_id)
            if task is not None:
                column.append(getattr(task, name))
            else:
                column.append(param.parse(nodes[task_id].params[name]))
        columns.append(column)
    rows: list[tuple[Any, ...]] = (
        list(zip(*columns, strict=True)) if columns else [()] * len(task_ids)
    )
    views = [_View(t, nodes[t].label or t, row) for t, row in zip(task_ids, rows, strict=True)]
    views.sort(key=lambda v: v.label)
    return _Family(family, declared, views)


def _text_family(plan: Plan, family: str, task_ids: Sequence[str]) -> _Family:
    names = list(plan.nodes[task_ids[0]].params)
    views = [
        _View(t, plan.label(t), tuple(plan.nodes[t].params.get(n, "") for n in names))
        for t in task_ids
    ]
    views.sort(key=lambda v: v.label)
    return _Family(family, [(n, _TEXT) for n in names], views)


def _folded(plan: Plan, family: str, task_ids: Sequence[str]) -> tuple[_Family, str]:
    """The family and its line; on any surprise from a parameter, the plain-text fallback."""
    try:
        typed = _typed_family(plan, family, task_ids)
        if typed is not None:
            return typed, _family_line(typed)
    except Exception:  # a summary must never fail a run that already ended
        pass
    plain = _text_family(plan, family, task_ids)
    return plain, _family_line(plain)


def _contiguous(values: set[Any], param: Parameter[Any]) -> tuple[Any, Any] | None:
    """First and last of ``values`` if they form one unbroken enumeration, else None."""
    try:
        successor = {v: param.next_in_enumeration(v) for v in values}
        following = set(successor.values())
        starts = values - following
        ends = following - values
        if len(starts) != 1 or len(ends) != 1:
            return None
        (first,) = starts
        (after_last,) = ends
        last = next((v for v, nxt in successor.items() if nxt == after_last), None)
    except Exception:  # an odd parameter type only loses the range
        return None
    if first is None or last is None:
        return None
    return first, last


def _listed(views: Sequence[_View], param: Parameter[Any]) -> str:
    """Comma-separated values of a one-parameter family, cut short once long enough."""
    text = ""
    last = len(views) - 1
    for count, view in enumerate(views):
        long_enough = len(text) >= 30 and count > 2 and count != last
        if long_enough or len(text) > 200:
            return text + "..."
        text += param.serialize(view.values[0])
        if count < last:
            text += ","
    return text


def _family_line(fam: _Family) -> str:
    """The text after ``- `` for one family, folded the way Luigi folds it."""
    views, params = fam.views, fam.params
    count, first = len(views), views[0]
    if not params:
        return f"{count} {fam.name}()"
    names_len = sum(len(name) for name, _ in params)
    label_len = len(first.label)
    two_wide = count == 2 and len(params) > 1 and (names_len > 40 or label_len > 100)
    if names_len > 60 or label_len > 200 or two_wide:
        return f"{count} {fam.name}(...)"
    if len(params) == 1:
        name, param = params[0]
        values = {v.values[0] for v in views}
        bounds = _contiguous(values, param)
        if bounds is not None and len(values) > 3:
            text = f"{param.serialize(bounds[0])}...{param.serialize(bounds[1])}"
        else:
            text = _listed(views, param)
        return f"{count} {fam.name}({name}={text})"
    ranged = _ranged_multi(fam)
    if ranged is not None:
        return ranged
    if count == 1:
        return f"1 {first.label}"
    if count == 2:
        return f"2 {first.label} and {views[1].label}"
    return f"{count} {first.label} ..."


def _ranged_multi(fam: _Family) -> str | None:
    """Several parameters of which exactly one varies, over an unbroken range."""
    views, params = fam.views, fam.params
    varying = [i for i in range(len(params)) if len({v.values[i] for v in views}) > 1]
    if len(varying) != 1:
        return None
    index = varying[0]
    values = {v.values[index] for v in views}
    param = params[index][1]
    bounds = _contiguous(values, param)
    if bounds is None or len(values) <= 2:
        return None
    parts = []
    for i, (name, p) in enumerate(params):
        if i == index:
            shown = f"{param.serialize(bounds[0])}...{param.serialize(bounds[1])}"
        else:
            shown = p.serialize(views[0].values[i])
        parts.append(f"{name}={shown}")
    return f"{len(views)} {fam.name}({', '.join(parts)})"


def folded(plan: Plan, family: str, task_ids: Sequence[str]) -> tuple[list[tuple[str, str]], str]:
    """The family's tasks as (task id, label) pairs, sorted by label, and its folded line."""
    fam, line = _folded(plan, family, task_ids)
    return [(view.task_id, view.label) for view in fam.views], line
