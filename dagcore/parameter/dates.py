"""Parameters for points and spans of time: dates, months, years, hours, minutes, seconds,
date intervals and durations.

Date-like parameters snap values to a grid: with ``interval=N`` and ``start=S`` a value is
rounded down to ``S + k*N`` units, so ``MonthParameter(interval=3)`` gives quarters. Strings are
read and written with ``strftime`` formats identical to Luigi's, and durations in every syntax
Luigi's ``TimeDeltaParameter`` reads.
"""

from __future__ import annotations

import datetime
import re
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from dagcore import date_interval
from dagcore.parameter.base import (
    Parameter,
    ParameterKwargs,
    _no_value,
    _NoValueType,
    bad_type,
    bad_value,
)

__all__ = [
    "DateHourParameter",
    "DateIntervalParameter",
    "DateMinuteParameter",
    "DateParameter",
    "DateSecondParameter",
    "MonthParameter",
    "TimeDeltaParameter",
    "YearParameter",
]

_EPOCH = datetime.datetime(1970, 1, 1)
# A day whose every field has two digits, used to show the expected format in errors.
_EXAMPLE = datetime.datetime(2013, 7, 10, 19, 7, 38)


def _strptime(param: object, text: str, fmt: str) -> datetime.datetime:
    try:
        return datetime.datetime.strptime(text, fmt)
    except (TypeError, ValueError):
        example = _EXAMPLE.strftime(fmt)
        raise bad_value(param, text, f"a value like {example} (format {fmt})") from None


class _DateParameterBase(Parameter[datetime.date]):
    """A date written with :attr:`date_format`, on a grid of ``interval`` units from ``start``."""

    date_format: ClassVar[str] = "%Y-%m-%d"

    def __init__(
        self,
        default: datetime.date | _NoValueType = _no_value,
        interval: int = 1,
        start: datetime.date | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default=default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH.date()

    def parse(self, x: str) -> datetime.date:
        return _strptime(self, x, self.date_format).date()

    def serialize(self, x: datetime.date | None) -> str:
        if x is None:
            return "None"
        return x.strftime(self.date_format)

    def _check_date(self, x: object) -> datetime.date:
        if isinstance(x, datetime.datetime):
            return x.date()
        if isinstance(x, datetime.date):
            return x
        raise bad_type(
            self,
            x,
            f"a datetime.date (use parse() for strings like {_EXAMPLE.strftime(self.date_format)})",
        )


class DateParameter(_DateParameterBase):
    """A :class:`datetime.date`, written ``YYYY-MM-DD`` (``2013-07-10``)."""

    date_format = "%Y-%m-%d"

    def next_in_enumeration(self, value: datetime.date) -> datetime.date | None:
        return value + datetime.timedelta(days=self.interval)

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        day = self._check_date(x)
        offset = (day - self.start).days % self.interval
        return day - datetime.timedelta(days=offset)


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + (day.month - 1) + months
    return datetime.date(index // 12, index % 12 + 1, 1)


class MonthParameter(DateParameter):
    """The first day of a month, written ``YYYY-MM``; accepts dates and ``date_interval.Month``."""

    date_format = "%Y-%m"

    def next_in_enumeration(self, value: datetime.date) -> datetime.date | None:
        return _add_months(value, self.interval)

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        day = x.date_a if isinstance(x, date_interval.Month) else self._check_date(x)
        months = (day.year - self.start.year) * 12 + (day.month - self.start.month)
        return _add_months(self.start, months - months % self.interval)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: datetime.date | date_interval.Month) -> None: ...


class YearParameter(DateParameter):
    """The first day of a year, written ``YYYY``; accepts dates and ``date_interval.Year``."""

    date_format = "%Y"

    def next_in_enumeration(self, value: datetime.date) -> datetime.date | None:
        return value.replace(year=value.year + self.interval)

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        day = x.date_a if isinstance(x, date_interval.Year) else self._check_date(x)
        year = day.year - (day.year - self.start.year) % self.interval
        return datetime.date(year, 1, 1)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: datetime.date | date_interval.Year) -> None: ...


class _DatetimeParameterBase(Parameter[datetime.datetime]):
    """A naive or aware datetime on a grid of ``interval`` units of :attr:`_timedelta`."""

    date_format: ClassVar[str]
    _timedelta: ClassVar[datetime.timedelta]

    def __init__(
        self,
        default: datetime.datetime | _NoValueType = _no_value,
        interval: int = 1,
        start: datetime.datetime | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default=default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH

    def parse(self, x: str) -> datetime.datetime:
        return _strptime(self, x, self.date_format)

    def serialize(self, x: datetime.datetime | None) -> str:
        if x is None:
            return "None"
        return x.strftime(self.date_format)

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        if isinstance(x, datetime.datetime):
            moment = x
        elif isinstance(x, datetime.date):
            moment = datetime.datetime.combine(x, datetime.time.min)
        else:
            raise bad_type(
                self,
                x,
                "a datetime.datetime (use parse() for strings like "
                f"{_EXAMPLE.strftime(self.date_format)})",
            )
        # Microseconds are dropped first, as in Luigi; the rounding itself is exact
        # timedelta arithmetic rather than float seconds.
        moment = moment.replace(microsecond=0)
        return moment - (moment - self.start) % (self._timedelta * self.interval)

    def next_in_enumeration(self, value: datetime.datetime) -> datetime.datetime | None:
        return value + self._timedelta * self.interval

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: datetime.date) -> None: ...


class DateHourParameter(_DatetimeParameterBase):
    """A datetime to the hour, written ``YYYY-MM-DDTHH`` (``2013-07-10T19``)."""

    date_format = "%Y-%m-%dT%H"
    _timedelta = datetime.timedelta(hours=1)


