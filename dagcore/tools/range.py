"""Range tools: keep a recurring task's outputs contiguous over a window of time.

A range (``RangeDaily``, ``RangeHourly``, ``RangeByMinutes``, ``RangeMonthly``) is a
:class:`~dagcore.task.WrapperTask` scheduled cron-style. Each time it is resolved it lists the
instants of its window (``start``/``stop``, clipped to ``now`` minus ``*_back`` and plus
``*_forward``), finds the instances of ``of`` that are not complete, and requires at most
``task_limit`` of them, oldest first (newest first with ``reverse``). Gaps left by downtime are
thus filled on the next run.

Finding the incomplete instances is the expensive part, so it is done in bulk where possible:
the ``of`` class's ``bulk_complete`` classmethod if it has one, else a listing of the output
directories, else ``complete()`` checks run concurrently on a small thread pool (an S3 existence
check costs a network round trip). Parameter names, defaults and task ids are Luigi's.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from dateutil.relativedelta import relativedelta

from dagcore.errors import ParameterException
from dagcore.event import Event
from dagcore.parameter import (
    BoolParameter,
    DateHourParameter,
    DateMinuteParameter,
    DateParameter,
    DictParameter,
    IntParameter,
    MonthParameter,
    Parameter,
    TaskParameter,
)
from dagcore.task import Task, WrapperTask, flatten
from dagcore.task_bulk import (
    COMPLETION_CHECK_WORKERS,
    MixinNaiveBulkComplete,
    check_complete_concurrently,
)
from dagcore.task_register import Register
from dagcore.tools.range_listing import (
    _constrain_glob,
    _get_filesystems_and_globs,
    _get_per_location_glob,
    _list_existing,
    infer_bulk_complete_from_fs,
    most_common,
)

__all__ = [
    "MixinNaiveBulkComplete",
    "RangeBase",
    "RangeByMinutes",
    "RangeByMinutesBase",
    "RangeDaily",
    "RangeDailyBase",
    "RangeEvent",
    "RangeHourly",
    "RangeHourlyBase",
    "RangeMonthly",
    "_constrain_glob",
    "_get_filesystems_and_globs",
    "_get_per_location_glob",
    "_list_existing",
    "infer_bulk_complete_from_fs",
    "most_common",
]

logger = logging.getLogger(__name__)

# No bound (as in Luigi). Typed Any because the time parameters declare date defaults only.
_UNBOUNDED: Any = None
_BACK = "{} before now to keep complete (bounds a range without start; keep within retention)"
_FORWARD = "{} after now to keep complete (bounds a range without stop)"


class RangeEvent(Event):
    """Metrics fired with ``(of_family, value)``; ``DELAY`` counts instants from the oldest gap."""

    COMPLETE_COUNT = "event.tools.range.complete.count"
    COMPLETE_FRACTION = "event.tools.range.complete.fraction"
    DELAY = "event.tools.range.delay"


class _NoneOrIntParameter(Parameter[int | None]):
    """An int or None, written ``"None"`` as Luigi writes it (so task ids agree) and, unlike
    Luigi, parsed back: a range rebuilt from a worker message keeps ``now`` unset."""

    def parse(self, x: str) -> int | None:
        if x == "None":
            return None
        try:
            return int(x)
        except ValueError:
            raise ParameterException(
                f"expected seconds since the epoch (e.g. 1704067200) or None, got {x!r}"
            ) from None

    def normalize(self, x: Any) -> int | None:
        return None if x is None else int(x)

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        return None  # normalize() already made the value an int or None


class _NoneOrStrParameter(Parameter[str | None]):
    """A string that may be None, written ``"None"`` as Luigi's ``Parameter(default=None)``."""

    def parse(self, x: str) -> str | None:
        return None if x == "None" else x

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        # Luigi warns about its own None default here; a default is not a user mistake.
        if param_value is not None:
            super()._warn_on_wrong_param_type(param_name, param_value)


class _NoneParses:
    """Lets ``"None"``, Luigi's string for an unset bound, parse back to None (Luigi fails)."""

    def parse(self, x: str) -> Any:
        return None if x == "None" else super().parse(x)  # type: ignore[misc]


