"""A message handler for the worker-process tests: it records each call in Redis.

The test process reads the records back, so they show what the worker ran and in which order.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis

CALLS_KEY = "wproc:calls"
UNKNOWN_KEY = "wproc:unknown"
SPEC = f"{__name__}:record"

_clients: dict[int, redis.Redis[bytes]] = {}


def _client(url: str) -> redis.Redis[bytes]:
    # One connection per worker process (prefork children must not share the parent's socket).
    client = _clients.get(os.getpid())
    if client is None:
        client = _clients[os.getpid()] = redis.Redis.from_url(url)
    return client


def record(celery_task: Any, /, *, family: str, **kwargs: Any) -> str:
    """Append ``{family, kwargs, pid, queue}`` to :data:`CALLS_KEY`."""
    delivery = celery_task.request.delivery_info or {}
    entry = {
        "family": family,
        "kwargs": kwargs,
        "pid": os.getpid(),
        "queue": delivery.get("routing_key"),
    }
    _client(celery_task.app.conf.broker_url).rpush(CALLS_KEY, json.dumps(entry))
    return "recorded"


def handle_unknown(family: str, kwargs: dict[str, Any]) -> None:
    """Called by the worker for a message naming a family it does not run."""
    url = os.environ["DAGCORE_BROKER_URL"]
    _client(url).rpush(UNKNOWN_KEY, json.dumps({"family": family, "kwargs": kwargs}))


def calls(url: str) -> list[dict[str, Any]]:
    """The recorded calls, oldest first (read by the test process)."""
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    try:
        return [json.loads(raw) for raw in client.lrange(CALLS_KEY, 0, -1)]
    finally:
        client.close()