class DateMinuteParameter(_DatetimeParameterBase):
    """A datetime to the minute, written ``YYYY-MM-DDTHHMM`` (``2013-07-10T1907``).

    The old form ``2013-07-10T19H07`` is still read, with a ``DeprecationWarning``.
    """

    date_format = "%Y-%m-%dT%H%M"
    deprecated_date_format: ClassVar[str] = "%Y-%m-%dT%HH%M"
    _timedelta = datetime.timedelta(minutes=1)

    def parse(self, x: str) -> datetime.datetime:
        try:
            value = datetime.datetime.strptime(x, self.deprecated_date_format)
        except (TypeError, ValueError):
            return super().parse(x)
        warnings.warn(
            f'{x!r}: Using "H" between hours and minutes is deprecated, omit it instead. '
            f"Write {value.strftime(self.date_format)!r}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return value


class DateSecondParameter(_DatetimeParameterBase):
    """A datetime to the second, written ``YYYY-MM-DDTHHMMSS`` (``2013-07-10T190738``)."""

    date_format = "%Y-%m-%dT%H%M%S"
    _timedelta = datetime.timedelta(seconds=1)


class DateIntervalParameter(Parameter[date_interval.DateInterval]):
    """A :class:`~dagcore.date_interval.DateInterval`: ``2015``, ``2015-05``, ``2015-W35``,
    ``2015-11-04`` or ``2015-11-04-2015-12-04`` (the second date excluded)."""

    _KINDS: ClassVar[tuple[type[date_interval.DateInterval], ...]] = (
        date_interval.Year,
        date_interval.Month,
        date_interval.Week,
        date_interval.Date,
        date_interval.Custom,
    )
    _EXPECTED: ClassVar[str] = (
        "a date interval: YYYY, YYYY-MM, YYYY-Www, YYYY-MM-DD or YYYY-MM-DD-YYYY-MM-DD"
    )

    def parse(self, x: str) -> date_interval.DateInterval:
        for kind in self._KINDS:
            try:
                found = kind.parse(x)
            except ValueError as exc:  # the notation matched but names no real day
                raise bad_value(self, x, f"{self._EXPECTED} ({exc})") from None
            if found is not None:
                return found
        raise bad_value(self, x, self._EXPECTED)

    def _coerce_typed(self, value: Any) -> date_interval.DateInterval:
        # A TOML date means that day.
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return date_interval.Date.from_date(value)
        raise bad_type(self, value, self._EXPECTED)


# -- durations ------------------------------------------------------------------------------------

_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def _iso_duration_re() -> re.Pattern[str]:
    def unit(name: str) -> str:
        return rf"(?P<{name}>\d+){name[0].upper()}"

    def maybe(name: str) -> str:
        return f"({unit(name)})?"

    time_part = "".join(maybe(name) for name in _UNITS[2:])
    # Like Luigi: ``PnW`` alone, or ``PnD`` and/or ``T`` with hours, minutes, seconds.
    return re.compile(f"P({unit('weeks')}|{maybe('days')}(T{time_part})?)")


def _spelled_duration_re() -> re.Pattern[str]:
    # "3 w", "3 weeks", "3week", "1 h 30 m": each unit is its first letter, optionally the rest
    # of the word, optionally a plural "s"; units come longest first.
    parts = [rf"((?P<{name}>\d+) ?{name[0]}({name[1:-1]})?({name[-1]})? ?)?" for name in _UNITS]
    return re.compile("".join(parts))


_ISO_DURATION = _iso_duration_re()
_SPELLED_DURATION = _spelled_duration_re()


def _match_duration(pattern: re.Pattern[str], text: str) -> datetime.timedelta | None:
    # A prefix match, as in Luigi: "1 d and more" reads as one day.
    match = pattern.match(text)
    if match is None or not any(match.groups()):
        return None
    amounts = {name: int(value) for name, value in match.groupdict(default="0").items()}
    return datetime.timedelta(**amounts)


class TimeDeltaParameter(Parameter[datetime.timedelta]):
    """A :class:`datetime.timedelta`.

    Read from a number of seconds (``90``, ``1.5``), ISO 8601 (``P2DT3H4M5S``, ``P1W``; no
    years or months), or units from longest to shortest (``1 week 2 days``, ``3 h``, ``5m 10s``).
    Written as ``W w D d H h M m S s``, dropping microseconds.
    """

    _EXPECTED: ClassVar[str] = (
        "a duration: seconds (90), ISO 8601 (P1DT2H, P1W) or units (1 week 2 days, 3 h 10 m)"
    )

    def parse(self, x: str) -> datetime.timedelta:
        try:
            return datetime.timedelta(seconds=float(x))
        except ValueError:
            pass  # not a number (or NaN): try the other notations
        except OverflowError:
            raise bad_value(self, x, f"{self._EXPECTED}, of at most 999999999 days") from None
        # A zero ISO duration ("PT", "P0D") falls through to the spelled form, as in Luigi.
        found = _match_duration(_ISO_DURATION, x) or _match_duration(_SPELLED_DURATION, x)
        if found is None:
            raise bad_value(self, x, self._EXPECTED)
        return found

    def serialize(self, x: datetime.timedelta) -> str:
        weeks, days = divmod(x.days, 7)
        hours, rest = divmod(x.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{weeks} w {days} d {hours} h {minutes} m {seconds} s"

    def _coerce_typed(self, value: Any) -> datetime.timedelta:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.timedelta(seconds=value)
        raise bad_type(self, value, self._EXPECTED)

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        if type(self) is TimeDeltaParameter and not isinstance(param_value, datetime.timedelta):
            warnings.warn(
                f'Parameter "{param_name}" with value "{param_value}" is not of type timedelta.',
                UserWarning,
                stacklevel=3,
            )
