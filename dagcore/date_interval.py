"""Date intervals in ISO 8601 notation: a day, an ISO week, a month, a year, or a custom range.

Every interval is the half-open range ``[date_a, date_b)``. ``str()`` gives the notation that
:meth:`DateInterval.parse` reads back: ``2014-05-10``, ``2014-W19``, ``2014-05``, ``2014`` and
``2014-05-10-2014-06-02``. :class:`~dagcore.parameter.DateIntervalParameter` uses them.

Intervals of different kinds do not compare: ``Year(2012) == Custom(...)`` raises ``TypeError``
(is a year equal to the custom range covering the same days?), as in Luigi.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Self

__all__ = ["Custom", "Date", "DateInterval", "Month", "Week", "Year"]

_ONE_DAY = datetime.timedelta(days=1)

# ``$`` (not ``\Z``) and ``\d`` (any Unicode digit) on purpose: Luigi accepts the same strings.
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})$")
_WEEK_RE = re.compile(r"(\d{4})-W(\d{2})$")
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})$")
_YEAR_RE = re.compile(r"(\d{4})$")
_CUSTOM_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{4})-(\d{2})-(\d{2})$")


class DateInterval:
    """The half-open range of dates ``[date_a, date_b)``; use a subclass.

    Parameters:
        date_a: first day in the interval.
        date_b: first day after it.
    """

    def __init__(self, date_a: datetime.date, date_b: datetime.date) -> None:
        self.date_a = date_a
        self.date_b = date_b

    # -- contents -------------------------------------------------------------------------------

    def dates(self) -> list[datetime.date]:
        """Return every day of the interval, in order."""
        count = (self.date_b - self.date_a).days
        return [self.date_a + datetime.timedelta(days=i) for i in range(max(count, 0))]

    def hours(self) -> Iterator[datetime.datetime]:
        """Yield the start of every hour of the interval."""
        for day in self.dates():
            for hour in range(24):
                yield datetime.datetime.combine(day, datetime.time(hour))

    def __contains__(self, day: object) -> bool:
        # A datetime is not one of the interval's dates (they never compare equal).
        if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
            return False
        return self.date_a <= day < self.date_b

    def __iter__(self) -> Iterator[datetime.date]:
        return iter(self.dates())

    # -- neighbours and notation ----------------------------------------------------------------

    def prev(self) -> DateInterval:
        """Return the interval of the same kind just before this one (May -> April)."""
        return self.from_date(self.date_a - _ONE_DAY)

    def next(self) -> DateInterval:
        """Return the interval of the same kind just after this one (2014 -> 2015)."""
        return self.from_date(self.date_b)

    def to_string(self) -> str:
        """Return the ISO 8601 notation of the interval."""
        raise NotImplementedError(f"{type(self).__name__} has no notation")

    @classmethod
    def from_date(cls, d: datetime.date) -> DateInterval:
        """Return the interval of this kind containing ``d``."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a single date")

    @classmethod
    def parse(cls, s: str) -> DateInterval | None:
        """Return the interval ``s`` denotes, or None if ``s`` is not in this kind's notation."""
        raise NotImplementedError(f"{cls.__name__} has no notation to parse")

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    # -- comparison -----------------------------------------------------------------------------

    def __hash__(self) -> int:
        return hash(repr(self))

    def _bounds(self, other: object) -> tuple[tuple[datetime.date, datetime.date], ...]:
        if not isinstance(other, DateInterval) or not isinstance(self, type(other)):
            raise TypeError(
                f"cannot compare date intervals of different kinds: {type(self).__name__} "
                f"{self!r} and {type(other).__name__} {other!r}"
            )
        return (self.date_a, self.date_b), (other.date_a, other.date_b)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DateInterval):
            return False
        mine, theirs = self._bounds(other)
        return mine == theirs

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: DateInterval) -> bool:
        mine, theirs = self._bounds(other)
        return mine < theirs

    def __le__(self, other: DateInterval) -> bool:
        mine, theirs = self._bounds(other)
        return mine <= theirs

    def __gt__(self, other: DateInterval) -> bool:
        mine, theirs = self._bounds(other)
        return mine > theirs

    def __ge__(self, other: DateInterval) -> bool:
        mine, theirs = self._bounds(other)
        return mine >= theirs


