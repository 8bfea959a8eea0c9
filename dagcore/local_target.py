"""Files on the local file system: :class:`LocalFileSystem` and :class:`LocalTarget`.

Mirrors ``luigi.local_target``: ``LocalTarget(path).open("w")`` writes text atomically (to a
temporary file next to ``path``, renamed into place on close), ``format=Nop`` exchanges
``bytes``, and ``is_tmp=True`` makes a throw-away file in the system temporary directory that
is removed when the target is garbage-collected.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import IO, Any

from dagcore.format import Format, as_stream, get_default_format
from dagcore.target import (
    AtomicLocalFile,
    FileAlreadyExists,
    FileSystem,
    FileSystemTarget,
    InvalidTargetArgument,
    MissingParentDirectory,
    NotADirectory,
)

__all__ = ["LocalFileSystem", "LocalTarget", "atomic_file"]


class atomic_file(AtomicLocalFile):  # Luigi's name, kept so imports port
    """The local atomic file under the name ``luigi.local_target`` gives it."""


def _sibling_tmp(path: str) -> str:
    return f"{path}-luigi-tmp-{random.randrange(10**10):010d}"


class LocalFileSystem(FileSystem):
    """The local file system, with Luigi's semantics for each operation."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> Iterator[str]:
        """Yield the path of every file below ``path``, recursively (as Luigi does)."""
        for directory, _, files in os.walk(path):
            for name in files:
                yield os.path.join(directory, name)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        if os.path.exists(path):
            if raise_if_exists:
                raise FileAlreadyExists(f"cannot create directory {path}: it already exists")
            if not os.path.isdir(path):
                raise NotADirectory(f"cannot create directory {path}: a file is in the way")
            return
        if parents:
            # exist_ok covers another process creating it between the check and here.
            os.makedirs(path, exist_ok=True)
            return
        parent = os.path.dirname(path)
        if parent and not os.path.exists(parent):
            raise MissingParentDirectory(
                f"cannot create directory {path}: its parent {parent} does not exist "
                "(pass parents=True to create it)"
            )
        os.mkdir(path)

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        if recursive and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    def _prepare_dest(self, dest: str, raise_if_exists: bool) -> None:
        if raise_if_exists and os.path.exists(dest):
            raise FileAlreadyExists(f"destination {dest} already exists")
        parent = os.path.dirname(dest)
        if parent and not os.path.exists(parent):
            self.mkdir(parent)

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Move a file or directory; atomic on one file system, approximated across two."""
        self._prepare_dest(dest, raise_if_exists)
        try:
            os.replace(path, dest)
        except OSError as err:
            if err.errno != errno.EXDEV:
                raise
            # Across devices: copy next to dest, swap it in atomically, then drop the source.
            staged = _sibling_tmp(dest)
            self._copy_any(path, staged)
            os.replace(staged, dest)
            self.remove(path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        """Rename ``path`` to ``dest`` without ever replacing an existing ``dest``.

        Files are hard-linked and then unlinked, which fails atomically when ``dest`` exists;
        directories (and file systems without hard links) fall back to check-then-rename.

        Raises:
            FileAlreadyExists: ``dest`` exists.
        """
        if os.path.lexists(dest):
            raise FileAlreadyExists(f"cannot rename {path} to {dest}: {dest} already exists")
        if os.path.isfile(path) and not os.path.islink(path):
            try:
                os.link(path, dest)
            except FileExistsError as err:
                raise FileAlreadyExists(
                    f"cannot rename {path} to {dest}: {dest} already exists"
                ) from err
            except OSError:
                pass  # no hard links here (or across devices): fall back to move()
            else:
                os.remove(path)
                return
        self.move(path, dest, raise_if_exists=True)

    def copy(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Copy a file (or a directory tree); ``dest`` appears complete or not at all."""
        self._prepare_dest(dest, raise_if_exists)
        staged = _sibling_tmp(dest)
        try:
            self._copy_any(path, staged)
            os.replace(staged, dest)
        except BaseException:
            if os.path.lexists(staged):
                self.remove(staged)
            raise

    @staticmethod
    def _copy_any(path: str, dest: str) -> None:
        if os.path.isdir(path):
            shutil.copytree(path, dest, symlinks=True)
        else:
            shutil.copy2(path, dest)


class LocalTarget(FileSystemTarget):
    """A file on the local file system.

    Args:
        path: The file's path; may be omitted when ``is_tmp`` is true.
        format: How ``open()`` presents the bytes; :func:`dagcore.format.get_default_format`
            (text) when ``None``.
        is_tmp: The file is scratch space: without a path one is made up in the system
            temporary directory, and the file is removed when this object is collected.

    Raises:
        InvalidTargetArgument: Neither ``path`` nor ``is_tmp`` was given.
    """

    fs: LocalFileSystem = LocalFileSystem()

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        format: Format | None = None,  # Luigi's keyword, shadowing the builtin
        is_tmp: bool = False,
    ) -> None:
        self.is_tmp = is_tmp
        if not path:
            if not is_tmp:
                raise InvalidTargetArgument("LocalTarget needs a path, or is_tmp=True")
            path = os.path.join(tempfile.gettempdir(), f"luigi-tmp-{random.randrange(10**10):09d}")
        super().__init__(path)
        self.format = get_default_format() if format is None else format

    @property
    def fn(self) -> str:
        """Deprecated alias of :attr:`path`, kept from Luigi."""
        warnings.warn(
            "LocalTarget.fn is deprecated; use LocalTarget.path", DeprecationWarning, stacklevel=2
        )
        return self.path

    def makedirs(self) -> None:
        """Create the parent directories of the path if they are missing."""
        parent = os.path.dirname(os.path.normpath(self.path))
        if parent:
            os.makedirs(parent, exist_ok=True)

    def open(self, mode: str = "r") -> IO[Any]:
        """Open the file through the target's format.

        ``b`` and ``t`` in ``mode`` are ignored, as in Luigi: the format alone decides between
        text and bytes (use ``format=Nop`` for bytes).

        Args:
            mode: ``"r"`` to read, ``"w"`` to write atomically.

        Raises:
            TypeError: ``mode`` is not a string.
            InvalidTargetArgument: ``mode`` is neither read nor write.
            FileNotFoundError: Reading a file that does not exist.
        """
        if not isinstance(mode, str):
            raise TypeError(f"open() mode must be a str such as 'r' or 'w', not {mode!r}")
        rw_mode = mode.replace("b", "").replace("t", "")
        if rw_mode == "w":
            self.makedirs()
            return as_stream(self.format.pipe_writer(atomic_file(self.path)))
        if rw_mode == "r":
            return as_stream(self.format.pipe_reader(open(self.path, "rb")))
        raise InvalidTargetArgument(
            f"cannot open {self.path} with mode {mode!r}: use 'r' to read or 'w' to write"
        )

    def move_dir(self, new_path: str) -> None:
        """Alias of :meth:`move`, kept from Luigi."""
        self.move(new_path)

    def __del__(self) -> None:
        # Scratch files go with their target; a finalizer must not raise (it may run at exit,
        # after os is half torn down, or on an object whose __init__ failed).
        try:
            if self.is_tmp and self.fs.exists(self.path):
                self.fs.remove(self.path)
        except Exception:
            pass
