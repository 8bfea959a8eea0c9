"""Every Celery run reaches a final status, in history and in ``dagcore status``, on every path.

Real Redis, real PostgreSQL history, real ``dagcore worker`` processes and real ``dagcore run``
submitters (subprocesses, so that Ctrl-C and exit codes are the user's). Each path asserts the
final status twice, through ``dagcore history --json`` and ``dagcore status --json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from celery_app.joins import RunStore
from tests.integration.celery import graph_families as g
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.pg_server import PostgresServer

MODULE = "tests.integration.celery.graph_families"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(
    celery_env: CeleryEnv, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of submitters, workers and CLI calls: test Redis, fresh PostgreSQL."""
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    celery_env.configure("[celery]\nlease_seconds = 3\n")
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def dagcore(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagcore", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=env["DAGCORE_TEST_OUT"].rsplit("/", 1)[0],
        timeout=timeout,
        check=False,
    )


def submit(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """A ``dagcore run --executor celery`` submitter in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "dagcore", "run", "--module", MODULE, *args, "--executor", "celery"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=env["DAGCORE_TEST_OUT"].rsplit("/", 1)[0],
    )


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def run_ids(celery_env: CeleryEnv) -> list[str]:
    with celery_env.client() as client:
        keys = [k.decode() for k in client.keys("*:run:*:meta")]
    return [k.split("{", 1)[1].rsplit("}", 1)[0] for k in keys]


def history_status(env: dict[str, str], run_id: str) -> str:
    shown = dagcore(env, "history", "--run", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["run"]["status"])


def status_of(env: dict[str, str], run_id: str) -> dict[str, Any]:
    shown = dagcore(env, "status", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    payload: dict[str, Any] = json.loads(shown.stdout)
    return payload


def assert_final(env: dict[str, str], run_id: str, expected: str, timeout: float = 60) -> None:
    """History reaches ``expected``, and ``dagcore status`` (with a prefix) says the same."""
    wait_for(
        f"history shows {run_id} {expected}",
        lambda: history_status(env, run_id) == expected,
        timeout,
    )
    assert status_of(env, run_id[:8])["status"] == expected


def naps_started(celery_env: CeleryEnv) -> int:
    with celery_env.client() as client:
        return int(client.llen("test:order"))


def test_a_detached_run_closes_itself(env: dict[str, str], start_worker: StartWorker) -> None:
    start_worker([MODULE], concurrency=2)
    submitted = dagcore(
        env, "run", "--module", MODULE, "Naps", "--n", "3", "--executor", "celery", "--detach"
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    assert run_id in submitted.stderr  # said at once, with the broker
    assert_final(env, run_id, "SUCCESS")
    assert all(g.runs(g.Nap(i=i)) == 1 for i in range(3))


def test_a_failed_detached_run_closes_failed(
    env: dict[str, str], start_worker: StartWorker
) -> None:
    start_worker([MODULE], concurrency=1)
    submitted = dagcore(
        env, "run", "--module", MODULE, "AfterBroken", "--executor", "celery", "--detach"
    )
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    assert_final(env, run_id, "FAILED")


def test_cancel_of_a_detached_run(
    env: dict[str, str], start_worker: StartWorker, celery_env: CeleryEnv
) -> None:
    start_worker([MODULE], concurrency=1)
    submitted = dagcore(
        env, "run", "--module", MODULE, "Naps", "--n", "6", "--executor", "celery", "--detach"
    )
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    wait_for("a nap started", lambda: naps_started(celery_env))
    cancelled = dagcore(env, "cancel", run_id[:10])
    assert cancelled.returncode == 0, cancelled.stderr
    assert_final(env, run_id, "CANCELLED")
    time.sleep(2.5)  # the running nap ends; no other starts
    assert naps_started(celery_env) < 6
    assert_final(env, run_id, "CANCELLED")


def test_ctrl_c_on_the_submitter_cancels_the_run(
    env: dict[str, str], start_worker: StartWorker, celery_env: CeleryEnv
) -> None:
    start_worker([MODULE], concurrency=1)
    submitter = submit(env, "Naps", "--n", "6")
    wait_for("a nap started", lambda: naps_started(celery_env))
    submitter.send_signal(signal.SIGINT)
    out, err = submitter.communicate(timeout=60)
    assert submitter.returncode == 25, err  # Luigi's not_run
    (run_id,) = run_ids(celery_env)
    assert f"run {run_id} cancelled" in err, err
    assert "Traceback" not in err
    assert_final(env, run_id, "CANCELLED")
    assert naps_started(celery_env) < 6


def test_no_worker_is_said_within_10_seconds_and_ctrl_c_ends_it(
    env: dict[str, str], celery_env: CeleryEnv
) -> None:
    started = time.monotonic()
    submitter = submit(env, "Naps", "--n", "2")
    assert submitter.stderr is not None
    lines: list[str] = []
    while not any("no live worker consumes queue 'default'" in line for line in lines):
        line = submitter.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    assert time.monotonic() - started < 10, lines
    text = "".join(lines)
    assert "dagcore worker --module tests.integration.celery.graph_families" in text
    assert "(the default" not in text and "redis://" in text  # names the broker
    (run_id,) = run_ids(celery_env)
    assert run_id in text
    submitter.send_signal(signal.SIGINT)
    submitter.communicate(timeout=60)
    assert submitter.returncode == 25
    assert_final(env, run_id, "CANCELLED")


def test_a_broker_that_is_down_is_one_line_and_records_not_run(
    env: dict[str, str],
) -> None:
    down = {**env, "DAGCORE_BROKER_URL": "redis://user:hunter2@127.0.0.1:1/0"}
    result = dagcore(down, "run", "--module", MODULE, "Naps", "--n", "1", "--executor", "celery")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "redis://user:***@127.0.0.1:1/0" in result.stderr and "hunter2" not in result.stderr
    runs = json.loads(dagcore(env, "history", "--json").stdout)
    assert [r["status"] for r in runs] == ["NOT_RUN"]


def test_a_submission_refused_up_front_records_not_run(env: dict[str, str]) -> None:
    result = dagcore(env, "run", "--module", MODULE, "NeedsTooMuch", "--executor", "celery")
    assert result.returncode == 2, result.stderr
    runs = json.loads(dagcore(env, "history", "--json").stdout)
    assert [r["status"] for r in runs] == ["NOT_RUN"]


def test_celery_worker_without_modules_refuses_to_start(celery_env: CeleryEnv) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "solo"],
        capture_output=True,
        text=True,
        env=env,
        cwd=celery_env.directory,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2, started.stderr
    assert "needs [worker] modules" in started.stderr
    assert "ready." not in started.stdout + started.stderr


def _wait_lines(process: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(needle in line for line in lines):
        assert time.monotonic() < deadline, "".join(lines)
        line = process.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    return lines


def test_celery_worker_with_modules_runs_like_dagcore_worker(
    env: dict[str, str], celery_env: CeleryEnv
) -> None:
    worker_env = {**env, "DAGCORE__WORKER__MODULES": MODULE}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_app",
            "worker",
            "-c",
            "1",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=worker_env,
        cwd=celery_env.directory,
        start_new_session=True,
    )
    try:
        _wait_lines(worker, " ready.", 60)
        submitted = dagcore(
            env, "run", "--module", MODULE, "Naps", "--n", "2", "--executor", "celery", "--detach"
        )
        run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
        assert_final(env, run_id, "SUCCESS")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.communicate(timeout=60)


def test_an_unknown_family_fails_the_run_visibly(
    env: dict[str, str], start_worker: StartWorker, celery_env: CeleryEnv
) -> None:
    # A worker that runs another module: the message is a recorded failure, not discarded.
    start_worker(["tests.integration.celery.worker_process_other"], concurrency=1)
    submitted = dagcore(
        env, "run", "--module", MODULE, "Naps", "--n", "1", "--executor", "celery", "--detach"
    )
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    assert_final(env, run_id, "FAILED")


@pytest.mark.timeout(240)
def test_the_end_of_a_run_during_a_database_outage_arrives_after_it(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    pg_server: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", pg_server.url)
    celery_env.configure("[celery]\nlease_seconds = 3\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start_worker([MODULE], concurrency=2)
    submitted = dagcore(
        env, "run", "--module", MODULE, "Naps", "--n", "2", "--executor", "celery", "--detach"
    )
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    wait_for(
        "the run is in history", lambda: dagcore(env, "history", "--run", run_id).returncode == 0
    )
    pg_server.stop()
    try:
        wait_for("the run ended in Redis", lambda: _redis_status(celery_env, run_id) != "RUNNING")
    finally:
        pg_server.start()
    assert_final(env, run_id, "SUCCESS", timeout=90)


def _redis_status(celery_env: CeleryEnv, run_id: str) -> str:
    with celery_env.client() as client:
        raw = client.hget(
            f"{celery_env.settings.celery.key_prefix}:run:{{{run_id}}}:meta", "status"
        )
    return raw.decode() if raw else ""


def test_status_replays_what_a_database_outage_left_in_the_journal(
    env: dict[str, str], celery_env: CeleryEnv
) -> None:
    from dagcore.history.events import (
        HistoryEvent,
        RunFinished,
        RunStarted,
        RunStatus,
        event_to_json,
        utcnow,
    )
    from tests.integration.celery.test_joins import make_plan

    client = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    store = RunStore(client, celery_env.settings.celery.key_prefix)
    run_id = "journalled0001"
    store.create_run(run_id, make_plan({"A": []}))
    store.cancel(run_id, "cancelled")
    # What a submitter's history writer spilled while PostgreSQL was down.
    journal = Path(env["DAGCORE_TEST_OUT"]).parent / ".dagcore" / "history-journal-dead.jsonl"
    journal.parent.mkdir(parents=True, exist_ok=True)
    events: list[HistoryEvent] = [
        RunStarted(run_id, utcnow(), "me", "host", "dagcore run", ["A"], "celery"),
        RunFinished(run_id, utcnow(), RunStatus.CANCELLED, 25, "the summary"),
    ]
    journal.write_text("".join(event_to_json(e) + "\n" for e in events), encoding="utf-8")
    assert status_of(env, run_id[:9])["status"] == "CANCELLED"
    assert not journal.exists()
    assert history_status(env, run_id) == "CANCELLED"
    client.close()


def test_a_live_worker_is_seen_and_no_false_alarm_is_raised(
    env: dict[str, str], start_worker: StartWorker, celery_env: CeleryEnv
) -> None:
    from celery_app.presence import live_workers

    start_worker([MODULE], concurrency=1)
    prefix = celery_env.settings.celery.key_prefix
    with celery_env.client() as client:
        wait_for(
            "the worker's heartbeat", lambda: live_workers(client, prefix, ["default"])["default"]
        )
    submitter = submit(env, "Naps", "--n", "1")
    out, err = submitter.communicate(timeout=60)
    assert submitter.returncode == 0, err
    assert "no live worker" not in err, err
