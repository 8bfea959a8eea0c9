"""The Celery executor end to end: real Redis, real `dagcore worker` processes, PostgreSQL history.

Every task family counts its executions in Redis, so each test can prove that every task ran
exactly once and that the run completed.
"""

from __future__ import annotations

import decimal
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

import dagcore
from celery_app.joins import RunStore
from celery_app.publish import module_fingerprint
from dagcore.errors import ExecutionError
from dagcore.graph import resolve
from dagcore.history.events import AttemptStatus, RunStatus, TaskStatus
from dagcore.history.store import SqlHistoryStore
from dagcore.summary import StatusCode, Summary
from dagcore.task import Task, flatten
from tests.integration.celery import graph_families as g
from tests.integration.celery.conftest import CeleryEnv, StartWorker

MODULE = "tests.integration.celery.graph_families"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fleet(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> StartWorker:
    """Outputs in tmp_path, history in a fresh PostgreSQL database, short leases."""
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    celery_env.configure("[celery]\nlease_seconds = 3\n")
    return start_worker


def _build(roots: list[Task], **kwargs: Any) -> Summary:
    summary = dagcore.build(roots, executor="celery", detailed_summary=True, **kwargs)
    assert isinstance(summary, Summary)
    return summary


def _all_tasks(roots: list[Task]) -> list[Task]:
    seen: dict[str, Task] = {}
    stack = list(roots)
    while stack:
        task = stack.pop()
        if task.task_id not in seen:
            seen[task.task_id] = task
            stack.extend(flatten(task.requires()))
    return list(seen.values())


def _assert_each_ran_once(roots: list[Task]) -> None:
    counts = {t.task_id: g.runs(t) for t in _all_tasks(roots) if t.run is not None}
    counts = {
        k: v for k, v in counts.items() if not k.startswith(("Roots_", "Naps_", "DynamicPair_"))
    }
    assert counts and set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}


def _history(url: str) -> SqlHistoryStore:
    return SqlHistoryStore.from_url(url)


@pytest.mark.parametrize(
    ("shape", "names"),
    [("diamond", ["D"]), ("n", ["C", "D"]), ("lattice30", ["29_29"])],
    ids=["diamond", "n-shape", "lattice-30x30"],
)
def test_shapes_run_every_task_exactly_once(
    fleet: StartWorker, shape: str, names: list[str], postgres_url: str
) -> None:
    fleet([MODULE], concurrency=2)
    roots: list[Task] = [g.G(shape=shape, name=n) for n in names]
    summary = _build(roots)
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    _assert_each_ran_once(roots)
    store = _history(postgres_url)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            attempts = store.attempts(summary.run_id)
            if len(attempts) == len(_all_tasks(roots)) and all(
                a.status is AttemptStatus.SUCCESS for a in attempts
            ):
                break
            time.sleep(0.2)
        assert {a.status for a in attempts} == {AttemptStatus.SUCCESS}
        assert all(a.celery_id and a.host for a in attempts)
        run = store.get_run(summary.run_id)
        assert run is not None and run.status is RunStatus.SUCCESS and run.executor == "celery"
    finally:
        store.close()


def test_etl_dag_3001_tasks(fleet: StartWorker) -> None:
    fleet([MODULE], concurrency=2)
    summary = _build([g.Report(n=1000)])
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert "3001 ran successfully" in summary.summary_text
    _assert_each_ran_once([g.Report(n=1000)])


