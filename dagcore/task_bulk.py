"""Completeness of many tasks at once: the building blocks of ``bulk_complete``.

The range tools ask a task class which of many parameter values are complete. A class may
answer with its own ``bulk_complete`` (one listing, one query); :class:`MixinNaiveBulkComplete`
gives it one that builds each task and checks its ``complete()``, on a small thread pool
because one check may cost a network round trip (an S3 ``HEAD``). Re-exported by
:mod:`dagcore.task`, where Luigi keeps these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

__all__ = [
    "COMPLETION_CHECK_WORKERS",
    "BulkCompleteNotImplementedError",
    "MixinNaiveBulkComplete",
    "check_complete_concurrently",
]

#: Threads checking ``complete()`` one task at a time: enough to hide S3 latency, few enough
#: not to trip request-rate limits.
COMPLETION_CHECK_WORKERS = 8


class _Completable(Protocol):
    def complete(self) -> bool: ...


class BulkCompleteNotImplementedError(NotImplementedError):
    """Raised by the default ``bulk_complete``: the range tools then check another way."""


def check_complete_concurrently(
    tasks: Sequence[_Completable], workers: int = COMPLETION_CHECK_WORKERS
) -> list[bool]:
    """Return ``task.complete()`` for each task, checked on a small thread pool, in order."""
    if len(tasks) <= 1 or workers <= 1:
        return [bool(task.complete()) for task in tasks]
    with ThreadPoolExecutor(min(workers, len(tasks)), thread_name_prefix="dagcore-check") as pool:
        return list(pool.map(lambda task: bool(task.complete()), tasks))


def _build(cls: Any, candidate: Any) -> _Completable:
    if isinstance(candidate, Mapping):
        return cls(**candidate)  # type: ignore[no-any-return]
    if isinstance(candidate, list | tuple):
        return cls(*candidate)  # type: ignore[no-any-return]
    return cls(candidate)  # type: ignore[no-any-return]


class MixinNaiveBulkComplete:
    """Gives a task class a ``bulk_complete`` that checks each candidate's ``complete()``.

    Mix it in before ``Task``: ``class Daily(MixinNaiveBulkComplete, Task)``. A candidate is one
    parameter value, a tuple of positional values or a dict of named values; the checks run
    concurrently (:func:`check_complete_concurrently`).
    """

    @classmethod
    def bulk_complete(cls, parameter_tuples: Iterable[Any]) -> list[Any]:
        """Return the candidates whose task is complete, in the order given."""
        candidates = list(parameter_tuples)
        tasks = [_build(cls, candidate) for candidate in candidates]
        done = check_complete_concurrently(tasks)
        return [candidate for candidate, ok in zip(candidates, done, strict=True) if ok]
