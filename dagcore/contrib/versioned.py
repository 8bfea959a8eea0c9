"""Versioned outputs: every run writes a version of its own, and a pointer names the latest.

A re-run never overwrites good data. Each version lives in a directory of its own, is marked
complete by a flag written after its data, and only then becomes the one a ``_LATEST`` pointer
names::

    out/sales/20240102T030405123456Z-1f2e3d/data     the data of one version
    out/sales/20240102T030405123456Z-1f2e3d/_SUCCESS  written once the data is complete
    out/sales/_LATEST                                  "20240102T030405123456Z-1f2e3d"

The data, the flag and the pointer are each written through an ordinary target made by a
factory (``LocalTarget``, ``MockTarget``, ``lambda p: S3Target(p, format=Nop)``...), so each
write is as atomic as that target's: readers see the previous version or the new one, never a
mixture. A task uses :class:`VersionedTarget` as its output::

    def output(self):
        return VersionedTarget(LocalTarget, "out/sales", version=self.date.isoformat())

    def run(self):
        with self.output().writing() as target:
            write_parquet(frame, target)

and readers of "whatever is current" use :meth:`VersionedTarget.latest`.

The pointer follows the most recent successful write. The data and the pointer are two
objects, so a crash between the flag and the pointer leaves the new version complete but not
yet current; :meth:`VersionedTarget.promote` makes it current.
"""

from __future__ import annotations

import datetime
import io
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from dagcore.errors import FileAlreadyExists, TargetError
from dagcore.target import FileSystemTarget, InvalidTargetArgument, Target

__all__ = [
    "TargetFactory",
    "VersionedTarget",
    "VersionedWriteError",
    "new_version",
    "versioned_path",
]

TargetFactory = Callable[[str], FileSystemTarget]
"""Makes the target for a path: ``LocalTarget``, ``MockTarget``, a lambda choosing a format."""

# Names starting with "_" or "." are reserved for the pointer, flags and temporary files, so a
# version can never be mistaken for one of them.
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,127}")
_FLAG = "_SUCCESS"


class VersionedWriteError(TargetError):
    """A versioned write did not produce its data, or a pointer names a missing version."""


def new_version(now: datetime.datetime | None = None) -> str:
    """Return a fresh version name that sorts by creation time.

    The name is the UTC time to the microsecond plus a random suffix, e.g.
    ``20240102T030405123456Z-1f2e3d``, so two runs in the same microsecond still differ.

    Compute it once (e.g. as a parameter value), not in ``output()``: ``output()`` is called
    more than once per run and must name the same version each time.
    """
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return f"{moment:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"


def _check_version(version: str) -> str:
    if not _VERSION_RE.fullmatch(version):
        raise InvalidTargetArgument(
            f"invalid version {version!r}: use 1 to 128 letters, digits and '._=+-', starting "
            "with a letter or digit (names starting with '_' or '.' are reserved)"
        )
    return version


def versioned_path(base_path: str, version: str, name: str = "data") -> str:
    """Return the path of file ``name`` of ``version`` under ``base_path``: ``base/version/name``.

    Raises:
        InvalidTargetArgument: ``version`` is not a valid version name.
    """
    return f"{base_path.rstrip('/')}/{_check_version(version)}/{name}"


def _write_text(target: FileSystemTarget, text: str) -> None:
    # The factory may give targets a binary format (Nop for Parquet, say); the small files this
    # module writes are then stored as UTF-8 bytes.
    with target.open("w") as stream:
        if isinstance(stream, io.TextIOBase):
            stream.write(text)
        else:
            stream.write(text.encode("utf-8"))


def _read_text(target: FileSystemTarget) -> str:
    with target.open("r") as stream:
        content = stream.read()
    return content.decode("utf-8") if isinstance(content, bytes) else str(content)


