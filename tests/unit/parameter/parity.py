"""Run a dagcore parameter and Luigi's twin on the same inputs and list every difference.

A :class:`Case` builds one parameter from a module namespace (dagcore's or Luigi's), so the same
constructor call makes both twins. For every string it compares ``parse`` and the round trip
``serialize(normalize(parse(s)))``; for every value it compares ``normalize``, ``serialize`` of
the normalised value and ``serialize`` of the raw value. Results must be equal after
:func:`canon` (frozen and plain containers compare alike); when Luigi raises, dagcore must raise
too, and for ``ValueError``, ``TypeError`` and Luigi's ``ParameterException`` an exception of
the matching dagcore kind. Warnings must be of the same categories.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePath
from types import SimpleNamespace
from typing import Any

import luigi.date_interval
import luigi.parameter

import dagcore.date_interval
import dagcore.parameter
from dagcore.errors import ParameterException

DAGCORE = SimpleNamespace(
    name="dagcore", parameter=dagcore.parameter, date_interval=dagcore.date_interval
)
LUIGI = SimpleNamespace(name="luigi", parameter=luigi.parameter, date_interval=luigi.date_interval)

Builder = Callable[[Any], Any]


def plain(*values: Any) -> Callable[[Any], list[Any]]:
    """Values that are the same objects for both twins."""
    return lambda ns: list(values)


@dataclass(frozen=True)
class Case:
    """One parameter configuration and its inputs.

    Attributes:
        name: shown in failures.
        build: ``build(ns)`` returns the parameter, using ``ns.parameter`` and ``ns.date_interval``.
        strings: inputs for ``parse``.
        values: ``values(ns)`` gives inputs for ``normalize`` and ``serialize``.
        parse_normalized: compare ``normalize(parse(s))`` instead of ``parse(s)``, for a class
            whose ``parse`` deliberately returns the normalised type (PathParameter).
        serialize_deviates: skip ``serialize``: dagcore deliberately serialises where Luigi
            raises.
    """

    name: str
    build: Builder
    strings: Sequence[str] = ()
    values: Callable[[Any], list[Any]] = field(default=plain())
    parse_normalized: bool = False
    serialize_deviates: bool = False


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: BaseException | None = None
    warned: frozenset[str] = frozenset()

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error}"
        return f"returned {self.value!r}"


def attempt(action: Callable[..., Any], *args: Any) -> Outcome:
    """Run ``action(*args)`` and record its result or exception and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = action(*args)
        except Exception as exc:  # every kind of failure is part of the comparison
            return Outcome(error=exc, warned=frozenset(w.category.__name__ for w in caught))
    return Outcome(value=value, warned=frozenset(w.category.__name__ for w in caught))


def parse_then_normalize(param: Any, text: str) -> Any:
    return param.normalize(param.parse(text))


def normalize_then_serialize(param: Any, value: Any) -> Any:
    return param.serialize(param.normalize(value))


def canon(value: Any) -> Any:
    """A comparable form: mappings as item lists, sequences as lists, intervals by bounds."""
    if isinstance(value, Mapping):
        return ("map", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return ("seq", [canon(v) for v in value])
    if isinstance(value, dagcore.date_interval.DateInterval | luigi.date_interval.DateInterval):
        return ("interval", type(value).__name__, value.date_a, value.date_b)
    if isinstance(value, float):
        return ("float", repr(value))  # NaN equals itself, -0.0 differs from 0.0
    if isinstance(value, PurePath):
        return ("path", str(value))
    return (type(value).__name__, value)


def compatible_errors(ours: BaseException, theirs: BaseException, *, parsing: bool) -> bool:
    """True if dagcore's exception can stand for Luigi's.

    A string ``parse`` cannot read is a bad value: dagcore raises ``ValueError`` for it even
    where Luigi's code happens to fail with ``TypeError`` (``ListParameter().parse("5")``).
    """
    if isinstance(theirs, luigi.parameter.ParameterException):
        return isinstance(ours, ParameterException)
    if parsing and isinstance(theirs, TypeError) and isinstance(ours, ValueError):
        return True
    for kind in (ValueError, TypeError):
        if isinstance(theirs, kind):
            return isinstance(ours, kind)
    return True


def difference(ours: Outcome, theirs: Outcome, *, parsing: bool) -> str | None:
    """Return why two outcomes differ, or None if they agree."""
    if ours.warned != theirs.warned:
        return f"warnings differ: luigi {sorted(theirs.warned)}, dagcore {sorted(ours.warned)}"
    if theirs.error is not None:
        if ours.error is None:
            return "luigi raised, dagcore did not"
        if not compatible_errors(ours.error, theirs.error, parsing=parsing):
            return "exceptions of different kinds"
        return None
    if ours.error is not None:
        return "dagcore raised, luigi did not"
    if canon(ours.value) != canon(theirs.value):
        return "results differ"
    return None


def compare(case: Case) -> list[str]:
    """Return one line per disagreement between the twins of ``case``."""
    mine, theirs = case.build(DAGCORE), case.build(LUIGI)
    problems: list[str] = []

    def check(label: str, ours: Outcome, luigis: Outcome, parsing: bool = False) -> None:
        why = difference(ours, luigis, parsing=parsing)
        if why is not None:
            problems.append(
                f"{case.name} {label}: {why}\n    luigi   {luigis.describe()}\n"
                f"    dagcore {ours.describe()}"
            )

    parse_mine = partial(parse_then_normalize, mine) if case.parse_normalized else mine.parse
    parse_theirs = partial(parse_then_normalize, theirs) if case.parse_normalized else theirs.parse
    for text in case.strings:
        ours, luigis = attempt(parse_mine, text), attempt(parse_theirs, text)
        check(f"parse({text!r})", ours, luigis, parsing=True)
        if ours.error is None and luigis.error is None and not case.serialize_deviates:
            check(
                f"serialize(normalize(parse({text!r})))",
                attempt(normalize_then_serialize, mine, ours.value),
                attempt(normalize_then_serialize, theirs, luigis.value),
            )

    for ours_in, luigi_in in zip(case.values(DAGCORE), case.values(LUIGI), strict=True):
        ours, luigis = attempt(mine.normalize, ours_in), attempt(theirs.normalize, luigi_in)
        check(f"normalize({luigi_in!r})", ours, luigis)
        if case.serialize_deviates:
            continue
        if ours.error is None and luigis.error is None:
            check(
                f"serialize(normalize({luigi_in!r}))",
                attempt(mine.serialize, ours.value),
                attempt(theirs.serialize, luigis.value),
            )
        check(
            f"serialize({luigi_in!r})",
            attempt(mine.serialize, ours_in),
            attempt(theirs.serialize, luigi_in),
        )
    return problems
