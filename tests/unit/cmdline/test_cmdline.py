"""dagcore.cmdline: Luigi's console entry points (luigi, luigid, luigi-deps, luigi-deps-tree)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dagcore
from dagcore import cmdline, server
from dagcore.configuration import get_config
from dagcore.local_target import LocalTarget
from dagcore.setup_logging import DaemonLogging, InterfaceLogging


class CmdWrite(dagcore.Task):
    path = dagcore.Parameter()

    def output(self) -> LocalTarget:
        return LocalTarget(self.path)

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write("written")


class CmdFail(dagcore.Task):
    def run(self) -> None:
        raise ValueError("cmdline test failure")


@pytest.fixture(autouse=True)
def _logging_not_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for cls in (InterfaceLogging, DaemonLogging):
        monkeypatch.setattr(cls, "_configured", False)
    dagcore_logger = logging.getLogger("dagcore")
    saved = (list(dagcore_logger.handlers), dagcore_logger.level, dagcore_logger.propagate)
    yield
    dagcore_logger.handlers[:] = saved[0]
    dagcore_logger.setLevel(saved[1])
    dagcore_logger.propagate = saved[2]


def _exit_code(argv: list[str]) -> Any:
    with pytest.raises(SystemExit) as exited:
        cmdline.luigi_run(argv)
    return exited.value.code


def test_luigi_run_runs_the_task_and_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    argv = ["CmdWrite", "--path", str(out), "--local-scheduler", "--no-history"]
    assert _exit_code(argv) == 0
    assert out.read_text() == "written"


def test_luigi_run_exits_with_the_task_failed_code() -> None:
    get_config().set("retcode", "task_failed", "7")
    assert _exit_code(["CmdFail", "--local-scheduler", "--no-history"]) == 7


def test_luigi_run_logs_an_unhandled_error_and_exits_with_its_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    get_config().set("retcode", "unhandled_exception", "4")
    assert _exit_code(["NoSuchFamilyAnywhere", "--local-scheduler"]) == 4
    logged = capsys.readouterr().err  # the console logging set up for the error
    assert "Uncaught exception in luigi" in logged
    assert "TaskClassNotFoundException" in logged


def test_luigid_sets_up_daemon_logging_then_asks_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(server, "run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(logging.root, "handlers", [])
    cmdline.luigid(["--port", "9000", "--state-path", "/tmp/state.pickle"])
    assert calls == [{"api_port": "9000", "address": None, "unix_socket": None}]
    assert DaemonLogging._configured
    assert get_config().get("scheduler", "state_path") == "/tmp/state.pickle"


def test_luigid_with_a_missing_logging_conf_never_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(server, "run", lambda **kwargs: calls.append(kwargs))
    get_config().set("core", "logging_conf_file", "/no/such/logging.cfg")
    with pytest.raises(OSError):
        cmdline.luigid([])
    assert calls == []


def test_luigid_without_a_server_says_what_to_use_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.root, "handlers", [])
    with pytest.raises(Exception, match="dagcore ui"):
        cmdline.luigid([])
