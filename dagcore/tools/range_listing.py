"""Completeness of many date-partitioned tasks from a few directory listings.

Checking that 2,400 hourly outputs exist on S3 one by one costs 2,400 requests; listing the
directories they live in costs a handful. :func:`infer_bulk_complete_from_fs` builds the task of
every instant, collects its output paths, lists the deepest directories that cover them and
reports the instants whose paths are not all listed. The range tools use it when a task class
has no ``bulk_complete`` of its own.

Luigi's own strategy, for file systems whose ``listdir`` takes a glob (HDFS), is here too:
:func:`_get_filesystems_and_globs` finds where the date sits in each output path and turns it
into a glob, :func:`_constrain_glob` narrows that glob to the digits that occur, and
:func:`_list_existing` lists what the globs match.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from dagcore.mock import MockTarget
from dagcore.target import FileSystem, FileSystemTarget
from dagcore.task import Task, flatten_output

__all__ = ["MAX_LISTINGS", "infer_bulk_complete_from_fs", "most_common"]

# The exists() methods that only ask whether the path is in the file system, which is what a
# listing answers (a MockTarget's own exists() looks its path up in the mock store).
_PATH_EXISTS = frozenset({FileSystemTarget.exists, MockTarget.exists})

_H = TypeVar("_H", bound=Hashable)
_DIGIT = "[0-9]"

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
                type(target).exists not in _PATH_EXISTS
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


# -- Luigi's glob-based listing ------------------------------------------------------------------


def most_common(items: Iterable[_H]) -> tuple[_H, int]:
    """Return the most frequent item and its count (the first seen among equals).

    Raises:
        ValueError: ``items`` is empty.
    """
    ranked = Counter(items).most_common(1)
    if not ranked:
        raise ValueError("most_common() of an empty sequence")
    return ranked[0]


def _digit_class(chars: Sequence[str]) -> str:
    """A glob character class for ``chars``: a range when they are consecutive (``[1-5]``)."""
    ordered = sorted(chars)
    if len(ordered) > 1 and ord(ordered[-1]) - ord(ordered[0]) == len(ordered) - 1:
        return f"[{ordered[0]}-{ordered[-1]}]"
    return "[" + "".join(ordered) + "]"


def _constrain_glob(glob: str, paths: Iterable[str], limit: int = 5) -> list[str]:
    """Split ``glob`` into narrower globs that still match every path in ``paths``.

    Working from the left, each ``[0-9]`` becomes the digits that occur at its position, one
    glob per digit, while the globs stay few (their digit choices at most ``limit``); the
    next ``[0-9]`` then becomes a class of the digits seen there. Listing ``/2014/0[1-3]``
    rather than ``/[0-9][0-9][0-9][0-9]/[0-9][0-9]`` keeps listings of a long history short.
    """
    current: dict[str, list[str]] = {glob: list(paths)}
    while True:
        pos = next(iter(current)).find(_DIGIT)
        if pos < 0:
            return list(current)
        # Wildcards are replaced from the left, so the text before ``pos`` is literal and
        # ``pos`` is also the position in the paths.
        seen = {g: sorted({path[pos] for path in members}) for g, members in current.items()}
        if sum(len(chars) for chars in seen.values()) > limit:
            return [g.replace(_DIGIT, _digit_class(seen[g]), 1) for g in current]
        narrower: dict[str, list[str]] = {}
        for g, members in current.items():
            for char in seen[g]:
                narrower[g.replace(_DIGIT, char, 1)] = [p for p in members if p[pos] == char]
        current = narrower


def _get_per_location_glob(
    tasks: Sequence[Task], outputs: Sequence[Any], regexes: Sequence[re.Pattern[str]]
) -> str:
    """The glob of the directory holding one logical output across many instants.

    Each regex has one group per date field (year, month, ...) of its instant; where the
    groups match most often in the output paths becomes ``[0-9]`` wildcards, and the last
    path component is dropped (the listing is of its directory).

    Raises:
        NotImplementedError: an output path does not show its instant's date.
    """
    paths = [output.path for output in outputs]
    matches = []
    for regex, path, task in zip(regexes, paths, tasks, strict=True):
        match = regex.search(path)
        if match is None:
            raise NotImplementedError(f"Cannot find the date of {task} in its output path {path!r}")
        matches.append(match)
    spans = [
        most_common(m.span(group) for m in matches)[0]
        for group in range(1, len(matches[0].groups()) + 1)
    ]
    chars: list[str] = list(paths[0])
    for start, end in spans:
        chars[start:end] = [_DIGIT] * (end - start)
    return "".join(chars).rsplit("/", 1)[0]


def _sample_datetimes() -> list[datetime]:
    # Scattered instants whose fields are unlikely to all appear in a path by accident.
    return [
        datetime(year, month, day, hour)
        for year in range(2000, 2050, 10)
        for month in range(1, 4)
        for day in range(5, 8)
        for hour in range(21, 24)
    ]


def _get_filesystems_and_globs(
    datetime_to_task: Callable[[datetime], Task], datetime_to_re: Callable[[datetime], str]
) -> list[tuple[FileSystem, str]]:
    """``(file system, glob)`` for each logical output of the task (or of a wrapper's tasks).

    ``datetime_to_re(d)`` is a regex with one group per date field, e.g.
    ``d.strftime("(%Y).*(%m).*(%d)")``.

    Raises:
        NotImplementedError: the number of outputs changes between instants, an output is
            not a :class:`~dagcore.target.FileSystemTarget`, or a path does not show its date.
    """
    samples = _sample_datetimes()
    regexes = [re.compile(datetime_to_re(d)) for d in samples]
    tasks = [datetime_to_task(d) for d in samples]
    outputs = [flatten_output(task) for task in tasks]
    for outs, task in zip(outputs, tasks, strict=True):
        if len(outs) != len(outputs[0]):
            raise NotImplementedError(
                f"The outputs must be the same over time: {outs!r} for {task}, "
                f"{outputs[0]!r} for {tasks[0]}"
            )
        for target in outs:
            if not isinstance(target, FileSystemTarget):
                raise NotImplementedError(f"{target!r} of {task} is not a FileSystemTarget")
    return [
        (location[0].fs, _get_per_location_glob(tasks, location, regexes))
        for location in zip(*outputs, strict=True)
    ]


def _list_existing(filesystem: FileSystem, glob: str, paths: Sequence[str]) -> set[str]:
    """The paths that the file system lists under ``glob``, narrowed to cover ``paths``.

    For a file system whose ``exists`` and ``listdir`` accept globs.
    """
    listed: set[str] = set()
    for narrowed in sorted(_constrain_glob(glob, paths)):
        logger.debug("Listing %s", narrowed)
        if filesystem.exists(narrowed):
            listed.update(filesystem.listdir(narrowed))
    return listed
