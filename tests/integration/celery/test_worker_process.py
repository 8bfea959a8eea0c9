"""A real ``dagcore worker`` process on a real Redis: start-up, registration, queues, priority."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from celery import Celery

from celery_app.routing import redis_priority
from tests.integration.celery import worker_process_families as families
from tests.integration.celery import worker_process_handler as handler
from tests.integration.celery import worker_process_other as other
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.celery.workerproc import WorkerProcess

pytestmark = pytest.mark.integration

MODULE = families.__name__
RECORD = families.Record.get_task_family()
INSPECT_TIMEOUT = 5.0

TWO_QUEUES = """
[queues.alpha]
concurrency = 1

[queues.beta]
concurrency = 1
"""


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def send(app: Celery, family: str, key: str, **options: Any) -> None:
    kwargs = {
        "run_id": "run-1",
        "task_id": f"{family}_{key}",
        "module": MODULE,
        "params": {"key": key},
        "fingerprint": "test",
    }
    app.send_task(family, kwargs=kwargs, **options)


def recorded_keys(env: CeleryEnv) -> list[str]:
    return [call["kwargs"]["params"]["key"] for call in handler.calls(env.redis_url)]


def registered(app: Celery, worker: WorkerProcess) -> list[str]:
    replies = app.control.inspect([worker.nodename], timeout=INSPECT_TIMEOUT).registered()
    assert replies, f"no reply from {worker.nodename}"
    names: list[str] = replies[worker.nodename]
    return names


def test_worker_starts_prints_ready_and_registers_its_families(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    worker = start_worker([MODULE], handler=handler.SPEC)
    banner = worker.wait_for(r"^dagcore worker: modules ")
    assert MODULE in banner and RECORD in banner
    assert worker.running()

    app = celery_env.app()
    names = registered(app, worker)
    assert sorted(n for n in names if not n.startswith("celery.")) == sorted(
        [RECORD, families.Other.get_task_family()]
    )
    # The module imports Outsider, but it is not one of the worker's modules.
    outsider = "wproc.Outsider"
    assert outsider == other.Outsider.get_task_family()
    assert outsider not in names

    send(app, RECORD, "one", queue="default")
    wait_until(lambda: recorded_keys(celery_env) == ["one"], "the message to be handled")
    [call] = handler.calls(celery_env.redis_url)
    assert call["family"] == RECORD
    assert call["kwargs"]["task_id"] == f"{RECORD}_one"
    assert call["kwargs"]["module"] == MODULE
    assert call["pid"] != worker.process.pid  # run in a prefork child, not the main process


def test_worker_consumes_only_the_given_queues(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    celery_env.configure(TWO_QUEUES)
    app = celery_env.app()
    # beta is published first: a worker that listened to it would take it before alpha's.
    send(app, RECORD, "to-beta", queue="beta")
    send(app, RECORD, "to-alpha", queue="alpha")
    worker = start_worker([MODULE], queues=["alpha"], handler=handler.SPEC)

    wait_until(lambda: "to-alpha" in recorded_keys(celery_env), "the alpha message")
    assert recorded_keys(celery_env) == ["to-alpha"]
    with app.connection_for_read() as connection:
        waiting = connection.default_channel.queue_declare("beta", passive=True).message_count
    assert waiting == 1
    replies = app.control.inspect([worker.nodename], timeout=INSPECT_TIMEOUT).active_queues()
    assert replies and [q["name"] for q in replies[worker.nodename]] == ["alpha"]


def test_worker_survives_unknown_families_and_pickled_messages(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    worker = start_worker([MODULE], handler=handler.SPEC)
    app = celery_env.app()
    unknown = {"run_id": "run-1", "task_id": "x_1", "module": "pkg.elsewhere", "params": {}}
    app.send_task("elsewhere.Unknown", kwargs=unknown, queue="default")
    # The outsider's module was imported by the worker, but it was not told to run it.
    send(app, other.Outsider.get_task_family(), "outsider", queue="default")
    send(app, RECORD, "pickled", queue="default", serializer="pickle")
    send(app, RECORD, "after", queue="default")

    wait_until(lambda: "after" in recorded_keys(celery_env), "the message after the bad ones")
    assert recorded_keys(celery_env) == ["after"]
    assert worker.running()
    worker.wait_for(r"received a message for family 'elsewhere\.Unknown'.*--module pkg\.elsewhere")
    worker.wait_for(r"received a message for family 'wproc\.Outsider'")
    worker.wait_for(r"(?i)refusing to deserialize untrusted content of type pickle")
    with celery_env.client() as client:
        seen = [json.loads(raw) for raw in client.lrange(handler.UNKNOWN_KEY, 0, -1)]
    assert [entry["family"] for entry in seen] == ["elsewhere.Unknown", "wproc.Outsider"]
    assert seen[0]["kwargs"] == unknown


def test_high_priority_messages_are_consumed_first(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    app = celery_env.app()
    low, high = redis_priority(-100), redis_priority(100)
    assert high < low  # on Redis the lower step is served first
    for index in range(50):
        send(app, RECORD, f"low-{index:02d}", queue="default", priority=low)
    for index in range(50):
        send(app, RECORD, f"high-{index:02d}", queue="default", priority=high)

    start_worker([MODULE], concurrency=1, handler=handler.SPEC)
    wait_until(lambda: len(recorded_keys(celery_env)) == 100, "all 100 messages", timeout=90)
    order = recorded_keys(celery_env)
    assert order[:50] == [f"high-{index:02d}" for index in range(50)]
    assert order[50:] == [f"low-{index:02d}" for index in range(50)]


def test_worker_refuses_to_start_when_the_timeout_reaches_the_visibility_timeout(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    celery_env.configure("[celery]\nvisibility_timeout = 300\n\n[worker]\ntimeout = 300\n")
    worker = start_worker([MODULE], handler=handler.SPEC, wait_ready=False)
    assert worker.wait_exit() == 2
    output = worker.output()
    assert "[worker] timeout is 300s" in output and "visibility_timeout" in output
    assert "ready." not in output


def test_worker_with_the_executor_handler_starts(
    celery_env: CeleryEnv, start_worker: StartWorker
) -> None:
    # No --handler: the Celery executor's celery_app.tasks.handle_message runs the messages.
    worker = start_worker([MODULE])
    assert RECORD in registered(celery_env.app(), worker)
