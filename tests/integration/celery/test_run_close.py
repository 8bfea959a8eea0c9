"""Every run reaches a final status, closed by whoever makes it end (celery_app.joins).

The settle of a run's last active task (ready, running or retrying) closes the run: the final
status goes to the run's meta (what ``dagcore status`` shows) and, in the same script, a
``run_finished`` event to the history stream (what ``dagcore history`` shows). A cancel closes
the run as CANCELLED the same way; a run with nothing to run is closed at submission.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from redis import Redis

from celery_app.joins import RunStore
from dagcore.history.events import RunFinished, RunStatus, event_from_json
from dagcore.plan import Node
from tests.integration.celery.test_joins import PREFIX, make_plan, node, publish

CODES = {"missing_data": 20, "task_failed": 30, "not_run": 25}


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis[str]]:
    connection: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


@pytest.fixture
def store(client: Redis[str]) -> RunStore:
    return RunStore(client, PREFIX)


def ends(client: Redis[str], run_id: str) -> list[RunFinished]:
    """The run_finished events of ``run_id`` in the history stream."""
    out = []
    for _, fields in client.xrange(f"{PREFIX}:history"):
        event = event_from_json(fields["e"])
        if isinstance(event, RunFinished) and event.run_id == run_id:
            out.append(event)
    return out


def settle_all(
    store: RunStore, run_id: str, ready: list[str], fail: frozenset[str] = frozenset()
) -> None:
    todo = publish(store, run_id, ready)
    while todo:
        task = todo.pop(0)
        if task in fail:
            store.fail(run_id, task, "Boom", "it broke", 1)
        else:
            todo += publish(store, run_id, store.finish(run_id, task))


def test_the_last_settle_closes_the_run_once(store: RunStore, client: Redis[str]) -> None:
    plan = make_plan({"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]})
    settle_all(store, "ok", store.create_run("ok", plan, codes=CODES))
    status = store.run_status("ok")
    assert status["status"] == "SUCCESS" and status["ended"] is not None
    assert status["active"] == 0
    (end,) = ends(client, "ok")
    assert end.status is RunStatus.SUCCESS and end.exit_code == 0
    assert "ok" not in store.live_runs()
    # A repeated settle or a late close changes nothing and records no second end.
    assert store.finish("ok", "D") == []
    assert store.close("ok", "again") == ""
    assert len(ends(client, "ok")) == 1
    events = [fields for _, fields in client.xrange(f"{PREFIX}:run:{{ok}}:events")]
    assert events[-1]["type"] == "closed" and events[-1]["status"] == "SUCCESS"


def test_a_failure_closes_the_run_failed_when_nothing_else_can_run(
    store: RunStore, client: Redis[str]
) -> None:
    plan = make_plan({"A": [], "B": ["A"], "C": [], "D": ["C"]})
    settle_all(store, "f", store.create_run("f", plan, codes=CODES), fail=frozenset({"A"}))
    assert store.run_status("f")["status"] == "FAILED"
    (end,) = ends(client, "f")
    assert end.status is RunStatus.FAILED and end.exit_code == 30


def test_a_retry_makes_success_with_retry(store: RunStore, client: Redis[str]) -> None:
    ready = store.create_run("r", make_plan({"A": []}), codes=CODES)
    store.event("r", "retry", "A", attempt="1")
    settle_all(store, "r", ready)
    assert ends(client, "r")[0].status is RunStatus.SUCCESS_WITH_RETRY


def test_cancel_closes_the_run_cancelled_at_once(store: RunStore, client: Redis[str]) -> None:
    ready = store.create_run("c", make_plan({"A": [], "B": ["A"]}), codes={"not_run": 7})
    publish(store, "c", ready)
    assert store.cancel("c", "cancelled by test") is True
    assert store.run_status("c")["status"] == "CANCELLED"
    (end,) = ends(client, "c")
    assert end.status is RunStatus.CANCELLED and end.exit_code == 7
    assert end.summary_text == "cancelled by test"
    # The running task settling later changes neither.
    assert store.finish("c", "A") == []
    assert store.cancel("c") is False
    assert store.run_status("c")["status"] == "CANCELLED" and len(ends(client, "c")) == 1


def test_missing_external_input_closes_at_submission(store: RunStore, client: Redis[str]) -> None:
    plan = make_plan({"E": [], "B": ["E"]})
    plan.nodes["E"] = Node("E", "tests.Ext", "tests", {}, [], external=True)
    assert store.create_run("m", plan, codes=CODES) == []
    assert store.run_status("m")["status"] == "MISSING_EXT"
    (end,) = ends(client, "m")
    assert end.status is RunStatus.MISSING_EXT and end.exit_code == 20


def test_a_yield_keeps_the_run_open_until_the_parent_reruns(
    store: RunStore, client: Redis[str]
) -> None:
    ready = store.create_run("y", make_plan({"P": []}), codes=CODES)
    publish(store, "y", ready)
    # P yields N (twice: a redelivered parent), N settles, P runs again and settles.
    assert store.extend("y", "P", [node("N")], ["N"]) == ["N"]
    assert store.extend("y", "P", [node("N")], ["N"]) == []
    publish(store, "y", ["N"])
    assert store.finish("y", "N") == ["P"]
    assert store.run_status("y")["status"] == "RUNNING"
    publish(store, "y", ["P"])
    store.finish("y", "P")
    assert store.run_status("y")["status"] == "SUCCESS"
    assert json.loads(client.hget(f"{PREFIX}:run:{{y}}:meta", "total") or "0") == 2
