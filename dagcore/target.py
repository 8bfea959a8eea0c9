"""Targets: what a task produces, and the file systems file-like targets live on.

A :class:`Target` only has to say whether it :meth:`~Target.exists`; a task is complete when
all its outputs exist. :class:`FileSystemTarget` adds a path, a :class:`FileSystem` to delegate
to, and ``open()`` through a :mod:`dagcore.format`. Names and signatures follow
``luigi.target`` so ported code keeps working, including the file system exceptions, which
live in :mod:`dagcore.errors` and are re-exported here.
"""

from __future__ import annotations

import abc
import io
import logging
import os
import pathlib
import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, Protocol, runtime_checkable

from dagcore.atomic import CommitOnCleanExit
from dagcore.errors import (
    FileAlreadyExists,
    FileSystemException,
    MissingParentDirectory,
    NotADirectory,
    TargetError,
)

__all__ = [
    "AtomicLocalFile",
    "FileAlreadyExists",
    "FileSystem",
    "FileSystemException",
    "FileSystemTarget",
    "InvalidTargetArgument",
    "MissingParentDirectory",
    "NotADirectory",
    "Target",
    "TargetLike",
]

logger = logging.getLogger(__name__)

_WILDCARDS = ("*", "?", "[", "{")


class InvalidTargetArgument(TargetError, ValueError):
    """A target was built or opened with arguments it cannot use (a bad mode, no path)."""


@runtime_checkable
class TargetLike(Protocol):
    """Anything a task can return from ``output()``: it only has to know whether it exists."""

    def exists(self) -> bool:
        """Return whether the data this target stands for is there."""
        ...


