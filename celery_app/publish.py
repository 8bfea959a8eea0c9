"""Turning outbox entries into Celery task messages.

A task becomes ready inside a Lua script (``finish``, a released claim or semaphore slot), which
puts it in its run's outbox. Whoever ran that script publishes exactly the entries it created
(:class:`~celery_app.joins.OutboxEntry`) and then acknowledges them, so two workers settling at
the same time never publish each other's entries twice. Entries a crash leaves behind are
published again by the reaper's outbox sweep (:mod:`celery_app.reaper`); a duplicate message is
harmless, its claim answers ``done``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery

from celery_app.fingerprint import code_fingerprint
from celery_app.joins import OutboxEntry, RunStore
from celery_app.routing import redis_priority

__all__ = ["module_fingerprint", "publish", "send_node"]

# Messages sent per pipeline: the first ones of a big outbox (a run's roots) reach the workers
# while the rest are still being prepared.
_BATCH = 50


@functools.cache
def module_fingerprint(module: str) -> str:
    """The code fingerprint of one module (cached: code does not change under a process)."""
    return code_fingerprint([module])


def send_node(app: Celery, run_id: str, node: Mapping[str, Any], producer: Any = None) -> None:
    """Publish one task message: small, constant-size, JSON."""
    timeout = node.get("timeout")
    options: dict[str, Any] = {"producer": producer} if producer is not None else {}
    if timeout:
        # The soft limit raises inside run() so the attempt is recorded as a timeout; the hard
        # limit is the backstop for code that swallows it.
        options["soft_time_limit"] = float(timeout)
        options["time_limit"] = float(timeout) + 10
    app.send_task(
        str(node["family"]),
        kwargs={
            "run_id": run_id,
            "task_id": str(node["task_id"]),
            "module": str(node["module"]),
            "params": dict(node["params"]),
            "fingerprint": module_fingerprint(str(node["module"])),
        },
        queue=str(node.get("queue") or "default"),
        priority=redis_priority(int(node.get("priority") or 0)),
        **options,
    )


def _with_nodes(store: RunStore, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
    """The entries with their nodes, read in one HMGET per run for those that lack one."""
    wanted: dict[str, list[str]] = {}
    for entry in entries:
        if entry.node is None:
            wanted.setdefault(entry.run_id, []).append(entry.task_id)
    found: dict[tuple[str, str], Mapping[str, Any] | None] = {}
    for run_id, task_ids in wanted.items():
        nodes = store.nodes(run_id, task_ids)
        found.update(((run_id, t), n) for t, n in zip(task_ids, nodes, strict=True))
    return [
        entry if entry.node is not None else entry._replace(node=found[entry.run_id, entry.task_id])
        for entry in entries
    ]


def publish(app: Celery, store: RunStore, entries: Sequence[OutboxEntry]) -> int:
    """Publish outbox entries, then acknowledge them; returns how many messages were sent.

    The messages go out in pipelines of up to 50 (kombu's producer batch). An entry whose
    node is gone (the run expired) is acknowledged without a message.
    """
    if not entries:
        return 0
    sent = 0
    with app.producer_or_acquire() as producer, producer.batch(_BATCH):
        for entry in _with_nodes(store, entries):
            if entry.node is not None:
                send_node(app, entry.run_id, entry.node, producer=producer)
                sent += 1
    store.ack_entries(entries)
    return sent
