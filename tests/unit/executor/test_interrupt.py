"""Ctrl-C: the first stops launching and records the run as cancelled, the second kills."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dagcore.history.events import RunStatus, TaskStatus
from dagcore.history.store import SqlHistoryStore


def _start(workers: int, seconds: float) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[3]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagcore",
            "run",
            "--module",
            "tests.unit.executor.tasks",
            "Naps",
            "--seconds",
            str(seconds),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def _wait_for(path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
def test_first_interrupt_lets_running_tasks_finish(workers: int) -> None:
    proc = _start(workers, seconds=1.5)
    _wait_for("out/nap-0.started")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 25, err  # [retcode] not_run
    assert "cancelled" in out
    assert Path("out/nap-0").exists()  # the running task was allowed to finish
    assert not Path("out/nap-5.started").exists()  # queued tasks never started
    store = SqlHistoryStore.from_url("sqlite:///.dagcore/history.db")
    (run,) = store.list_runs()
    assert run.status is RunStatus.CANCELLED
    statuses = [task.status for task in store.tasks(run.run_id)]
    assert TaskStatus.CANCELLED in statuses and TaskStatus.SUCCESS in statuses


def test_second_interrupt_kills_running_tasks() -> None:
    proc = _start(2, seconds=60)
    _wait_for("out/nap-1.started")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 20
    assert proc.returncode == 25, err
    assert not Path("out/nap-0").exists()
    store = SqlHistoryStore.from_url("sqlite:///.dagcore/history.db")
    (run,) = store.list_runs()
    assert run.status is RunStatus.CANCELLED
    assert {task.status for task in store.tasks(run.run_id)} <= {
        TaskStatus.CANCELLED,
        TaskStatus.SUCCESS,
    }
