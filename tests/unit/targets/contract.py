"""The behaviour every file-system target promises, as a mixin of tests.

A test class for a target type inherits :class:`FileSystemTargetContract` and implements
:meth:`~FileSystemTargetContract.create_target`. Each test must start from an empty namespace
(a fresh directory, bucket or prefix), typically set up by an autouse fixture of the subclass::

    class TestLocalTarget(FileSystemTargetContract):
        @pytest.fixture(autouse=True)
        def _root(self, tmp_path: Path) -> None:
            self.root = tmp_path

        def create_target(self, path_suffix: str, format: Format | None = None) -> LocalTarget:
            return LocalTarget(self.root / path_suffix, format=format)

Nothing here assumes local paths: targets are made through the hook, data is checked through
the targets themselves and their ``fs``.
"""

from __future__ import annotations

import bz2
import gc
import gzip
import locale
import posixpath

import pytest

from dagcore.format import UTF8, Bzip2, Format, Gzip, Nop
from dagcore.target import (
    FileAlreadyExists,
    FileSystemException,
    FileSystemTarget,
    InvalidTargetArgument,
    Target,
    TargetLike,
)

TEXT = "first line\nsecond line — with ünïcödé ✓ and 🐍\n"
PAYLOAD = bytes(range(256)) * 64


class _Boom(Exception):
    """Raised inside ``with`` blocks to simulate a failing task."""