class Date(DateInterval):
    """One day: ``2014-05-10``."""

    def __init__(self, y: int, m: int, d: int) -> None:
        day = datetime.date(y, m, d)
        super().__init__(day, day + _ONE_DAY)

    def to_string(self) -> str:
        return self.date_a.strftime("%Y-%m-%d")

    @classmethod
    def from_date(cls, d: datetime.date) -> Self:
        return cls(d.year, d.month, d.day)

    @classmethod
    def parse(cls, s: str) -> Self | None:
        match = _DATE_RE.match(s)
        if match is None:
            return None
        return cls(*(int(part) for part in match.groups()))


class Week(DateInterval):
    """An ISO 8601 week, Monday to Sunday: ``2014-W19``.

    ISO weeks straddle new year: Monday 29 December 2008 starts week ``2009-W01``.
    """

    def __init__(self, y: int, w: int) -> None:
        try:
            monday = datetime.date.fromisocalendar(y, w, 1)
        except ValueError:
            raise ValueError(f"Invalid week: {y} has no ISO week {w}") from None
        super().__init__(monday, monday + datetime.timedelta(days=7))

    def to_string(self) -> str:
        year, week, _ = self.date_a.isocalendar()
        return f"{year}-W{week:02d}"

    @classmethod
    def from_date(cls, d: datetime.date) -> Self:
        year, week, _ = d.isocalendar()
        return cls(year, week)

    @classmethod
    def parse(cls, s: str) -> Self | None:
        match = _WEEK_RE.match(s)
        if match is None:
            return None
        return cls(int(match.group(1)), int(match.group(2)))


class Month(DateInterval):
    """A calendar month: ``2014-05``."""

    def __init__(self, y: int, m: int) -> None:
        first = datetime.date(y, m, 1)
        following = datetime.date(y + 1, 1, 1) if m == 12 else datetime.date(y, m + 1, 1)
        super().__init__(first, following)

    def to_string(self) -> str:
        return self.date_a.strftime("%Y-%m")

    @classmethod
    def from_date(cls, d: datetime.date) -> Self:
        return cls(d.year, d.month)

    @classmethod
    def parse(cls, s: str) -> Self | None:
        match = _MONTH_RE.match(s)
        if match is None:
            return None
        return cls(int(match.group(1)), int(match.group(2)))


class Year(DateInterval):
    """A calendar year: ``2014``."""

    def __init__(self, y: int) -> None:
        super().__init__(datetime.date(y, 1, 1), datetime.date(y + 1, 1, 1))

    def to_string(self) -> str:
        return self.date_a.strftime("%Y")

    @classmethod
    def from_date(cls, d: datetime.date) -> Self:
        return cls(d.year)

    @classmethod
    def parse(cls, s: str) -> Self | None:
        match = _YEAR_RE.match(s)
        if match is None:
            return None
        return cls(int(match.group(1)))


class Custom(DateInterval):
    """Any range of days: ``2014-05-10-2014-06-02`` (``date_b`` excluded).

    It has no neighbours: ``prev()`` and ``next()`` raise ``NotImplementedError``.
    """

    def to_string(self) -> str:
        return f"{self.date_a.strftime('%Y-%m-%d')}-{self.date_b.strftime('%Y-%m-%d')}"

    @classmethod
    def parse(cls, s: str) -> Self | None:
        match = _CUSTOM_RE.match(s)
        if match is None:
            return None
        parts = [int(part) for part in match.groups()]
        return cls(datetime.date(*parts[:3]), datetime.date(*parts[3:]))
