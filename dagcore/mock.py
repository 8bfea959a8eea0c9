"""In-memory targets for tests: :class:`MockFileSystem` and :class:`MockTarget`.

Mirrors ``luigi.mock``. All :class:`MockTarget` objects of a process share one dictionary of
path -> bytes, so a task writing ``MockTarget("out")`` and a test reading it meet without a
disk. Unlike Luigi's (a ``multiprocessing.Manager`` server), the store is an ordinary
dictionary: it is shared by threads, not by processes, so use it with ``workers=1``.

A path is a "directory" when other keys sit below it (``"a"`` for ``"a/b"``), which is enough
for :meth:`FileSystemTarget.temporary_path` and recursive removal.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from typing import IO, Any, ClassVar

from dagcore.atomic import CommitOnCleanExit
from dagcore.format import Format, as_stream, get_default_format
from dagcore.target import (
    FileAlreadyExists,
    FileSystem,
    FileSystemTarget,
    InvalidTargetArgument,
)

__all__ = ["MockFileSystem", "MockTarget"]


def _prefix(path: str) -> str:
    return path if path.endswith("/") else path + "/"


class MockFileSystem(FileSystem):
    """A process-wide in-memory file system; every instance sees the same data."""

    _data: ClassVar[dict[str, bytes]] = {}
    # Reentrant because the compound operations below call exists()/isdir() under the lock.
    _lock: ClassVar[threading.RLock] = threading.RLock()

    def get_all_data(self) -> dict[str, bytes]:
        """Return the live path -> bytes mapping (tests may inspect or seed it)."""
        return MockFileSystem._data

    def get_data(self, fn: str) -> bytes:
        """Return the bytes stored at ``fn``.

        Raises:
            FileNotFoundError: Nothing is stored at ``fn``.
        """
        try:
            return self._data[fn]
        except KeyError:
            raise FileNotFoundError(f"no mock file at {fn!r}") from None

    def put_data(self, fn: str, data: bytes) -> None:
        """Store ``data`` at ``fn``, replacing what was there."""
        with self._lock:
            self._data[fn] = bytes(data)

    def clear(self) -> None:
        """Forget every file."""
        with self._lock:
            self._data.clear()

    def _below(self, path: str) -> list[str]:
        prefix = _prefix(path)
        return [key for key in self._data if key.startswith(prefix)]

    def exists(self, path: str) -> bool:
        with self._lock:
            return path in self._data or bool(self._below(path))

    def isdir(self, path: str) -> bool:
        with self._lock:
            return bool(self._below(path))

    def listdir(self, path: str) -> list[str]:
        """Return the file at ``path`` and every file below it, sorted."""
        with self._lock:
            found = self._below(path)
            if path in self._data:
                found.append(path)
            return sorted(found)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Do nothing: directories exist implicitly (as in Luigi)."""

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Remove the file at ``path`` and, when ``recursive``, everything below it.

        Raises:
            FileNotFoundError: ``recursive`` is false and no file is stored at ``path``.
        """
        with self._lock:
            if not recursive and path not in self._data:
                raise FileNotFoundError(f"no mock file at {path!r}")
            self._data.pop(path, None)
            if recursive:
                for key in self._below(path):
                    del self._data[key]

    def _pairs(self, path: str, dest: str) -> list[tuple[str, str]]:
        if path in self._data:
            return [(path, dest)]
        below = self._below(path)
        if not below:
            raise FileNotFoundError(f"no mock file or directory at {path!r}")
        src_prefix, dest_prefix = _prefix(path), _prefix(dest)
        return [(key, dest_prefix + key[len(src_prefix) :]) for key in below]

    def _check_dest(self, dest: str, raise_if_exists: bool) -> None:
        if raise_if_exists and self.exists(dest):
            raise FileAlreadyExists(f"destination {dest!r} already exists")

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        with self._lock:
            self._check_dest(dest, raise_if_exists)
            for src, dst in self._pairs(path, dest):
                self._data[dst] = self._data.pop(src)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Rename without replacing; atomic because the check and move share the lock."""
        self.move(path, dest, raise_if_exists=True)

    def copy(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        with self._lock:
            self._check_dest(dest, raise_if_exists)
            for src, dst in self._pairs(path, dest):
                self._data[dst] = self._data[src]


class _MockSink(CommitOnCleanExit, io.BytesIO):
    """Collects a write and stores it in the mock file system when closed without an error."""

    def __init__(self, fs: MockFileSystem, path: str, mirror_on_stderr: bool) -> None:
        super().__init__()
        self._fs = fs
        self._path = path
        self._mirror = mirror_on_stderr
        self._at_line_start = True

    def seekable(self) -> bool:
        # Present the sink as a stream, like a real upload, so wrappers never seek in it.
        return False

    def write(self, data: Any) -> int:
        if self._mirror:
            self._echo(bytes(data).decode("utf8", errors="replace"))
        return super().write(data)

    def _echo(self, text: str) -> None:
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                sys.stderr.write(f"{self._path}: ")
            sys.stderr.write(piece)
            self._at_line_start = piece.endswith("\n")

    def close(self) -> None:
        if self.closed:
            return
        data = self.getvalue()
        super().close()
        self._fs.put_data(self._path, data)

    def abort(self) -> None:
        """Close without storing anything."""
        super().close()


class MockTarget(FileSystemTarget):
    """A file in the in-memory :class:`MockFileSystem`.

    Args:
        fn: The path (any string; ``/`` separates directories).
        is_tmp: Accepted for Luigi compatibility; has no effect.
        mirror_on_stderr: Echo everything written to stderr, each line prefixed with ``fn``.
        format: How ``open()`` presents the bytes (text by default).
    """

    fs: MockFileSystem = MockFileSystem()

    def __init__(
        self,
        fn: str | os.PathLike[str],
        is_tmp: bool = False,
        mirror_on_stderr: bool = False,
        format: Format | None = None,  # Luigi's keyword, shadowing the builtin
    ) -> None:
        super().__init__(fn)
        self.is_tmp = is_tmp
        self._mirror_on_stderr = mirror_on_stderr
        self.format = get_default_format() if format is None else format

    @property
    def uri(self) -> str:
        """``mock://`` followed by the path."""
        return f"mock://{self.path}"

    def open(self, mode: str = "r") -> IO[Any]:
        """Open the in-memory file through the target's format.

        As with :class:`~dagcore.local_target.LocalTarget`, ``b`` and ``t`` in ``mode`` are
        ignored and the format decides between text and bytes; a write is stored only when
        the stream is closed without an error.

        Raises:
            TypeError: ``mode`` is not a string.
            InvalidTargetArgument: ``mode`` is neither read nor write.
            FileNotFoundError: Reading a file that was never written.
        """
        if not isinstance(mode, str):
            raise TypeError(f"open() mode must be a str such as 'r' or 'w', not {mode!r}")
        rw_mode = mode.replace("b", "").replace("t", "")
        if rw_mode == "w":
            sink = _MockSink(self.fs, self.path, self._mirror_on_stderr)
            return as_stream(self.format.pipe_writer(sink))
        if rw_mode == "r":
            source = io.BytesIO(self.fs.get_data(self.path))
            return as_stream(self.format.pipe_reader(source))
        raise InvalidTargetArgument(
            f"cannot open mock file {self.path} with mode {mode!r}: use 'r' to read or 'w' to write"
        )
