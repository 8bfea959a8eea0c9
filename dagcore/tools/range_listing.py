"""Completeness of many date-partitioned tasks from a few directory listings.

Checking that 2,400 hourly outputs exist on S3 one by one costs 2,400 requests; listing the
directories they live in costs a handful. :func:`infer_bulk_complete_from_fs` builds the task of
every instant, collects its output paths, lists the deepest directories that cover them and
reports the instants whose paths are not all listed. The range tools use it when a task class
has no ``bulk_complete`` of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from dagcore.target import FileSystemTarget
from dagcore.task import Task, flatten_output

__all__ = ["MAX_LISTINGS", "infer_bulk_complete_from_fs"]

logger = logging.getLogger(__name__)

#: At most this many directory listings per output location.
MAX_LISTINGS = 16


def _listing_roots(paths: list[str], limit: int) -> list[str]:
    """Directories whose recursive listings cover ``paths``: as deep as ``limit`` allows.

    Deeper directories mean shorter listings (``/data/2024/01/`` rather than all of
    ``/data/``), which matters for datasets with a long history.
    """
    common = os.path.commonprefix(paths)
    root = common[: common.rfind("/") + 1]
    if not root.strip("/") or root.endswith("://"):
        raise NotImplementedError(f"outputs such as {paths[0]!r} share no directory to list")
    groups: dict[str, list[str]] = {root: paths}
    while True:
        deeper: dict[str, list[str]] = {}
        for directory, members in groups.items():
            children: dict[str, list[str]] = {}
            for path in members:
                head, sep, _ = path[len(directory) :].partition("/")
                if not sep:  # a file right in this directory: go no deeper here
                    children = {directory: members}
                    break
                children.setdefault(f"{directory}{head}/", []).append(path)
            deeper.update(children)
        if len(deeper) > limit or deeper.keys() == groups.keys():
            return sorted(groups)
        groups = deeper


def _with_ancestors(listed: Iterable[str], root: str) -> set[str]:
    """The listed paths and every directory between them and ``root`` (a directory target
    exists when something is listed below it)."""
    found: set[str] = set()
    for path in listed:
        path = path.rstrip("/")
        while len(path) > len(root) and path not in found:
            found.add(path)
            path = path[: path.rfind("/")]
    return found


def infer_bulk_complete_from_fs(
    datetimes: Sequence[datetime],
    datetime_to_task: Callable[[datetime], Task],
    datetime_to_re: Callable[[datetime], str] | None = None,
) -> list[datetime]:
    """Return the datetimes whose task lacks an output, found by listing directories.

    Works for tasks whose outputs are :class:`~dagcore.target.FileSystemTarget` paths with the
    default ``exists()``, on a file system whose ``listdir`` lists recursively (local, S3). The
    exact output paths are looked up in the listings, so ``datetime_to_re`` (Luigi's hint for
    where the date sits in the path) is accepted for compatibility and not needed. Paths are
    compared as strings, and a directory output counts only when something is inside it, so
    an odd spelling (``a//b``) or an empty directory shows as missing: the range then requires
    a task that turns out complete, never the reverse.

    Raises:
        NotImplementedError: the outputs are not plain file system paths, differ in number
            between instants, or the file system cannot list; check one by one instead.
    """
    del datetime_to_re
    if not datetimes:
        return []
    outputs = [flatten_output(datetime_to_task(d)) for d in datetimes]
    if not outputs[0]:
        raise NotImplementedError("the task has no outputs to list")
    for outs, d in zip(outputs, datetimes, strict=True):
        if len(outs) != len(outputs[0]):
            raise NotImplementedError(f"the number of outputs changes over time (at {d})")
        for target in outs:
            if not isinstance(target, FileSystemTarget) or (
                type(target).exists is not FileSystemTarget.exists
            ):
                raise NotImplementedError(f"{target!r} is not a plain file system path")
    present: set[str] = set()
    for location in zip(*outputs, strict=True):  # one logical output across all instants
        paths = [target.path.rstrip("/") for target in location]
        fs = location[0].fs
        for root in _listing_roots(paths, MAX_LISTINGS):
            logger.debug("Listing %s", root)
            present |= _with_ancestors(fs.listdir(root), root)
    return [
        d
        for d, outs in zip(datetimes, outputs, strict=True)
        if not all(target.path.rstrip("/") in present for target in outs)
    ]
