"""A run of 300,000 nodes goes into Redis and moves (celery_app.joins at the resolver's scale).

Kept apart from test_joins.py so that file stays quick: this one alone takes a few seconds,
most of it building and encoding the nodes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from celery_app.joins import RunStore
from dagcore.plan import Node, Plan

PREFIX = "dgtest"


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis[str]]:
    connection: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


def test_create_and_finish_a_300k_node_plan(client: Redis[str]) -> None:
    store = RunStore(client, PREFIX)
    # 100,000 chains of three under one report: the size the resolver must handle.
    plan = Plan(roots=["Report"])
    for i in range(100_000):
        plan.nodes[f"E{i}"] = Node(f"E{i}", "F", "m", {})
        plan.nodes[f"T{i}"] = Node(f"T{i}", "F", "m", {}, [f"E{i}"])
        plan.nodes[f"L{i}"] = Node(f"L{i}", "F", "m", {}, [f"T{i}"])
    plan.nodes["Report"] = Node("Report", "F", "m", {}, [f"L{i}" for i in range(100_000)])
    ready = store.create_run("huge", plan)
    assert sorted(ready) == sorted(f"E{i}" for i in range(100_000))
    status = store.run_status("huge")
    assert (status["total"], status["outbox"], status["done"]) == (300_001, 100_000, 0)
    waiting = f"{PREFIX}:run:{{huge}}:waiting"
    assert client.hget(waiting, "Report") == "100000"
    assert client.hget(waiting, "L99999") == "1"
    assert store.finish("huge", "E99999") == ["T99999"]
    assert store.finish("huge", "T99999") == ["L99999"]
    stored = store.node("huge", "L99999")
    assert stored is not None and stored["dependents"] == ["Report"]
