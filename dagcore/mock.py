"""In-memory targets for tests: :class:`MockFileSystem` and :class:`MockTarget`.

Mirrors ``luigi.mock``. All :class:`MockTarget` objects share one mapping of path -> bytes, so a
task writing ``MockTarget("out")`` and a test reading it meet without a disk. The mapping is a
plain dictionary of the process that uses it first (fast: resolving a large graph of mock
outputs costs no inter-process call); processes it forks while mock files are in use reach it
through a :mod:`multiprocessing.managers` server that it then starts in a thread (Luigi keeps
its mock files in a manager too), so tasks run in worker processes (``workers > 1``) write
where the test that started them reads. Compound operations (move, copy, recursive removal)
hold a lock shared by those processes.

A path is a "directory" when other keys sit below it (``"a"`` for ``"a/b"``), which is enough
for :meth:`FileSystemTarget.temporary_path` and recursive removal.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from multiprocessing import managers
from typing import IO, Any

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


class _SharedFiles(MutableMapping[str, bytes]):
    """The manager's dictionary as a mapping (compares equal to a dict with the same items)."""

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy

    def __getitem__(self, key: str) -> bytes:
        value: bytes = self._proxy[key]
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self._proxy[key] = value

    def __delitem__(self, key: str) -> None:
        del self._proxy[key]

    def __contains__(self, key: object) -> bool:
        return bool(self._proxy.__contains__(key))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._proxy)

    def keys(self) -> Any:
        return list(self._proxy.keys())  # one round trip, not one per key

    def items(self) -> Any:
        return list(self._proxy.items())

    def clear(self) -> None:
        self._proxy.clear()

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _FilesManager(managers.BaseManager):
    """Serves the owning process's files and lock to the processes it forks."""


class _Store:
    """Where the files live.

    The process that first uses mock files owns them: a plain dictionary and lock, so checks
    cost no inter-process call (resolving a large graph of mock outputs stays fast). When it
    forks while they are in use, it starts serving both from a thread (a
    :mod:`multiprocessing.managers` server, as Luigi keeps its mock files in a manager); a
    forked process reaches them through proxies, connected on its first use, so tasks run in
    worker processes (``workers > 1``) write where the test that started them reads.
    """

    def __init__(self) -> None:
        self.files: MutableMapping[str, bytes] = {}
        self.lock: Any = threading.RLock()
        self.used = False
        self._served_at: tuple[Any, bytes] | None = None  # (address, authkey) when serving
        self._client_of: tuple[Any, bytes] | None = None  # in a forked process
        self._pending = False  # a forked process that has not connected yet
        self._connecting = threading.Lock()

    def current(self) -> tuple[MutableMapping[str, bytes], Any]:
        """The files and the lock for compound operations, as this process reaches them."""
        self.used = True
        if self._pending:
            with self._connecting:
                if self._pending:
                    self._connect()
        return self.files, self.lock

    def serve(self) -> None:
        """Before a fork: start serving the files, if they are in use and not served yet."""
        if not self.used or self._served_at is not None or self._client_of is not None:
            return
        files, lock, authkey = self.files, self.lock, os.urandom(32)
        registry = _FilesManager(authkey=authkey)
        registry.register("files", callable=lambda: files, proxytype=managers.DictProxy)
        # AcquirerProxy (acquire/release/with) is what SyncManager hands out for its locks.
        lock_proxy = getattr(managers, "AcquirerProxy")  # noqa: B009 - absent from typeshed
        registry.register("lock", callable=lambda: lock, proxytype=lock_proxy)
        server = registry.get_server()
        # A daemon thread: it lives as long as this process and never delays its exit.
        threading.Thread(
            target=server.serve_forever, name="dagcore-mock-files", daemon=True
        ).start()
        self._served_at = (server.address, authkey)

    def forked(self) -> None:
        """In a forked process: use the files of the process that serves them.

        Connections are never inherited (a child's proxies are its own), so a process forked
        from a client connects afresh too.
        """
        self._connecting = threading.Lock()  # another thread may have held the old one
        if self._served_at is not None:
            self._client_of, self._served_at = self._served_at, None
        if self._client_of is not None:
            self.files, self.lock, self._pending = {}, threading.RLock(), True

    def _connect(self) -> None:
        assert self._client_of is not None
        address, authkey = self._client_of
        client = _FilesManager(address=address, authkey=authkey)
        client.connect()
        self.files = _SharedFiles(client.files())  # type: ignore[attr-defined]
        self.lock = client.lock()  # type: ignore[attr-defined]
        self._pending = False


_STORE = _Store()
os.register_at_fork(before=_STORE.serve, after_in_child=_STORE.forked)


class MockFileSystem(FileSystem):
    """A process-wide in-memory file system; every instance sees the same data, and so do
    processes forked while it is in use."""

    @property
    def _files(self) -> MutableMapping[str, bytes]:
        return _STORE.current()[0]

    @property
    def _guard(self) -> Any:
        return _STORE.current()[1]

    def get_all_data(self) -> MutableMapping[str, bytes]:
        """Return the live path -> bytes mapping (tests may inspect or seed it)."""
        return self._files

    def get_data(self, fn: str) -> bytes:
        """Return the bytes stored at ``fn``.

        Raises:
            FileNotFoundError: Nothing is stored at ``fn``.
        """
        try:
            return self._files[fn]
        except KeyError:
            raise FileNotFoundError(f"no mock file at {fn!r}") from None

    def put_data(self, fn: str, data: bytes) -> None:
        """Store ``data`` at ``fn``, replacing what was there."""
        with self._guard:
            self._files[fn] = bytes(data)

    def clear(self) -> None:
        """Forget every file."""
        with self._guard:
            self._files.clear()

    def _below(self, path: str) -> list[str]:
        prefix = _prefix(path)
        # list() of a dict is one step under the GIL, and of the shared store one round trip.
        return [key for key in list(self._files.keys()) if key.startswith(prefix)]

    def exists(self, path: str) -> bool:
        return path in self._files or bool(self._below(path))

    def isdir(self, path: str) -> bool:
        return bool(self._below(path))

    def listdir(self, path: str) -> list[str]:
        """Return the file at ``path`` and every file below it, sorted."""
        keys = list(self._files.keys())
        found = [key for key in keys if key == path or key.startswith(_prefix(path))]
        return sorted(found)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Do nothing: directories exist implicitly (as in Luigi)."""

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        """Remove the file at ``path`` and, when ``recursive``, everything below it.

        Raises:
            FileNotFoundError: ``recursive`` is false and no file is stored at ``path``.
        """
        with self._guard:
            if not recursive and path not in self._files:
                raise FileNotFoundError(f"no mock file at {path!r}")
            self._files.pop(path, None)
            if recursive:
                for key in self._below(path):
                    del self._files[key]

    def _pairs(self, path: str, dest: str) -> list[tuple[str, str]]:
        if path in self._files:
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
        with self._guard:
            self._check_dest(dest, raise_if_exists)
            for src, dst in self._pairs(path, dest):
                self._files[dst] = self._files.pop(src)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Rename without replacing; atomic because the check and move share the lock."""
        self.move(path, dest, raise_if_exists=True)

    def copy(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        with self._guard:
            self._check_dest(dest, raise_if_exists)
            for src, dst in self._pairs(path, dest):
                self._files[dst] = self._files[src]


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

    def exists(self) -> bool:
        """True when a file was stored at exactly this path, as in Luigi.

        A directory target (a path ending in ``/``) exists when files were stored below it.
        """
        if self.path.endswith("/"):
            return self.fs.exists(self.path)
        return self.path in self.fs.get_all_data()

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
