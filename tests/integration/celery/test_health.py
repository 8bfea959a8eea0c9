"""``dagcore worker --healthcheck`` against real workers: ready, stopped, killed, cut off.

Each worker touches its own heartbeat file every 0.2 s ([worker] heartbeat_interval); the
checks below use ``--max-age 1.5`` so a stalled heartbeat shows within seconds, and wait on
conditions with generous deadlines rather than sleeping fixed times.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from celery_app.health import check_heartbeat
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.celery.workerproc import REPO

MODULE = "tests.integration.celery.graph_families"
INTERVAL = 0.2
MAX_AGE = 1.5


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting until {what}")
        time.sleep(0.05)


def _healthcheck(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """The real command, in a fresh process, as a probe runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-m", "dagcore", "worker", "--healthcheck"]
        + ["--heartbeat-file", str(path), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fresh(path: Path) -> bool:
    return check_heartbeat(path, MAX_AGE).healthy


@pytest.fixture
def quick_heartbeat(celery_env: CeleryEnv) -> CeleryEnv:
    celery_env.configure(f"[worker]\nheartbeat_interval = {INTERVAL}\n")
    return celery_env


def test_healthy_once_ready_then_stale_when_stopped_or_killed(
    quick_heartbeat: CeleryEnv, start_worker: StartWorker, tmp_path: Path
) -> None:
    path = tmp_path / "worker.heartbeat"
    leftover = "left by an earlier worker\n"
    path.write_text(leftover, encoding="utf-8")
    worker = start_worker([MODULE], extra=["--heartbeat-file", str(path)])
    # The leftover was removed at start-up; the file now comes from this worker's main process.
    _wait(lambda: _fresh(path), 20, "the ready worker touches its heartbeat")
    assert path.read_text(encoding="utf-8").split()[0] == str(worker.process.pid)
    done = _healthcheck(path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dagcore worker: healthy: heartbeat")

    pid = worker.process.pid
    os.kill(pid, signal.SIGSTOP)  # a hung main process (its pool children keep running)
    try:
        _wait(lambda: not _fresh(path), 20, "the stopped worker's heartbeat goes stale")
        done = _healthcheck(path, "--max-age", str(MAX_AGE))
        assert done.returncode == 1
        (line,) = done.stderr.splitlines()
        assert "is stale by" in line and str(path) in line
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait(lambda: _fresh(path), 20, "the resumed worker touches its heartbeat again")

    worker.kill()
    assert path.exists()  # SIGKILL leaves the file behind; only its age tells
    _wait(lambda: not _fresh(path), 20, "the killed worker's heartbeat goes stale")
    assert _healthcheck(path, "--max-age", str(MAX_AGE)).returncode == 1


def test_a_worker_shut_down_removes_its_heartbeat(
    quick_heartbeat: CeleryEnv, start_worker: StartWorker, tmp_path: Path
) -> None:
    path = tmp_path / "worker.heartbeat"
    worker = start_worker([MODULE], extra=["--heartbeat-file", str(path)])
    _wait(lambda: _fresh(path), 20, "the ready worker touches its heartbeat")
    assert worker.stop() == 0
    assert not path.exists()
    # Warm shutdown drops the consumer's connection on purpose; that is no reason to stall.
    assert "not touched" not in worker.output(), worker.output()
    done = _healthcheck(path)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("dagcore worker: unhealthy:") and "is missing" in line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of the test's own, which the test may kill (the session one stays up)."""
    executable = shutil.which("redis-server")
    assert executable is not None, "redis-server must be on PATH (pytest-redis needs it too)"
    port = _free_port()
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--timeout", "0"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        _wait(answers, 20, "the private redis-server answers")
        yield url, process
    finally:
        client.close()
        process.kill()
        process.wait(10)


def test_a_worker_cut_off_from_the_broker_turns_unhealthy(
    quick_heartbeat: CeleryEnv,
    start_worker: StartWorker,
    own_redis: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, server = own_redis
    monkeypatch.setenv("DAGCORE_BROKER_URL", url)
    path = tmp_path / "worker.heartbeat"
    worker = start_worker([MODULE], extra=["--heartbeat-file", str(path)])
    try:
        _wait(lambda: _fresh(path), 20, "the ready worker touches its heartbeat")
        server.kill()
        server.wait(10)
        _wait(lambda: not _fresh(path), 30, "the heartbeat of a worker without broker is stale")
        assert worker.running()  # alive, yet unhealthy: what a liveness probe must catch
        assert "heartbeat" in worker.output() and "unhealthy" in worker.output()
    finally:
        worker.kill()  # a warm shutdown would wait for the broker
