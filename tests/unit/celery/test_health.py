"""The worker heartbeat and ``dagcore worker --healthcheck``: freshness, probes, the command."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from celery_app.health import (
    Heartbeat,
    broker_probe,
    check_heartbeat,
    default_max_age,
    healthcheck_main,
)
from celery_app.worker import WorkerOptions, main
from dagcore.configuration.settings import DEFAULT_HEARTBEAT_FILE
from dagcore.errors import ConfigError
from tests.unit.celery.conftest import SettingsFactory


def _touched(path: Path, seconds_ago: float) -> float:
    """Give ``path`` an mtime ``seconds_ago`` in the past; return "now"."""
    now = time.time()
    path.write_text("1 0\n", encoding="utf-8")
    os.utime(path, (now - seconds_ago, now - seconds_ago))
    return now


def test_a_fresh_heartbeat_is_healthy(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    now = _touched(path, 2.0)
    status = check_heartbeat(path, max_age=10, now=now)
    assert status.healthy
    assert status.age == pytest.approx(2.0, abs=0.01)
    assert status.message.startswith("healthy: heartbeat 2.0s old")


def test_a_heartbeat_exactly_max_age_old_is_still_healthy(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    now = _touched(path, 10.0)
    assert check_heartbeat(path, max_age=10, now=now).healthy


def test_a_stale_heartbeat_says_by_how_much(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    now = _touched(path, 45.0)
    status = check_heartbeat(path, max_age=15, now=now)
    assert not status.healthy
    assert f"heartbeat file {path} is stale by 30s" in status.message
    assert "last touched 45s ago" in status.message and "\n" not in status.message


def test_a_missing_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    status = check_heartbeat(tmp_path / "nope", max_age=15)
    assert not status.healthy and status.age is None
    assert "is missing" in status.message


def test_a_heartbeat_from_the_future_counts_as_fresh(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    now = _touched(path, -5.0)  # a clock step back on the host
    status = check_heartbeat(path, max_age=1, now=now)
    assert status.healthy and status.age == 0.0


def test_default_max_age_tolerates_two_missed_touches() -> None:
    assert default_max_age(5.0) > 2 * 5.0
    assert default_max_age(0.2) < default_max_age(5.0)


def test_beat_touches_only_while_every_probe_passes(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hb"
    ok = True

    def probe() -> None:
        if not ok:
            raise ConnectionError("broker gone")

    heartbeat = Heartbeat(path, 0.1, [probe])
    assert heartbeat.beat()
    assert path.read_text(encoding="utf-8").split()[0] == str(os.getpid())
    os.utime(path, (0, 0))
    ok = False
    assert not heartbeat.beat()
    assert path.stat().st_mtime == 0  # not touched
    ok = True
    assert heartbeat.beat() and path.stat().st_mtime > 0


def test_the_thread_keeps_touching_and_stop_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    heartbeat = Heartbeat(path, 0.05, [])
    heartbeat.start()
    try:
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        first = path.stat().st_mtime_ns
        while path.stat().st_mtime_ns == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.stat().st_mtime_ns != first, "the heartbeat thread touched the file once"
    finally:
        heartbeat.stop()
    assert not path.exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def test_a_broker_that_refuses_connections_stops_the_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "hb"
    heartbeat = Heartbeat(path, 0.1, [broker_probe(f"redis://127.0.0.1:{_closed_port()}/0", 1)])
    assert not heartbeat.beat()
    assert not path.exists()


def test_healthcheck_command(
    settings_from: SettingsFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hb"
    settings_from(f'[worker]\nheartbeat_file = "{path}"\nheartbeat_interval = 1\n')
    assert main(["--healthcheck"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    _touched(path, 0.0)
    assert main(["--healthcheck"]) == 0
    assert "healthy" in capsys.readouterr().out
    _touched(path, 60.0)
    assert healthcheck_main(["--healthcheck"]) == 1  # default max age: 3 x 1 s + 5 s
    assert "stale by 52s" in capsys.readouterr().err
    assert healthcheck_main(["--healthcheck", "--max-age", "120"]) == 0
    other = tmp_path / "other"
    _touched(other, 0.0)
    assert healthcheck_main(["--healthcheck", "--heartbeat-file", str(other)]) == 0


@pytest.mark.parametrize("bad", ["0", "-3", "soon", "inf"])
def test_healthcheck_refuses_a_bad_max_age(settings_from: SettingsFactory, bad: str) -> None:
    settings_from("")
    with pytest.raises(ConfigError, match="--max-age: expected a number of seconds above 0"):
        healthcheck_main(["--healthcheck", "--max-age", bad])


def test_healthcheck_refuses_worker_options(settings_from: SettingsFactory) -> None:
    settings_from("")
    with pytest.raises(ConfigError, match="unrecognized arguments: --queues"):
        main(["--healthcheck", "--queues", "default"])


def test_worker_heartbeat_file_option_and_setting(
    settings_from: SettingsFactory, tmp_path: Path
) -> None:
    settings = settings_from("")
    assert settings.worker.heartbeat_file == DEFAULT_HEARTBEAT_FILE
    assert WorkerOptions.parse(["--module", "m"], settings).heartbeat_file == (
        DEFAULT_HEARTBEAT_FILE
    )
    settings = settings_from('[worker]\nheartbeat_file = "/var/run/w.hb"\n')
    assert WorkerOptions.parse(["--module", "m"], settings).heartbeat_file == "/var/run/w.hb"
    options = WorkerOptions.parse(["--module", "m", "--heartbeat-file", "/x/hb"], settings)
    assert options.heartbeat_file == "/x/hb"
    assert "--heartbeat-file" not in options.celery_argv(task_events=True)
    with pytest.raises(ConfigError, match="heartbeat_interval"):
        settings_from("[worker]\nheartbeat_interval = 0\n")


def test_an_unwritable_heartbeat_file_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    heartbeat = Heartbeat(blocker / "hb", 0.1, [])
    assert not heartbeat.beat()
    assert not heartbeat.beat()
    heartbeat.remove()
    warnings = [r.getMessage() for r in caplog.records if "not touched" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per beat