class Target(abc.ABC):
    """Something a task produces; the task is complete when all its targets exist."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """Return ``True`` when the target has been produced."""

    @property
    def uri(self) -> str:
        """A string naming the data, recorded as lineage in the run history.

        Subclasses should return a stable URI (``file://``, ``s3://``, ...); the default is the
        target's ``repr``, which is only as stable as that repr.
        """
        return repr(self)


class FileSystem(abc.ABC):
    """Operations on paths of one storage system, used by :class:`FileSystemTarget`.

    Only :meth:`exists` and :meth:`remove` are required, as in Luigi; the other operations raise
    ``NotImplementedError`` until a subclass provides them. Problems are reported as
    :class:`FileSystemException` subclasses.
    """

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Return whether a file or directory exists at ``path``."""

    @abc.abstractmethod
    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Remove the file or directory at ``path``.

        Args:
            path: What to remove.
            recursive: Remove a directory with everything below it.
            skip_trash: Delete for good on systems that have a trash (kept for Luigi's
                signature; local and in-memory systems have none).
        """

    def _unsupported(self, operation: str) -> NotImplementedError:
        return NotImplementedError(
            f"{operation}() is not implemented on {type(self).__name__}; override it in the "
            "FileSystem subclass to use it"
        )

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Create the directory ``path``.

        Args:
            path: The directory to create.
            parents: Create missing parents; otherwise raise :class:`MissingParentDirectory`.
            raise_if_exists: Raise :class:`FileAlreadyExists` when ``path`` exists.
        """
        raise self._unsupported("mkdir")

    def isdir(self, path: str) -> bool:
        """Return whether ``path`` is a directory."""
        raise self._unsupported("isdir")

    def listdir(self, path: str) -> Iterable[str]:
        """Return the paths of all files below ``path``, recursively."""
        raise self._unsupported("listdir")

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Move ``path`` to ``dest``, replacing ``dest`` unless ``raise_if_exists``."""
        raise self._unsupported("move")

    def rename(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Alias of :meth:`move`."""
        self.move(path, dest, raise_if_exists=raise_if_exists)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Rename ``path`` to ``dest``, failing if ``dest`` exists instead of moving into it.

        This default checks and then moves, so two writers can race between the two steps;
        file systems that can rename without replacing should override it.

        Raises:
            FileAlreadyExists: ``dest`` exists.
        """
        logger.warning("%s cannot rename without a race; override rename_dont_move()", self)
        if self.exists(dest):
            raise FileAlreadyExists(f"cannot rename {path} to {dest}: {dest} already exists")
        self.move(path, dest)

    def copy(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Copy the file ``path`` to ``dest``."""
        raise self._unsupported("copy")


class FileSystemTarget(Target):
    """A target that is a path on a :class:`FileSystem`.

    Args:
        path: The path; ``os.PathLike`` objects are turned into strings.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)

    def __str__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @property
    @abc.abstractmethod
    def fs(self) -> FileSystem:
        """The file system this target's path lives on."""

    @abc.abstractmethod
    def open(self, mode: str = "r") -> IO[Any]:
        """Open the target for reading (``"r"``) or writing (``"w"``) through its format.

        Writes are atomic: the data appears at the path only when the stream is closed
        without an error.
        """

    @property
    def uri(self) -> str:
        """The absolute ``file://`` URI of the path; non-local targets override this."""
        return pathlib.Path(os.path.abspath(self.path)).as_uri()

    def exists(self) -> bool:
        """Return whether the path exists on :attr:`fs`."""
        if any(char in self.path for char in _WILDCARDS):
            # exists() does not expand patterns, so a pattern that matches some files is
            # probably being used to wait for data that may still be incomplete.
            logger.warning(
                "Target path %s contains wildcards, which exists() does not expand; "
                "override exists() to check a pattern",
                self.path,
            )
        return self.fs.exists(self.path)

    def remove(self) -> None:
        """Remove the path (recursively for a directory)."""
        self.fs.remove(self.path)

    def move(self, new_path: str, raise_if_exists: bool = False) -> None:
        """Move the data to ``new_path``; this target keeps pointing at the old path."""
        self.fs.move(self.path, str(new_path), raise_if_exists=raise_if_exists)

    def rename(self, new_path: str, raise_if_exists: bool = False) -> None:
        """Alias of :meth:`move`."""
        self.move(new_path, raise_if_exists=raise_if_exists)

    def copy(self, new_path: str, raise_if_exists: bool = False) -> None:
        """Copy the data to ``new_path``."""
        self.fs.copy(self.path, str(new_path), raise_if_exists=raise_if_exists)

    def _trailing_slash(self) -> str:
        return self.path[-1] if self.path and self.path[-1] in "/\\" else ""

    @contextmanager
    def temporary_path(self) -> Iterator[str]:
        """Yield a temporary path next to the target's path, for tools that write files.

        The parent directory is created first. When the block ends cleanly the temporary path
        is renamed to the target's path, which must not exist yet; when it raises, whatever
        was written at the temporary path is removed and the target's path is left alone.

        Yields:
            A path on :attr:`fs` in the same directory as the target's path.

        Raises:
            FileAlreadyExists: The target's path appeared while the block ran.
        """
        bare = self.path.rstrip("/\\")
        # Luigi's naming, so clean-up rules and ignore patterns written for Luigi still match.
        temp_path = f"{bare}-luigi-tmp-{random.randrange(10**10):010d}{self._trailing_slash()}"
        parent = os.path.dirname(bare)
        if parent:
            self.fs.mkdir(parent, parents=True, raise_if_exists=False)
        try:
            yield temp_path
        except BaseException:
            self._discard(temp_path)
            raise
        self.fs.rename_dont_move(temp_path, self.path)

    def _discard(self, temp_path: str) -> None:
        # The user's exception is the one worth seeing; a failed clean-up is only logged.
        try:
            if self.fs.exists(temp_path):
                self.fs.remove(temp_path, recursive=True)
        except Exception:
            logger.exception("Could not remove temporary path %s", temp_path)

    def _touchz(self) -> None:
        with self.open("w"):
            pass


class AtomicLocalFile(CommitOnCleanExit, io.BufferedWriter):
    """A binary file that reaches its destination only when closed without an error.

    Data goes to a temporary file (by default next to ``path``, so the final rename stays on
    one file system and is atomic); :meth:`close` calls :meth:`move_to_final_destination`,
    which by default ``os.replace``-s it onto ``path``. An exception in a ``with`` block,
    :meth:`abort`, or garbage collection without ``close()`` removes the temporary file. A
    process killed mid-write can leave the temporary file behind, never a partial ``path``.

    Subclasses for remote stores override :meth:`generate_tmp_path` (e.g. to use the system
    temporary directory) and :meth:`move_to_final_destination` (e.g. to upload).

    Args:
        path: The final destination.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._tmp_path = ""
        raw = self._create_tmp_file()
        super().__init__(raw)

    def _create_tmp_file(self) -> io.FileIO:
        # "x" (O_EXCL) so two writers can never share a temporary file; a collision of the
        # random suffix is just retried.
        for _ in range(100):
            candidate = self.generate_tmp_path(self.path)
            try:
                raw = io.FileIO(candidate, "xb")
            except FileExistsError:
                continue
            self._tmp_path = candidate
            return raw
        raise FileSystemException(f"could not create a temporary file for {self.path}")

    @property
    def tmp_path(self) -> str:
        """Where the data is written until the file is committed."""
        return self._tmp_path

    def generate_tmp_path(self, path: str) -> str:
        """Return a fresh temporary path for data bound for ``path``."""
        return f"{path}-luigi-tmp-{random.randrange(10**10):010d}"

    def move_to_final_destination(self) -> None:
        """Put the closed temporary file in place at :attr:`path`."""
        os.replace(self._tmp_path, self.path)

    def close(self) -> None:
        """Flush, close and commit the file (only the first call does anything)."""
        if self.closed:
            return
        try:
            super().close()
            self.move_to_final_destination()
        finally:
            self._remove_tmp()

    def abort(self) -> None:
        """Close the file and discard what was written."""
        if self.closed:
            return
        try:
            # BufferedWriter.close() would flush; the data is unwanted, so skip straight to the
            # raw file, which is what holds the descriptor.
            self.raw.close()
        finally:
            self._remove_tmp()

    def _remove_tmp(self) -> None:
        if self._tmp_path:
            try:
                os.remove(self._tmp_path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> AtomicLocalFile:
        return self
