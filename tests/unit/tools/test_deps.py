"""dagcore.tools.deps and deps_tree (Luigi's luigi-deps and luigi-deps-tree)."""

from __future__ import annotations

from pathlib import Path

import pytest

import dagcore
from dagcore import cmdline
from dagcore.local_target import LocalTarget
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.tools import deps, deps_tree


class DepSource(dagcore.ExternalTask):
    name = dagcore.Parameter()

    def output(self) -> MockTarget:
        return MockTarget(f"/deps/{self.name}")


class DepMiddle(dagcore.Task):
    name = dagcore.Parameter()

    def requires(self) -> DepSource:
        return DepSource(name=self.name)

    def output(self) -> LocalTarget:
        return LocalTarget(f"out/{self.name}.csv")


class DepSide(dagcore.Task):
    def output(self) -> dict[str, LocalTarget]:
        return {"a": LocalTarget("side/a"), "b": LocalTarget("side/b")}


class DepTop(dagcore.Task):
    day = dagcore.Parameter()
    note = dagcore.Parameter(default="x", significant=False)

    def requires(self) -> list[dagcore.Task]:
        return [DepMiddle(name="one"), DepMiddle(name="two"), DepSide()]


class DepDiamond(dagcore.Task):
    """Two paths to the same middle task: found once, and requires() is asked once per task."""

    calls = 0

    def requires(self) -> list[dagcore.Task]:
        type(self).calls += 1
        return [DepTop(day="d"), DepMiddle(name="one")]


@pytest.fixture(autouse=True)
def _empty_mock_fs() -> None:
    MockFileSystem().clear()


def test_find_deps_to_an_upstream_family() -> None:
    top = DepTop(day="2024-01-01")
    found = deps.find_deps(top, "DepSource")
    assert found == {
        top,
        DepMiddle(name="one"),
        DepMiddle(name="two"),
        DepSource(name="one"),
        DepSource(name="two"),
    }  # DepSide leads to no DepSource


def test_find_deps_without_upstream_family_is_everything_below() -> None:
    top = DepTop(day="2024-01-01")
    assert len(deps.find_deps(top, None)) == 6
    assert set(deps.dfs_paths(top, None)) == deps.find_deps(top, None)


def test_find_deps_agrees_with_dfs_paths_on_a_diamond() -> None:
    root = DepDiamond()
    assert deps.find_deps(root, "DepSource") == set(deps.dfs_paths(root, "DepSource"))
    DepDiamond.calls = 0
    deps.find_deps(root, "DepSource")
    assert DepDiamond.calls == 1


def test_unknown_upstream_family_finds_nothing() -> None:
    assert deps.find_deps(DepTop(day="d"), "Nope") == set()


def test_output_descriptions() -> None:
    assert deps.get_task_output_description(LocalTarget("a/b")) == "[FileSystem] a/b"
    assert deps.get_task_output_description(MockTarget("/m")) == "[FileSystem] /m"
    assert deps.get_task_output_description(object()) == "to be determined"


def test_deps_command_lists_tasks_and_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmdline.luigi_deps(["DepTop", "--day", "d", "--upstream-family", "DepSource"]) == 0
    out = capsys.readouterr().out
    assert "   TASK: DepTop(day=d)\n" in out
    assert "                       : [FileSystem] out/one.csv\n" in out
    assert "[FileSystem] /deps/two" in out
    assert "DepSide" not in out


def test_print_tree_shows_state_and_significant_params(tmp_path: Path) -> None:
    MockTarget("/deps/one").open("w").close()
    text = deps_tree.print_tree(DepTop(day="d"))
    green, blue, end = deps_tree.bcolors.OKGREEN, deps_tree.bcolors.OKBLUE, deps_tree.bcolors.ENDC
    pending, complete = f"({blue}PENDING{end})", f"({green}COMPLETE{end})"
    assert text.split("\n") == [
        "",
        f"└─--[DepTop-{{'day': 'd'}} {pending}]",
        f"    |---[DepMiddle-{{'name': 'one'}} {pending}]",
        f"    |   └─--[DepSource-{{'name': 'one'}} {complete}]",
        f"    |---[DepMiddle-{{'name': 'two'}} {pending}]",
        f"    |   └─--[DepSource-{{'name': 'two'}} {pending}]",
        f"    └─--[DepSide-{{}} {pending}]",
    ]


def test_deps_tree_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmdline.luigi_deps_tree(["DepMiddle", "--name", "z"]) == 0
    assert "[DepSource-{'name': 'z'}" in capsys.readouterr().out
