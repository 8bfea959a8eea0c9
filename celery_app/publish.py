"""Turning outbox entries into Celery task messages.

A task becomes ready inside a Lua script (``finish``, a released claim or semaphore slot), which
puts it in its run's outbox. Whoever ran that script publishes exactly the entries it created
(:class:`~celery_app.joins.OutboxEntry`), removing them from the outbox in the same ``MULTI``,
so two workers settling at the same time never publish each other's entries twice. Entries a
crash leaves behind are published again by the reaper's outbox sweep (:mod:`celery_app.reaper`);
a duplicate message is harmless, its claim answers ``done``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from celery import Celery

from celery_app.fingerprint import module_fingerprint
from celery_app.joins import OutboxEntry, RunStore
from celery_app.wire import MessageBuilder

__all__ = ["module_fingerprint", "publish"]

logger = logging.getLogger("dagcore.celery")

# Messages sent per round trip: the first ones of a big outbox (a run's roots) reach the
# workers while the rest are still being prepared.
_BATCH = 50


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


def publish(
    app: Celery,
    store: RunStore,
    entries: Sequence[OutboxEntry],
    *,
    parent_id: str | None = None,
    root_id: str | None = None,
) -> int:
    """Publish outbox entries and acknowledge them; returns how many messages were sent.

    Each chunk of up to 50 messages is pushed together with the removal of its outbox entries
    in one ``MULTI`` (:mod:`celery_app.wire`). An entry whose node is gone (the run expired) is
    acknowledged without a message. ``parent_id`` and ``root_id``: the Celery ids of the task
    publishing, if any.
    """
    if not entries:
        return 0
    builder = MessageBuilder(app, module_fingerprint)
    sent = 0
    full = _with_nodes(store, entries)
    for start in range(0, len(full), _BATCH):
        chunk = full[start : start + _BATCH]
        messages = [
            builder.message(e.run_id, e.node, parent_id=parent_id, root_id=root_id)
            for e in chunk
            if e.node is not None
        ]
        store.publish_entries(messages, chunk)
        sent += len(messages)
    return sent
