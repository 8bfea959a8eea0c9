"""LocalTarget and LocalFileSystem: the shared contract plus what only local files do."""

from __future__ import annotations

import gc
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from dagcore.errors import TargetError
from dagcore.format import Format, Gzip, Nop
from dagcore.local_target import LocalFileSystem, LocalTarget, atomic_file
from dagcore.target import (
    AtomicLocalFile,
    FileAlreadyExists,
    InvalidTargetArgument,
    MissingParentDirectory,
    NotADirectory,
)

from .contract import FileSystemTargetContract

REPO_ROOT = Path(__file__).resolve().parents[3]


class TestLocalTargetContract(FileSystemTargetContract):
    root: Path

    @pytest.fixture(autouse=True)
    def _root(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"

    def create_target(self, path_suffix: str, format: Format | None = None) -> LocalTarget:
        return LocalTarget(self.root / path_suffix, format=format)


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# -- construction ------------------------------------------------------------------------------


def test_is_tmp_without_path_makes_a_temp_file_removed_with_the_target() -> None:
    target = LocalTarget(is_tmp=True)
    assert os.path.dirname(target.path) == tempfile.gettempdir()
    assert LocalTarget(is_tmp=True).path != target.path
    with target.open("w") as f:
        f.write("scratch")
    path = target.path
    assert os.path.exists(path)
    del target
    gc.collect()
    assert not os.path.exists(path)


def test_is_tmp_with_a_path_uses_it(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "scratch.txt", is_tmp=True)
    assert target.path == str(tmp_path / "scratch.txt")


def test_a_path_or_is_tmp_is_required() -> None:
    with pytest.raises(InvalidTargetArgument, match="needs a path"):
        LocalTarget()
    with pytest.raises(ValueError):  # also a ValueError, for code that catches that
        LocalTarget("")
    assert issubclass(InvalidTargetArgument, TargetError)


def test_non_tmp_target_is_kept(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "kept.txt")
    target._touchz()
    del target
    gc.collect()
    assert (tmp_path / "kept.txt").exists()


def test_pathlike_path_and_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    target = LocalTarget(Path("sub") / "a b.txt")
    assert target.path == os.path.join("sub", "a b.txt")
    assert target.uri == (tmp_path / "sub" / "a b.txt").as_uri()
    assert target.uri.startswith("file:///")
    assert repr(target) == "LocalTarget('sub/a b.txt')"


def test_fn_is_a_deprecated_alias(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "x")
    with pytest.warns(DeprecationWarning, match="LocalTarget.path"):
        assert target.fn == target.path


def test_fs_is_shared_local_file_system(tmp_path: Path) -> None:
    assert isinstance(LocalTarget(tmp_path / "a").fs, LocalFileSystem)
    assert LocalTarget(tmp_path / "a").fs is LocalTarget(tmp_path / "b").fs


# -- opening -----------------------------------------------------------------------------------


def test_makedirs_creates_parents_only(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "a" / "b" / "c.txt")
    target.makedirs()
    assert (tmp_path / "a" / "b").is_dir()
    assert not (tmp_path / "a" / "b" / "c.txt").exists()
    target.makedirs()  # idempotent


def test_binary_modes_follow_the_format_as_in_luigi(tmp_path: Path) -> None:
    text = LocalTarget(tmp_path / "t.txt")
    with text.open("wb") as f:
        f.write("still text")
    with text.open("rb") as f:
        assert f.read() == "still text"
    raw = LocalTarget(tmp_path / "b.bin", format=Nop)
    with raw.open("wb") as f:
        f.write(b"\x00\x01")
    with raw.open("rt") as f:
        assert f.read() == b"\x00\x01"


def test_written_file_gets_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        target = LocalTarget(tmp_path / "perm.txt")
        with target.open("w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(target.path).st_mode) == 0o644


def test_writes_go_to_a_temp_file_in_the_same_directory(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "out.txt")
    with target.open("w") as f:
        f.write("data")
        f.flush()
        names = os.listdir(tmp_path)
        assert len(names) == 1
        assert names[0].startswith("out.txt-luigi-tmp-")
        assert not target.exists()
    assert os.listdir(tmp_path) == ["out.txt"]


def test_concurrent_writers_do_not_mix(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "out.txt")
    first, second = target.open("w"), target.open("w")
    first.write("first")
    second.write("second")
    second.close()
    first.close()
    with target.open("r") as f:
        assert f.read() == "first"
    assert _files(tmp_path) == ["out.txt"]


# -- atomic files ------------------------------------------------------------------------------


def test_atomic_file_abort_and_double_close(tmp_path: Path) -> None:
    dest = tmp_path / "dest.bin"
    f = atomic_file(str(dest))
    assert isinstance(f, AtomicLocalFile)
    assert os.path.dirname(f.tmp_path) == str(tmp_path)
    f.write(b"x")
    f.abort()
    f.abort()
    f.close()
    assert _files(tmp_path) == []


class _Uploading(AtomicLocalFile):
    """What a remote store does: a temp file elsewhere, "uploaded" by copying on close."""

    uploaded: dict[str, bytes] = {}

    def generate_tmp_path(self, path: str) -> str:
        return os.path.join(tempfile.gettempdir(), f"dagcore-upload-{os.getpid()}-{id(self)}")

    def move_to_final_destination(self) -> None:
        with open(self.tmp_path, "rb") as f:
            self.uploaded[self.path] = f.read()


def test_atomic_file_subclass_hooks_and_temp_cleanup() -> None:
    with _Uploading("s3://bucket/key") as f:
        f.write(b"payload")
        tmp = f.tmp_path
        assert os.path.exists(tmp)
    assert _Uploading.uploaded["s3://bucket/key"] == b"payload"
    assert not os.path.exists(tmp)


def test_atomic_file_failed_commit_raises_and_removes_temp(tmp_path: Path) -> None:
    (tmp_path / "dest" / "inside").mkdir(parents=True)  # a non-empty directory is in the way
    f = atomic_file(str(tmp_path / "dest"))
    f.write(b"x")
    with pytest.raises(OSError):
        f.close()
    assert f.closed
    assert _files(tmp_path) == []


def test_atomic_file_needs_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_file(str(tmp_path / "missing-dir" / "dest.bin"))
    gc.collect()  # the half-built object's finalizer must not complain


CHILD = textwrap.dedent(
    """
    import sys, time
    from dagcore.format import Gzip, Nop
    from dagcore.local_target import LocalTarget

    fmt = {"gzip": Gzip, "nop": Nop}[sys.argv[2]]
    f = LocalTarget(sys.argv[1], format=fmt).open("w")
    f.write(b"x" * 1_000_000)
    f.flush()
    print("written", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("fmt", ["nop", "gzip"])
def test_sigkill_mid_write_leaves_no_file_at_the_target_path(tmp_path: Path, fmt: str) -> None:
    dest = tmp_path / "out" / "data.bin"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(dest), fmt], stdout=subprocess.PIPE, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"written\n"
        temps = os.listdir(dest.parent)
        assert len(temps) == 1 and os.path.getsize(dest.parent / temps[0]) > 0
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert not dest.exists()
    assert LocalTarget(dest).exists() is False
    # Only the interrupted temp file remains, named so it can never be mistaken for data.bin.
    assert [n.startswith("data.bin-luigi-tmp-") for n in os.listdir(dest.parent)] == [True]


# -- LocalFileSystem ---------------------------------------------------------------------------


def test_mkdir_semantics(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    fs.mkdir(str(tmp_path / "a" / "b"))
    assert fs.isdir(str(tmp_path / "a" / "b"))
    fs.mkdir(str(tmp_path / "a" / "b"))  # exists: fine by default
    with pytest.raises(FileAlreadyExists, match="already exists"):
        fs.mkdir(str(tmp_path / "a"), raise_if_exists=True)
    with pytest.raises(MissingParentDirectory, match="parents=True"):
        fs.mkdir(str(tmp_path / "x" / "y"), parents=False)
    fs.mkdir(str(tmp_path / "x"), parents=False)
    assert fs.isdir(str(tmp_path / "x"))
    (tmp_path / "file").write_text("f")
    with pytest.raises(NotADirectory):
        fs.mkdir(str(tmp_path / "file"))


def test_listdir_is_recursive_and_lists_files(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    for rel in ("a.txt", "d/b.txt", "d/e/c.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "empty").mkdir()
    assert sorted(fs.listdir(str(tmp_path))) == [
        str(tmp_path / rel) for rel in ("a.txt", "d/b.txt", "d/e/c.txt")
    ]


def test_remove_directory_needs_recursive(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_text("x")
    with pytest.raises(OSError):
        fs.remove(str(tmp_path / "d"), recursive=False)
    fs.remove(str(tmp_path / "d"))
    assert not fs.exists(str(tmp_path / "d"))


def test_move_and_copy_directories(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "f").write_text("x")
    fs.copy(str(tmp_path / "src"), str(tmp_path / "copy" / "here"))
    fs.move(str(tmp_path / "src"), str(tmp_path / "moved"))
    assert _files(tmp_path) == ["copy/here/sub/f", "moved/sub/f"]


def test_rename_dont_move_never_replaces(tmp_path: Path) -> None:
    fs = LocalFileSystem()
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileAlreadyExists):
        fs.rename_dont_move(str(tmp_path / "a"), str(tmp_path / "b"))
    (tmp_path / "dir").mkdir()
    with pytest.raises(FileAlreadyExists):  # not moved *into* the directory either
        fs.rename_dont_move(str(tmp_path / "a"), str(tmp_path / "dir"))
    fs.rename_dont_move(str(tmp_path / "a"), str(tmp_path / "c"))
    assert _files(tmp_path) == ["b", "c"]
    assert (tmp_path / "c").read_text() == "a"


def test_move_across_file_systems(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another file system than the test's temp dir")
    src = Path(tempfile.mkdtemp(dir=shm)) / "file.bin"
    src.write_bytes(b"across")
    try:
        LocalTarget(src).move(str(tmp_path / "dest" / "file.bin"))
        assert (tmp_path / "dest" / "file.bin").read_bytes() == b"across"
        assert not src.exists()
        assert _files(tmp_path) == ["dest/file.bin"]
    finally:
        if src.exists():
            src.unlink()
        src.parent.rmdir()


@pytest.mark.skipif(shutil.which("gzip") is None, reason="needs the gzip tool")
def test_gzip_target_file_is_readable_by_gunzip(tmp_path: Path) -> None:
    target = LocalTarget(tmp_path / "out.gz", format=Gzip)
    with target.open("w") as f:
        f.write(b"for the command line\n")
    out = subprocess.run(["gzip", "-dc", target.path], capture_output=True, check=True)
    assert out.stdout == b"for the command line\n"