class FileSystemTargetContract:
    """Tests shared by every :class:`~dagcore.target.FileSystemTarget` implementation."""

    def create_target(self, path_suffix: str, format: Format | None = None) -> FileSystemTarget:
        """Return a target at ``path_suffix`` inside this test's fresh namespace.

        Args:
            path_suffix: A relative, ``/``-separated path.
            format: The target's format (its default when ``None``).
        """
        raise NotImplementedError

    def sibling(
        self, target: FileSystemTarget, path: str, format: Format | None = None
    ) -> FileSystemTarget:
        """Return a target of the same kind at an absolute ``path`` (e.g. a temporary path).

        Override when the target's constructor needs more than a path and a format.
        """
        return type(target)(path, format=format)  # type: ignore[call-arg]

    # -- helpers -------------------------------------------------------------------------------

    def write_bytes(self, suffix: str, data: bytes) -> FileSystemTarget:
        target = self.create_target(suffix, format=Nop)
        with target.open("w") as f:
            f.write(data)
        return target

    def read_bytes(self, target: FileSystemTarget) -> bytes:
        with self.sibling(target, target.path, format=Nop).open("r") as f:
            data = f.read()
        assert isinstance(data, bytes)
        return data

    def leftovers(self, target: FileSystemTarget) -> list[str]:
        """Every file in the target's directory, to catch stray temporary files."""
        parent = posixpath.dirname(target.path.rstrip("/"))
        if not target.fs.exists(parent):
            return []
        return sorted(target.fs.listdir(parent))

    # -- text and bytes ------------------------------------------------------------------------

    def test_text_round_trip(self) -> None:
        target = self.create_target("text/out.txt")
        assert not target.exists()
        with target.open("w") as f:
            f.write(TEXT)
        assert target.exists()
        with target.open("r") as f:
            assert f.read() == TEXT
        with target.open("r") as f:
            assert list(f) == TEXT.splitlines(keepends=True)

    def test_default_format_stores_text_in_the_locale_encoding(self) -> None:
        # As Luigi's Text (and open()) do; UTF8 is the format that pins the encoding.
        target = self.create_target("text/out.txt")
        with target.open("w") as f:
            print("a", "ü", file=f)
        assert self.read_bytes(target) == "a ü\n".encode(locale.getpreferredencoding(False))

    def test_default_format_refuses_bytes(self) -> None:
        target = self.create_target("text/out.txt")
        with pytest.raises(TypeError, match="format=Nop"):
            with target.open("w") as f:
                f.write(b"raw")
        assert not target.exists()

    def test_empty_write_creates_empty_file(self) -> None:
        target = self.create_target("empty/out.txt")
        with target.open("w"):
            pass
        assert target.exists()
        assert self.read_bytes(target) == b""

    def test_nop_round_trip_is_bytes(self) -> None:
        target = self.write_bytes("bin/out.bin", PAYLOAD)
        with target.open("r") as f:
            assert f.read() == PAYLOAD

    def test_close_without_with_commits(self) -> None:
        target = self.create_target("plain/out.txt")
        f = target.open("w")
        f.write("abc")
        assert not target.exists()
        f.close()
        assert target.exists()
        f.close()  # a second close is harmless
        with target.open("r") as g:
            assert g.read() == "abc"

    def test_overwrite_replaces_content(self) -> None:
        self.write_bytes("over/out.bin", b"old content that is longer")
        target = self.write_bytes("over/out.bin", b"new")
        assert self.read_bytes(target) == b"new"

    def test_unicode_path_and_content(self) -> None:
        target = self.create_target("données/été ✓.txt", format=UTF8)
        with target.open("w") as f:
            f.write(TEXT)
        assert self.create_target("données/été ✓.txt").exists()
        assert self.read_bytes(target) == TEXT.encode("utf8")
        with target.open("r") as f:
            assert f.read() == TEXT

    # -- compression ---------------------------------------------------------------------------

    def test_gzip_round_trip_is_real_gzip(self) -> None:
        target = self.create_target("gz/out.gz", format=Gzip)
        with target.open("w") as f:
            f.write(PAYLOAD[:1000])
            f.write(PAYLOAD[1000:])
        assert gzip.decompress(self.read_bytes(target)) == PAYLOAD
        with target.open("r") as f:
            assert f.read() == PAYLOAD

    def test_bzip2_round_trip_is_real_bzip2(self) -> None:
        target = self.create_target("bz/out.bz2", format=Bzip2)
        with target.open("w") as f:
            f.write(PAYLOAD)
        assert bz2.decompress(self.read_bytes(target)) == PAYLOAD
        with target.open("r") as f:
            assert f.read() == PAYLOAD

    def test_gzip_reads_files_compressed_elsewhere(self) -> None:
        # Two concatenated members, as `cat a.gz b.gz` makes: gunzip reads both.
        target = self.write_bytes("gz/ext.gz", gzip.compress(b"one\n") + gzip.compress(b"two\n"))
        with self.sibling(target, target.path, format=Gzip).open("r") as f:
            assert f.read() == b"one\ntwo\n"

    @pytest.mark.parametrize("compression", [Gzip, Bzip2], ids=["gzip", "bzip2"])
    def test_chained_text_over_compression(self, compression: Format) -> None:
        target = self.create_target("chain/out.txt.z", format=UTF8 >> compression)
        with target.open("w") as f:
            for _ in range(500):
                f.write(TEXT)
        decompress = gzip.decompress if compression is Gzip else bz2.decompress
        assert decompress(self.read_bytes(target)) == (TEXT * 500).encode("utf8")
        with target.open("r") as f:
            assert f.readline() == TEXT.splitlines(keepends=True)[0]
            assert f.read() == (TEXT * 500)[len(TEXT.splitlines(keepends=True)[0]) :]

    # -- atomicity -----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "fmt",
        [None, Nop, Gzip, Bzip2, UTF8 >> Gzip],
        ids=["text", "nop", "gzip", "bzip2", "utf8-gzip"],
    )
    def test_exception_inside_with_leaves_nothing(self, fmt: Format | None) -> None:
        target = self.create_target("atomic/out", format=fmt)
        text = fmt is None or fmt.input == "unicode"
        data: str | bytes = "x" * 100_000 if text else b"x" * 100_000
        with pytest.raises(_Boom):
            with target.open("w") as f:
                f.write(data)
                raise _Boom
        assert not target.exists()
        assert not self.create_target("atomic/out").exists()
        assert self.leftovers(target) == []

    def test_failed_overwrite_keeps_previous_content(self) -> None:
        target = self.write_bytes("atomic/keep.bin", b"previous")
        with pytest.raises(_Boom):
            with target.open("w") as f:
                f.write(b"half-written")
                raise _Boom
        assert self.read_bytes(target) == b"previous"

    def test_nothing_visible_before_close(self) -> None:
        target = self.create_target("atomic/late.txt")
        with target.open("w") as f:
            f.write("data")
            f.flush()
            assert not target.exists()
        assert target.exists()

    def test_dropped_writer_writes_nothing(self) -> None:
        target = self.create_target("atomic/dropped.txt", format=UTF8 >> Gzip)
        f = target.open("w")
        f.write("never closed")
        del f
        gc.collect()
        assert not target.exists()
        assert self.leftovers(target) == []

    # -- existence, removal, moves -------------------------------------------------------------

    def test_exists_and_remove(self) -> None:
        target = self.write_bytes("rm/out.bin", b"data")
        assert target.exists()
        assert self.create_target("rm/out.bin").exists()
        target.remove()
        assert not target.exists()
        assert not self.create_target("rm/out.bin").exists()

    def test_read_missing_raises(self) -> None:
        target = self.create_target("missing/none.txt")
        with pytest.raises((FileNotFoundError, FileSystemException)):
            target.open("r")

    @pytest.mark.parametrize("mode", ["a", "x", "r+", ""])
    def test_invalid_mode_is_refused(self, mode: str) -> None:
        target = self.create_target("mode/out.txt")
        with pytest.raises(InvalidTargetArgument, match="'r' to read or 'w' to write"):
            target.open(mode)
        assert not target.exists()

    def test_move(self) -> None:
        source = self.write_bytes("mv/src.bin", b"payload")
        dest = self.create_target("mv/sub/dest.bin")
        source.move(dest.path)
        assert not source.exists()
        assert dest.exists()
        assert self.read_bytes(dest) == b"payload"

    def test_move_refuses_existing_dest_when_asked(self) -> None:
        source = self.write_bytes("mv/src.bin", b"new")
        dest = self.write_bytes("mv/dest.bin", b"old")
        with pytest.raises(FileAlreadyExists):
            source.move(dest.path, raise_if_exists=True)
        assert self.read_bytes(dest) == b"old"
        assert source.exists()

    def test_move_replaces_existing_dest_by_default(self) -> None:
        source = self.write_bytes("mv/src.bin", b"new")
        dest = self.write_bytes("mv/dest.bin", b"old")
        source.move(dest.path)
        assert self.read_bytes(dest) == b"new"

    def test_copy(self) -> None:
        source = self.write_bytes("cp/src.bin", PAYLOAD)
        dest = self.create_target("cp/other/dest.bin")
        source.copy(dest.path)
        assert self.read_bytes(source) == PAYLOAD
        assert self.read_bytes(dest) == PAYLOAD
        with pytest.raises(FileAlreadyExists):
            source.copy(dest.path, raise_if_exists=True)

    # -- temporary_path ------------------------------------------------------------------------

    def test_temporary_path_success(self) -> None:
        target = self.create_target("tmp/result.bin")
        with target.temporary_path() as temp_path:
            assert temp_path != target.path
            assert posixpath.dirname(temp_path) == posixpath.dirname(target.path)
            with self.sibling(target, temp_path, format=Nop).open("w") as f:
                f.write(b"made by a tool")
            assert not target.exists()
        assert target.exists()
        assert self.read_bytes(target) == b"made by a tool"
        assert not target.fs.exists(temp_path)

    def test_temporary_path_failure_leaves_nothing(self) -> None:
        target = self.create_target("tmp/result.bin")
        with pytest.raises(_Boom):
            with target.temporary_path() as temp_path:
                with self.sibling(target, temp_path, format=Nop).open("w") as f:
                    f.write(b"partial")
                raise _Boom
        assert not target.exists()
        assert not target.fs.exists(temp_path)
        assert self.leftovers(target) == []

    def test_temporary_path_does_not_replace_existing(self) -> None:
        target = self.write_bytes("tmp/result.bin", b"first")
        with pytest.raises(FileAlreadyExists):
            with target.temporary_path() as temp_path:
                with self.sibling(target, temp_path, format=Nop).open("w") as f:
                    f.write(b"second")
        assert self.read_bytes(target) == b"first"

    def test_temporary_paths_are_unique(self) -> None:
        target = self.create_target("tmp/result.bin")
        seen: set[str] = set()
        for _ in range(20):
            with pytest.raises(_Boom), target.temporary_path() as temp_path:
                raise _Boom
            seen.add(temp_path)
        assert len(seen) == 20

    # -- identity ------------------------------------------------------------------------------

    def test_is_a_target_with_a_stable_uri(self) -> None:
        target = self.create_target("id/out.txt")
        assert isinstance(target, Target)
        assert isinstance(target, TargetLike)
        assert target.uri == self.create_target("id/out.txt").uri
        assert target.uri != self.create_target("id/other.txt").uri
        assert "://" in target.uri
        assert str(target) == target.path
