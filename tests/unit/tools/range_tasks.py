"""Recurring tasks the range tests keep complete, and helpers to lay out their outputs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from dagcore.local_target import LocalTarget
from dagcore.parameter import (
    DateHourParameter,
    DateMinuteParameter,
    DateParameter,
    MonthParameter,
    Parameter,
)
from dagcore.target import Target
from dagcore.task import Task
from dagcore.tools.range import MixinNaiveBulkComplete


class RtDaily(Task):
    """One file per day, flat: ``ROOT/daily/2024-01-01.txt``."""

    root: ClassVar[str] = "."
    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/daily/{self.date:%Y-%m-%d}.txt")


class RtNestedDaily(Task):
    """One file per day, nested by month: ``ROOT/nested/2024/01/01/part-0``."""

    root: ClassVar[str] = "."
    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/nested/{self.date:%Y/%m/%d}/part-0")


class RtRegional(Task):
    """A daily task with another parameter, to range over with ``of_params``."""

    root: ClassVar[str] = "."
    region = Parameter()
    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/{self.region}/{self.date:%Y-%m-%d}.txt")


class RtHourly(Task):
    """One file per hour in a directory per day: ``ROOT/hourly/2024-01-01/05.txt``."""

    root: ClassVar[str] = "."
    hour = DateHourParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/hourly/{self.hour:%Y-%m-%d}/{self.hour:%H}.txt")


class RtMinutes(Task):
    """One file per minute slot: ``ROOT/minutes/2024-01-01T0015.txt``."""

    root: ClassVar[str] = "."
    minute = DateMinuteParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/minutes/{self.minute:%Y-%m-%dT%H%M}.txt")


class RtMonthly(Task):
    """One file per month: ``ROOT/monthly/2024-01.txt``."""

    root: ClassVar[str] = "."
    month = MonthParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/monthly/{self.month:%Y-%m}.txt")


class RtBulk(Task):
    """A task answering completeness in bulk; records every call it gets."""

    done: ClassVar[set[dt.date]] = set()
    calls: ClassVar[list[tuple[Any, list[dt.date]]]] = []
    date = DateParameter()

    @classmethod
    def bulk_complete(cls, parameter_tuples: Iterable[Any]) -> list[dt.date]:
        candidates = list(parameter_tuples)
        cls.calls.append((cls, candidates))
        return [d for d in candidates if d in cls.done]

    def complete(self) -> bool:
        raise AssertionError("a range must use bulk_complete, not complete()")


class RtNaive(MixinNaiveBulkComplete, Task):
    """MixinNaiveBulkComplete over outputs in a directory per region."""

    root: ClassVar[str] = "."
    date = DateParameter()
    region = Parameter(default="eu")

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/naive/{self.region}/{self.date:%Y-%m-%d}.txt")


class RtCustomComplete(Task):
    """Has file outputs, but complete() also asks for a validation mark."""

    root: ClassVar[str] = "."
    validated: ClassVar[set[dt.date]] = set()
    date = DateParameter()

    def output(self) -> LocalTarget:
        return LocalTarget(f"{self.root}/custom/{self.date:%Y-%m-%d}.txt")

    def complete(self) -> bool:
        return super().complete() and self.date in self.validated


class FlagTarget(Target):
    """A target that is not a path: exists when its key is in ``flags``."""

    flags: ClassVar[set[str]] = set()

    def __init__(self, key: str) -> None:
        self.key = key

    def exists(self) -> bool:
        return self.key in self.flags


class RtFlagged(Task):
    """Outputs that cannot be listed, so ranges must check them one by one."""

    date = DateParameter()

    def output(self) -> FlagTarget:
        return FlagTarget(f"{self.date:%Y-%m-%d}")


class RtConcurrent(Task):
    """complete() waits until ``parties`` checks are in flight at once."""

    barrier: ClassVar[threading.Barrier] = threading.Barrier(1)
    date = DateParameter()

    def complete(self) -> bool:
        self.barrier.wait()
        return False


def touch(task: Task) -> None:
    """Create every output file of a LocalTarget task."""
    target = task.output()
    assert isinstance(target, LocalTarget)
    path = Path(target.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("done", encoding="utf-8")


def epoch(moment: dt.datetime) -> int:
    """Seconds since the epoch of a naive UTC datetime, for the ``now`` parameter."""
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds())