def test_two_runs_sharing_tasks_run_them_once(fleet: StartWorker) -> None:
    fleet([MODULE], concurrency=2)
    fleet([MODULE], concurrency=2)
    first: list[Task] = [g.Roots(shape="lattice8", names=["7_7"], sleep=0.05)]
    second: list[Task] = [g.Roots(shape="lattice8", names=["7_6", "6_7"], sleep=0.05)]
    results: dict[str, Summary] = {}

    def submit(name: str, roots: list[Task]) -> None:
        results[name] = _build(roots)

    threads = [
        threading.Thread(target=submit, args=("a", first)),
        threading.Thread(target=submit, args=("b", second)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert results["a"].status is StatusCode.SUCCESS, results["a"].summary_text
    assert results["b"].status is StatusCode.SUCCESS, results["b"].summary_text
    _assert_each_ran_once(first + second)


def test_retries_and_final_failure(fleet: StartWorker, postgres_url: str) -> None:
    fleet([MODULE], concurrency=2)
    summary = _build([g.Flaky(name="c"), g.AfterBroken()])
    assert summary.status is StatusCode.FAILED, summary.summary_text
    assert summary.exit_code == 30
    assert "broken on purpose" in summary.summary_text
    assert g.runs(g.Flaky(name="c")) == 3
    assert g.runs(g.AfterBroken()) == 0 and g.runs(g.Broken()) == 1
    store = _history(postgres_url)
    try:
        deadline = time.monotonic() + 20
        flaky: list[Any] = []
        while time.monotonic() < deadline:
            flaky = store.attempts(summary.run_id, g.Flaky(name="c").task_id)
            if len(flaky) == 3 and flaky[-1].status is AttemptStatus.SUCCESS:
                break
            time.sleep(0.2)
        assert [a.status for a in flaky] == [
            AttemptStatus.FAILED,
            AttemptStatus.FAILED,
            AttemptStatus.SUCCESS,
        ]
        assert "flaky failure 1" in (flaky[0].error_message or "")
        assert "Traceback" in (flaky[0].traceback or "")
        tasks = {t.family: t.status for t in store.tasks(summary.run_id)}
        assert tasks["AfterBroken"] in (TaskStatus.PENDING, TaskStatus.UPSTREAM_FAILED)
        assert tasks["Broken"] is TaskStatus.FAILED
    finally:
        store.close()


def test_dynamic_dependencies_three_deep_at_concurrency_1(fleet: StartWorker) -> None:
    fleet([MODULE], concurrency=1)
    summary = _build([g.Chain(depth=3)])
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    for depth in range(4):
        assert Path(g.out(), f"chain-{depth}").exists()
    # Chain(0) runs once; each Chain(d>0) runs twice (yield, then again after its requirement)
    assert g.runs(g.Chain(depth=0)) == 1
    assert [g.runs(g.Chain(depth=d)) for d in (1, 2, 3)] == [2, 2, 2]


def test_yield_of_a_task_that_is_already_running(fleet: StartWorker) -> None:
    fleet([MODULE], concurrency=2)
    summary = _build([g.DynamicPair()])
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert g.runs(g.Sleeper()) == 1
    assert g.runs(g.YieldsRunning()) == 2


def _kill_after_run_wrote(fleet: StartWorker, celery_env: CeleryEnv) -> tuple[Summary, float]:
    """Run AfterHang, SIGKILL the worker (and its children) once WritesThenHangs has written
    its output, start another; return the summary and the seconds from the kill to the end."""
    worker = fleet([MODULE], concurrency=1)
    client = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    result: dict[str, Summary] = {}
    thread = threading.Thread(target=lambda: result.update(s=_build([g.AfterHang()])))
    thread.start()
    deadline = time.monotonic() + 60
    while not client.get("test:hangs:written"):
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.05)
    worker.kill()  # SIGKILL: run() finished its work, finish() never happened
    killed = time.monotonic()
    fleet([MODULE], concurrency=1)
    thread.join(120)
    return result["s"], time.monotonic() - killed


def test_worker_killed_between_run_and_finish(fleet: StartWorker, celery_env: CeleryEnv) -> None:
    celery_env.configure("[celery]\nlease_seconds = 2\nvisibility_timeout = 6\n")
    summary, _ = _kill_after_run_wrote(fleet, celery_env)
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert g.runs(g.WritesThenHangs()) == 1  # redelivered, found complete, not run again
    assert g.runs(g.AfterHang()) == 1


@pytest.mark.slow
def test_task_longer_than_visibility_timeout_runs_once(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    celery_env.configure("[celery]\nlease_seconds = 3\nvisibility_timeout = 5\n")
    fleet([MODULE], concurrency=2)
    fleet([MODULE], concurrency=1)
    summary = _build([g.Slow(seconds=20.0)])
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert g.runs(g.Slow(seconds=20.0)) == 1


def test_a_float_parameter_given_an_int_runs_as_locally(fleet: StartWorker) -> None:
    # FloatParameter(default=20) and Slow(seconds=2): the string "2" would parse back as 2.0
    # (another task id); the value travels as itself and the worker builds the same task.
    fleet([MODULE], concurrency=1)
    task = g.Slow(seconds=2)
    summary = _build([task])
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert g.runs(task) == 1


def test_a_value_that_cannot_travel_is_refused_before_submitting(fleet: StartWorker) -> None:
    with pytest.raises(ExecutionError, match=r"parameter 'seconds'.*pass 2.0"):
        _build([g.Slow(seconds=decimal.Decimal("2"))])


def test_bad_messages_are_rejected_and_recorded(
    fleet: StartWorker, celery_env: CeleryEnv, postgres_url: str
) -> None:
    worker = fleet([MODULE], concurrency=1)
    plan = resolve([g.G(shape="diamond", name="A")])
    client = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    store = RunStore(client, celery_env.settings.celery.key_prefix)
    run_id = "badinput0001"
    store.create_run(run_id, plan, plan.roots)
    store.ack_outbox(run_id, store.pending_outbox(run_id))
    task_id = plan.roots[0]
    good = {
        "run_id": run_id,
        "task_id": task_id,
        "module": MODULE,
        "params": {"shape": "diamond", "name": "A", "sleep": "0.0"},
        "fingerprint": module_fingerprint(MODULE),
    }
    app = celery_env.app()
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("G", {**good, "module": "os"}, "ForbiddenModule"),
        ("G", {**good, "params": {"shape": "diamond"}}, "BadParameters"),
        ("G", {**good, "fingerprint": "0000000000000000"}, "CodeMismatch"),
        ("NoSuchFamily", good, "UnknownFamily"),
    ]
    events: list[dict[str, str]] = []
    for family, kwargs, _ in cases:
        app.send_task(family, kwargs=kwargs, queue="default")
        deadline = time.monotonic() + 30
        while True:
            found = store.read_events(run_id, "0", block_ms=200)
            failed = [f for _, f in found if f.get("type") == "failed"]
            if failed:
                events.append(failed[-1])
                break
            assert time.monotonic() < deadline, worker.output()
        client.delete(f"{celery_env.settings.celery.key_prefix}:run:{{{run_id}}}:failed")
        client.delete(f"{celery_env.settings.celery.key_prefix}:run:{{{run_id}}}:events")
    assert [e.get("error_type") for e in events] == [c[2] for c in cases]
    assert worker.running()
    assert g.runs(g.G(shape="diamond", name="A")) == 0


def test_cancel_stops_new_tasks(fleet: StartWorker, celery_env: CeleryEnv) -> None:
    fleet([MODULE], concurrency=1)
    result: dict[str, Summary] = {}
    thread = threading.Thread(target=lambda: result.update(s=_build([g.Naps(n=6)])))
    thread.start()
    client = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    deadline = time.monotonic() + 60
    while not client.llen("test:order"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    run_ids = [k.split("{")[1].split("}")[0] for k in client.keys("*:run:*:meta")]
    assert len(run_ids) == 1
    cancel = subprocess.run(
        [sys.executable, "-m", "dagcore", "cancel", run_ids[0]],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )
    assert cancel.returncode == 0, cancel.stderr
    thread.join(60)
    summary = result["s"]
    assert summary.status is StatusCode.CANCELLED, summary.summary_text
    assert sum(g.runs(g.Nap(i=i)) for i in range(6)) < 6


def test_submitter_survives_dropped_connections_and_ends_promptly(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    fleet([MODULE], concurrency=2)
    admin = redis.Redis.from_url(celery_env.redis_url, decode_responses=True)
    result: dict[str, Any] = {}

    def submit() -> None:
        result["summary"] = _build([g.Naps(n=6)])
        result["returned"] = time.time()

    thread = threading.Thread(target=submit)
    thread.start()
    kills = 0
    deadline = time.monotonic() + 60
    while thread.is_alive() and kills < 3 and time.monotonic() < deadline:
        ids = [c["id"] for c in admin.client_list() if c.get("name") == "dagcore-submitter"]
        for client_id in ids:
            admin.execute_command("CLIENT", "KILL", "ID", client_id)
            kills += 1
        time.sleep(0.7)
    thread.join(120)
    assert kills >= 1
    summary = result["summary"]
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    last_end = max(Path(g.out(), f"nap-{i}").stat().st_mtime for i in range(6))
    assert result["returned"] - last_end < 2.0


def test_detach_then_status(fleet: StartWorker) -> None:
    fleet([MODULE], concurrency=2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    submitted = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagcore",
            "run",
            "--module",
            MODULE,
            "Naps",
            "--n",
            "3",
            "--executor",
            "celery",
            "--detach",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.split("Submitted run ")[1].split()[0]
    deadline = time.monotonic() + 60
    while True:
        status = subprocess.run(
            [sys.executable, "-m", "dagcore", "status", run_id, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        payload = json.loads(status.stdout)
        if payload["done"] == payload["total"]:
            break
        assert time.monotonic() < deadline, payload
        time.sleep(0.5)
    assert payload["failed"] == 0
    assert all(g.runs(g.Nap(i=i)) == 1 for i in range(3))


def test_worker_timeout_becomes_a_celery_time_limit(fleet: StartWorker, postgres_url: str) -> None:
    fleet([MODULE], concurrency=1)
    started = time.monotonic()
    summary = _build([g.TooSlow()])
    assert time.monotonic() - started < 30
    assert summary.status is StatusCode.FAILED, summary.summary_text
    assert "worker_timeout" in summary.summary_text
    store = _history(postgres_url)
    try:
        deadline = time.monotonic() + 20
        attempts: list[Any] = []
        while time.monotonic() < deadline:
            attempts = store.attempts(summary.run_id, g.TooSlow().task_id)
            if attempts and attempts[-1].status is not AttemptStatus.RUNNING:
                break
            time.sleep(0.2)
        assert [a.status for a in attempts] == [AttemptStatus.TIMEOUT]
    finally:
        store.close()


def test_lost_worker_redeliveries_are_capped(fleet: StartWorker, celery_env: CeleryEnv) -> None:
    celery_env.configure(
        "[celery]\nlease_seconds = 1\nmax_redeliveries = 2\nreaper_interval = 0.5\n"
    )
    worker = fleet([MODULE], concurrency=1)
    summary = _build([g.KillsItsWorker()])
    assert summary.status is StatusCode.FAILED, summary.summary_text
    assert "WorkerLost" in summary.summary_text and "died 3 times" in summary.summary_text
    assert g.runs(g.KillsItsWorker()) == 3
    assert worker.running()


def test_a_whole_worker_killed_mid_task_is_recovered_within_the_lease(
    fleet: StartWorker, celery_env: CeleryEnv
) -> None:
    # Redis would give the unacknowledged message back only after an hour: the reaper hands
    # the task back to its run once the dead holder's claim runs out instead.
    celery_env.configure("[celery]\nlease_seconds = 2\nreaper_interval = 0.5\n")
    summary, recovered_in = _kill_after_run_wrote(fleet, celery_env)
    assert summary.status is StatusCode.SUCCESS, summary.summary_text
    assert recovered_in < 30
    assert g.runs(g.WritesThenHangs()) == 1  # handed back, found complete, not run again
    assert g.runs(g.AfterHang()) == 1
