"""MockTarget and MockFileSystem: the shared contract plus the in-memory specifics."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import dagcore
from dagcore.format import Format, Gzip, Nop
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.target import FileAlreadyExists

from .contract import FileSystemTargetContract


@pytest.fixture(autouse=True)
def _empty_mock_fs() -> Iterator[None]:
    MockFileSystem().clear()
    yield
    MockFileSystem().clear()


class TestMockTargetContract(FileSystemTargetContract):
    def create_target(self, path_suffix: str, format: Format | None = None) -> MockTarget:
        return MockTarget(f"/mock/{path_suffix}", format=format)


def test_data_is_shared_by_all_instances_and_cleared() -> None:
    with MockTarget("shared.txt").open("w") as f:
        f.write("hello")
    assert MockFileSystem().get_all_data() == {"shared.txt": b"hello"}
    assert MockTarget("shared.txt").exists()
    assert MockFileSystem().get_data("shared.txt") == b"hello"
    MockFileSystem().clear()
    assert not MockTarget("shared.txt").exists()
    with pytest.raises(FileNotFoundError, match="shared.txt"):
        MockFileSystem().get_data("shared.txt")


def test_seeded_data_is_readable() -> None:
    MockFileSystem().put_data("in.csv", b"a,b\n1,2\n")
    with MockTarget("in.csv").open("r") as f:
        assert f.readlines() == ["a,b\n", "1,2\n"]


def test_mirror_on_stderr_prefixes_each_line(capsys: pytest.CaptureFixture[str]) -> None:
    with MockTarget("log", mirror_on_stderr=True).open("w") as f:
        f.write("one\ntw")
        f.flush()
        f.write("o\nthree\n")
    assert capsys.readouterr().err == "log: one\nlog: two\nlog: three\n"
    assert MockFileSystem().get_data("log") == b"one\ntwo\nthree\n"


def test_mirror_is_off_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    with MockTarget("quiet").open("w") as f:
        f.write("nothing to see\n")
    assert capsys.readouterr().err == ""


def test_directories_are_implicit() -> None:
    fs = MockFileSystem()
    for key in ("d/a", "d/e/b", "dx"):
        fs.put_data(key, key.encode())
    assert fs.isdir("d") and fs.isdir("d/")
    assert not fs.isdir("d/a")
    assert fs.exists("d")
    assert fs.listdir("d") == ["d/a", "d/e/b"]
    fs.mkdir("anything")  # a no-op, as in Luigi
    assert not fs.exists("anything")
    fs.remove("d")
    assert fs.get_all_data() == {"dx": b"dx"}


def test_non_recursive_remove_of_missing_file_raises() -> None:
    fs = MockFileSystem()
    with pytest.raises(FileNotFoundError):
        fs.remove("nope", recursive=False)
    fs.remove("nope")  # recursive removal of nothing is fine, as in Luigi


def test_move_and_copy_directories() -> None:
    fs = MockFileSystem()
    fs.put_data("src/a", b"1")
    fs.put_data("src/sub/b", b"2")
    fs.copy("src", "copy")
    fs.move("src", "moved/")
    assert fs.get_all_data() == {
        "copy/a": b"1",
        "copy/sub/b": b"2",
        "moved/a": b"1",
        "moved/sub/b": b"2",
    }
    with pytest.raises(FileNotFoundError):
        fs.move("src", "elsewhere")
    with pytest.raises(FileAlreadyExists):
        fs.rename_dont_move("copy", "moved")


def test_directory_temporary_path() -> None:
    target = MockTarget("out/partitioned/", format=Nop)
    with target.temporary_path() as temp_dir:
        assert temp_dir.endswith("/")
        for part in ("p0", "p1"):
            with MockTarget(temp_dir + part, format=Nop).open("w") as f:
                f.write(part.encode())
    assert MockFileSystem().listdir("out/partitioned") == [
        "out/partitioned/p0",
        "out/partitioned/p1",
    ]
    assert target.exists()


def test_uri_and_is_tmp() -> None:
    assert MockTarget("/a/b.txt").uri == "mock:///a/b.txt"
    assert MockTarget("rel", is_tmp=True).is_tmp


def test_concurrent_writers_from_threads() -> None:
    def write(index: int) -> None:
        with MockTarget(f"t/{index}", format=Gzip).open("w") as f:
            f.write(str(index).encode() * 1000)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(MockFileSystem().listdir("t")) == 16
    with MockTarget("t/7", format=Gzip).open("r") as f:
        assert f.read() == b"7" * 1000


def test_open_with_a_non_string_mode_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="mode must be a str"):
        MockTarget("foo").open(None)  # type: ignore[arg-type]


def _write_in_child(path: str) -> None:
    with MockTarget(path).open("w") as f:
        f.write("from the child")


def test_forked_processes_share_the_files() -> None:
    MockFileSystem().put_data("seed", b"from the parent")
    _run_forked(_write_in_child, "kid")
    assert MockFileSystem().get_data("kid") == b"from the child"


def _move_in_child(path: str, dest: str) -> None:
    MockFileSystem().rename_dont_move(path, dest)


def _fork_a_grandchild(path: str) -> None:
    grandchild = multiprocessing.get_context("fork").Process(target=_write_in_child, args=(path,))
    grandchild.start()
    grandchild.join(timeout=30)
    assert grandchild.exitcode == 0


def _run_forked(target: Any, *args: str) -> None:
    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0


def test_forked_processes_move_files_and_fork_further() -> None:
    MockFileSystem().put_data("dir/a", b"a")
    _run_forked(_move_in_child, "dir", "moved")
    assert MockFileSystem().get_all_data() == {"moved/a": b"a"}
    _run_forked(_fork_a_grandchild, "from/grandchild")
    assert MockFileSystem().get_data("from/grandchild") == b"from the child"


class _PoolWrite(dagcore.Task):
    n = dagcore.IntParameter()

    def output(self) -> MockTarget:
        return MockTarget(f"/pool/{self.n}")

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write(f"{self.n} in {os.getpid()}")


def test_tasks_run_by_a_process_pool_write_where_the_caller_reads() -> None:
    tasks = [_PoolWrite(n=n) for n in range(4)]
    assert dagcore.build(tasks, workers=2)
    pids = {MockFileSystem().get_data(f"/pool/{n}").decode().split(" in ")[1] for n in range(4)}
    assert str(os.getpid()) not in pids  # really written by the pool's processes