class _DateBound(_NoneParses, DateParameter):
    pass


class _DateHourBound(_NoneParses, DateHourParameter):
    pass


class _DateMinuteBound(_NoneParses, DateMinuteParameter):
    pass


class _MonthBound(_NoneParses, MonthParameter):
    pass


class _FamilyWithParams:
    """The ``cls`` a range passes to ``bulk_complete``: calling it adds ``of_params`` (Luigi
    passes a ``functools.partial``); attributes are the class's, unlike with a partial."""

    def __init__(self, cls: type[Task], params: dict[str, Any]) -> None:
        self._cls = cls
        self._params = params

    def __call__(self, *args: Any, **kwargs: Any) -> Task:
        return self._cls(*args, **{**self._params, **kwargs})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


class RangeBase(WrapperTask):
    """Requires the missing instances of ``of`` over a window of time.

    Subclasses fix the kind of instant (day, hour, minute interval, month) by providing the
    datetime arithmetic below; ``start`` and ``stop`` take the matching parameter type. At
    least one of them must be given, and ``start`` unless ``reverse`` is set.
    """

    of = TaskParameter(description="the task family to keep complete; it takes one time parameter")
    of_params = DictParameter(default={}, description="other parameters to instantiate 'of' with")
    # Redeclared with the right type by each subclass.
    start = Parameter[Any]()
    stop = Parameter[Any]()
    reverse = BoolParameter(default=False, description="fill the newest gaps first")
    task_limit = IntParameter(default=50, description="the most instances to require at once")
    now = _NoneOrIntParameter(
        default=None, description="the current time in seconds since the epoch (for tests)"
    )
    param_name = _NoneOrStrParameter(
        default=None,
        positional=False,
        description="the parameter of 'of' that takes the time (default: its first positional)",
    )

    completion_check_workers: ClassVar[int] = COMPLETION_CHECK_WORKERS

    # -- the datetime arithmetic each subclass provides -----------------------------------------

    def datetime_to_parameter(self, dt: datetime) -> Any:
        """Return the value of the time parameter of ``of`` for the instant ``dt``."""
        raise NotImplementedError

    def parameter_to_datetime(self, p: Any) -> datetime:
        """Return the instant a value of the time parameter stands for."""
        raise NotImplementedError

    def moving_start(self, now: datetime) -> datetime:
        """Return the earliest instant considered, relative to ``now``."""
        raise NotImplementedError

    def moving_stop(self, now: datetime) -> datetime:
        """Return the instant the window ends before, relative to ``now``."""
        raise NotImplementedError

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """Return the sorted instants in ``[finite_start, finite_stop)`` that need an instance."""
        raise NotImplementedError

    # -- helpers for subclasses and bulk checks -------------------------------------------------

    @property
    def of_cls(self) -> type[Task]:
        """The ``of`` class (a family name given programmatically is looked up)."""
        of: Any = self.of
        return Register.get_task_cls(of) if isinstance(of, str) else of

    @property
    def _param_name(self) -> str:
        if self.param_name is not None:
            return self.param_name
        for name, param in self.of_cls.get_params():
            if param.positional:
                return name
        raise ParameterException(
            f"{self.get_task_family()}: {self.of_cls.get_task_family()} has no positional "
            "parameter to range over; pass param_name=... naming its time parameter"
        )

    def _task_parameters(self, param: Any) -> dict[str, Any]:
        kwargs = dict(self.of_params)
        kwargs[self._param_name] = param
        return kwargs

    def datetime_to_parameters(self, dt: datetime) -> dict[str, Any]:
        """Return all the keyword arguments of the ``of`` instance for the instant ``dt``."""
        return self._task_parameters(self.datetime_to_parameter(dt))

    def parameters_to_datetime(self, p: dict[str, Any]) -> datetime:
        """Return the instant of the keyword arguments of an ``of`` instance."""
        return self.parameter_to_datetime(p[self._param_name])

    def _instantiate_task_cls(self, param: Any) -> Task:
        return self.of_cls(**self._task_parameters(param))

    def _format_datetime(self, dt: datetime) -> str:
        return dict(self.get_params())["start"].serialize(self.datetime_to_parameter(dt))

    def _format_range(self, datetimes: Sequence[datetime]) -> str:
        """``[first, last]`` of ``datetimes``, written as the time parameter writes them."""
        return f"[{self._format_datetime(datetimes[0])}, {self._format_datetime(datetimes[-1])}]"

    # -- completeness ---------------------------------------------------------------------------

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        """Return the instants whose ``of`` instance is incomplete; override for bulk checks.

        This base version calls ``complete()`` on every instance, concurrently.
        """
        tasks = [
            self._instantiate_task_cls(self.datetime_to_parameter(d)) for d in finite_datetimes
        ]
        done = check_complete_concurrently(tasks, self.completion_check_workers)
        return [d for d, ok in zip(finite_datetimes, done, strict=True) if not ok]

    def _missing_datetimes(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        """Call ``missing_datetimes``, also in the old form ``(task_cls, finite_datetimes)``."""
        method: Callable[..., Iterable[datetime]] = self.missing_datetimes
        try:
            takes = len(inspect.signature(method).parameters)
        except (TypeError, ValueError):  # no signature to read: assume the current form
            takes = 1
        if takes == 2:
            warnings.warn(
                f"{type(self).__name__}.missing_datetimes(task_cls, finite_datetimes) is "
                "deprecated: override missing_datetimes(finite_datetimes) and use self.of_cls",
                DeprecationWarning,
                stacklevel=3,
            )
            return method(self.of_cls, finite_datetimes)
        return method(finite_datetimes)

    def _bulk_missing(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        """The strategy of the concrete ranges: ``bulk_complete``, then a listing, then checks."""
        of = self.of_cls
        candidates = [self.datetime_to_parameter(d) for d in finite_datetimes]
        bulk = of.bulk_complete
        # Luigi calls the classmethod's function with the class replaced by one that adds
        # of_params, so that ``cls(value)`` inside it builds the right instances.
        func: Callable[..., Iterable[Any]] | None = getattr(bulk, "__func__", None)
        try:
            if func is None:
                complete = bulk(candidates)
            else:
                complete = func(_FamilyWithParams(of, dict(self.of_params)), candidates)
            done = {self.parameter_to_datetime(p) for p in complete}
            return [d for d in finite_datetimes if d not in done]
        except NotImplementedError:
            pass
        # A listing only answers "do the output paths exist"; a custom complete() may ask more.
        first = self._instantiate_task_cls(self.datetime_to_parameter(finite_datetimes[0]))
        if _complete_means_outputs_exist(first):
            try:
                return infer_bulk_complete_from_fs(
                    finite_datetimes,
                    lambda d: self._instantiate_task_cls(self.datetime_to_parameter(d)),
                )
            except NotImplementedError as exc:
                logger.debug("No listing for %s (%s); checking one by one", of, exc)
        return RangeBase.missing_datetimes(self, finite_datetimes)

    def _check_parameters(self) -> None:
        family = f"{self.get_task_family()}(of={self.of_cls.get_task_family()})"
        if self.start is None and self.stop is None:
            raise ParameterException(f"{family}: give start, stop or both")
        if self.start is None and not self.reverse:
            raise ParameterException(
                f"{family}: without start the range is unbounded into the past; give start "
                "or set reverse=True"
            )
        if self.start is not None and self.stop is not None and self.start > self.stop:
            params = dict(self.get_params())
            raise ParameterException(
                f"{family}: start={params['start'].serialize(self.start)} is after "
                f"stop={params['stop'].serialize(self.stop)}; give start <= stop "
                "(start is inclusive, stop exclusive)"
            )

    def _window(self) -> tuple[datetime, datetime]:
        seconds = self.now
        # Naive UTC, as Luigi computes it: the time parameters carry no time zone.
        aware = datetime.now(UTC) if seconds is None else datetime.fromtimestamp(seconds, UTC)
        current = aware.replace(tzinfo=None)
        start = self.moving_start(current)
        if self.start is not None:
            start = max(start, self.parameter_to_datetime(self.start))
        stop = self.moving_stop(current)
        if self.stop is not None:
            stop = min(stop, self.parameter_to_datetime(self.stop))
        return start, stop

    def requires(self) -> list[Task]:
        """The missing instances of ``of``: at most ``task_limit``, oldest (or newest) first.

        Raises:
            ParameterException: the window is malformed (no bound, or start after stop).
        """
        cached: list[Task] | None = self.__dict__.get("_range_requires")
        if cached is not None:
            return cached  # the checks are expensive and the resolver may ask again
        self._check_parameters()
        start, stop = self._window()
        datetimes = self.finite_datetimes(start, stop) if start <= stop else []
        family = self.of_cls.get_task_family()
        missing: list[datetime] = []
        if datetimes:
            missing = sorted(self._missing_datetimes(datetimes))
            logger.debug(
                "Range %s of %s lacks %d of %d instances",
                self._format_range(datetimes),
                family,
                len(missing),
                len(datetimes),
            )
        self._emit_metrics(missing, start, stop)
        limit = self.task_limit
        chosen = missing[-limit:][::-1] if self.reverse else missing[:limit]
        if limit <= 0:
            chosen = []
        required = [self._instantiate_task_cls(self.datetime_to_parameter(d)) for d in chosen]
        self.__dict__["_range_requires"] = required
        return required

    def _emit_metrics(self, missing: list[datetime], start: datetime, stop: datetime) -> None:
        # An open range is measured over its finite part, widened to the bounds that are given.
        if self.start is not None:
            start = min(start, self.parameter_to_datetime(self.start))
        if self.stop is not None:
            stop = max(stop, self.parameter_to_datetime(self.stop))
        datetimes = self.finite_datetimes(start, stop)
        expected = len(datetimes)
        delay = expected - datetimes.index(missing[0]) if missing and missing[0] in datetimes else 0
        family = self.of_cls.get_task_family()
        complete = expected - len(missing)
        self.trigger_event(RangeEvent.DELAY, family, delay)
        self.trigger_event(RangeEvent.COMPLETE_COUNT, family, complete)
        self.trigger_event(
            RangeEvent.COMPLETE_FRACTION, family, complete / expected if expected else 1.0
        )


def _complete_means_outputs_exist(task: Task, depth: int = 0) -> bool:
    """True if ``task`` is complete exactly when its outputs (or, for a wrapper, those of its
    requirements, transitively) exist: then a listing of the outputs can stand in for it."""
    complete = type(task).complete
    if complete is Task.complete:
        return True
    if complete is WrapperTask.complete and depth < 20:
        deps = flatten(task.requires())
        return all(_complete_means_outputs_exist(dep, depth + 1) for dep in deps)
    return False


def _steps(
    first: datetime, step: timedelta | relativedelta, start: datetime, stop: datetime
) -> list[datetime]:
    """The instants ``first + k*step`` in ``[start, stop)``, ``first`` being aligned."""
    out: list[datetime] = []
    k = 0
    while (t := first + step * k) < stop:
        if t >= start:
            out.append(t)
        k += 1
    return out


class RangeDailyBase(RangeBase):
    """A range over days; ``of`` takes a :class:`~dagcore.parameter.DateParameter`."""

    start = _DateBound(default=_UNBOUNDED, description="first date, inclusive")
    stop = _DateBound(default=_UNBOUNDED, description="last date, exclusive")
    days_back = IntParameter(default=100, description=_BACK.format("days"))
    days_forward = IntParameter(default=0, description=_FORWARD.format("days"))

    def datetime_to_parameter(self, dt: datetime) -> date:
        return dt.date()

    def parameter_to_datetime(self, p: Any) -> datetime:
        return datetime(p.year, p.month, p.day)

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(days=self.days_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        first = datetime(finite_start.year, finite_start.month, finite_start.day)
        return _steps(first, timedelta(days=1), finite_start, finite_stop)


class RangeHourlyBase(RangeBase):
    """A range over hours; ``of`` takes a :class:`~dagcore.parameter.DateHourParameter`."""

    start = _DateHourBound(default=_UNBOUNDED, description="first hour, inclusive")
    stop = _DateHourBound(default=_UNBOUNDED, description="last hour, exclusive")
    hours_back = IntParameter(default=100 * 24, description=_BACK.format("hours"))
    hours_forward = IntParameter(default=0, description=_FORWARD.format("hours"))

    def datetime_to_parameter(self, dt: datetime) -> datetime:
        return dt

    def parameter_to_datetime(self, p: Any) -> datetime:
        return p  # type: ignore[no-any-return]

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(hours=self.hours_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(hours=self.hours_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        first = finite_start.replace(minute=0, second=0, microsecond=0)
        return _steps(first, timedelta(hours=1), finite_start, finite_stop)


class RangeByMinutesBase(RangeBase):
    """A range over ``minutes_interval``-minute steps; ``of`` takes a DateMinuteParameter."""

    start = _DateMinuteBound(default=_UNBOUNDED, description="first minute, inclusive")
    stop = _DateMinuteBound(default=_UNBOUNDED, description="last minute, exclusive")
    minutes_back = IntParameter(default=60 * 24, description=_BACK.format("minutes"))
    minutes_forward = IntParameter(default=0, description=_FORWARD.format("minutes"))
    minutes_interval = IntParameter(
        default=1, description="minutes between instances; must divide 60 evenly"
    )

    def datetime_to_parameter(self, dt: datetime) -> datetime:
        return dt

    def parameter_to_datetime(self, p: Any) -> datetime:
        return datetime(p.year, p.month, p.day, p.hour, p.minute)

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(minutes=self.minutes_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.minutes_forward)

    def _check_parameters(self) -> None:
        interval = self.minutes_interval
        if not 0 < interval < 60 or 60 % interval:
            raise ParameterException(
                f"{self.get_task_family()}(of={self.of_cls.get_task_family()}): "
                f"minutes_interval={interval} must be between 1 and 59 and divide 60 evenly "
                "(1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30)"
            )
        super()._check_parameters()

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        interval = self.minutes_interval
        # Instances sit on multiples of the interval within each hour: 20:13 rounds to 20:10.
        minute = finite_start.minute - finite_start.minute % interval
        first = finite_start.replace(minute=minute, second=0, microsecond=0)
        return _steps(first, timedelta(minutes=interval), finite_start, finite_stop)


class RangeMonthly(RangeBase):
    """A range over months; ``of`` takes a MonthParameter. Checks one by one (months are few)."""

    start = _MonthBound(default=_UNBOUNDED, description="first month, inclusive")
    stop = _MonthBound(default=_UNBOUNDED, description="last month, exclusive")
    months_back = IntParameter(default=13, description=_BACK.format("months"))
    months_forward = IntParameter(default=0, description=_FORWARD.format("months"))

    def datetime_to_parameter(self, dt: datetime) -> date:
        return date(dt.year, dt.month, 1)

    def parameter_to_datetime(self, p: Any) -> datetime:
        return datetime(p.year, p.month, 1)

    def moving_start(self, now: datetime) -> datetime:
        return datetime(now.year, now.month, 1) - relativedelta(months=self.months_back)

    def moving_stop(self, now: datetime) -> datetime:
        return datetime(now.year, now.month, 1) + relativedelta(months=self.months_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        first = datetime(finite_start.year, finite_start.month, 1)
        # A month counts only once the window reaches its first day (Luigi does the same).
        stop = datetime(finite_stop.year, finite_stop.month, 1)
        return _steps(first, relativedelta(months=1), finite_start, stop)


class RangeDaily(RangeDailyBase):
    """Keeps a daily task complete, checking in bulk (``bulk_complete`` or a listing).

    From the command line: ``dagcore run --module my.mod RangeDaily --of MyTask
    --start 2024-01-01``.
    """

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        return self._bulk_missing(finite_datetimes)


class RangeHourly(RangeHourlyBase):
    """Keeps an hourly task complete, checking in bulk (``bulk_complete`` or a listing)."""

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        return self._bulk_missing(finite_datetimes)


class RangeByMinutes(RangeByMinutesBase):
    """Keeps a task every few minutes complete, checking in bulk (``bulk_complete``, listing)."""

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> Iterable[datetime]:
        return self._bulk_missing(finite_datetimes)