class VersionedTarget(Target):
    """One version of a versioned output; it exists once that version is complete.

    Args:
        factory: Makes a target for a path; its targets must support ``open``, and their file
            system ``exists``, ``remove`` and ``listdir``.
        base_path: The directory holding every version and the pointer.
        version: This target's version (see :func:`new_version` for unique ones).
        name: The data file's name inside the version's directory.
        pointer_name: The pointer file's name inside ``base_path``.

    Raises:
        InvalidTargetArgument: ``version`` is not a valid version name.
    """

    def __init__(
        self,
        factory: TargetFactory,
        base_path: str,
        version: str,
        name: str = "data",
        pointer_name: str = "_LATEST",
    ) -> None:
        self.factory = factory
        self.base_path = base_path.rstrip("/")
        self.version = _check_version(version)
        self.name = name
        self.pointer_name = pointer_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_path!r}, version={self.version!r})"

    # -- this version ---------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The path of this version's data file."""
        return versioned_path(self.base_path, self.version, self.name)

    @property
    def version_dir(self) -> str:
        """The directory of this version, for outputs of several files."""
        return f"{self.base_path}/{self.version}"

    @property
    def target(self) -> FileSystemTarget:
        """This version's data file as a target of the factory's kind."""
        return self.factory(self.path)

    @property
    def uri(self) -> str:
        """The URI of this version's data file."""
        return self.target.uri

    def _flag(self, version: str) -> FileSystemTarget:
        return self.factory(f"{self.base_path}/{version}/{_FLAG}")

    def _pointer(self) -> FileSystemTarget:
        return self.factory(f"{self.base_path}/{self.pointer_name}")

    def exists(self) -> bool:
        """Return whether this version was written completely."""
        return self._flag(self.version).exists()

    def open(self, mode: str = "r") -> IO[Any]:
        """Open this version's data for reading.

        Raises:
            InvalidTargetArgument: ``mode`` is not ``"r"``; write with :meth:`writing`.
        """
        if mode.replace("b", "").replace("t", "") != "r":
            raise InvalidTargetArgument(
                f"cannot open version {self.version} of {self.base_path} with mode {mode!r}: "
                "read with 'r'; write with `with target.writing() as out:`"
            )
        return self.target.open("r")

    @contextmanager
    def writing(self) -> Iterator[FileSystemTarget]:
        """Write this version, then mark it complete and make it the latest.

        Yields this version's data target; write it (and any other files under
        :attr:`version_dir`) inside the block. When the block ends cleanly and the data file
        exists, the version is flagged complete and the pointer moved to it. When the block
        raises, whatever it wrote is removed and the pointer is left alone.

        Raises:
            FileAlreadyExists: This version is already complete; versions are never
                overwritten, so pick a new one.
            VersionedWriteError: The block ended without writing the data file.
        """
        if self.exists():
            raise FileAlreadyExists(
                f"version {self.version} of {self.base_path} is already complete and is never "
                "overwritten; write a new version (see new_version())"
            )
        # Files left by an interrupted attempt at this version were never flagged or pointed
        # to, so nobody can be reading them.
        self._discard()
        try:
            data = self.target
            yield data
            if not data.exists():
                raise VersionedWriteError(
                    f"nothing was written to {data.path} for version {self.version}; write the "
                    "target yielded by writing() inside the with block"
                )
        except BaseException:
            self._discard()
            raise
        _write_text(self._flag(self.version), self.version + "\n")
        self.promote()

    def _discard(self) -> None:
        fs = self.target.fs
        if fs.exists(self.version_dir):
            fs.remove(self.version_dir, recursive=True)

    def promote(self) -> None:
        """Make this version the latest; it must be complete.

        Raises:
            VersionedWriteError: This version is not complete.
        """
        if not self.exists():
            raise VersionedWriteError(
                f"cannot make version {self.version} of {self.base_path} the latest: it is not "
                "complete; write it with writing() first"
            )
        _write_text(self._pointer(), self.version + "\n")

    # -- all versions ---------------------------------------------------------------------

    def latest_version(self) -> str | None:
        """Return the version the pointer names, or ``None`` before the first write."""
        pointer = self._pointer()
        if not pointer.exists():
            return None
        return _read_text(pointer).strip() or None

    def latest(self) -> FileSystemTarget:
        """Return the data target of the latest version.

        Raises:
            VersionedWriteError: No version was written yet, or the pointer names a version
                that is not complete.
        """
        version = self.latest_version()
        if version is None:
            raise VersionedWriteError(
                f"no version of {self.base_path} has been written yet (no {self.pointer_name})"
            )
        if not self._flag(version).exists():
            raise VersionedWriteError(
                f"{self.base_path}/{self.pointer_name} names version {version!r}, which is not "
                "complete; promote() a complete version"
            )
        return self.factory(versioned_path(self.base_path, version, self.name))

    def versions(self) -> list[str]:
        """Return every complete version under :attr:`base_path`, sorted by name."""
        prefix = self.base_path + "/"
        found: set[str] = set()
        for path in self._pointer().fs.listdir(self.base_path):
            first, _, rest = str(path).removeprefix(prefix).partition("/")
            if rest and _VERSION_RE.fullmatch(first):
                found.add(first)
        return sorted(version for version in found if self._flag(version).exists())
