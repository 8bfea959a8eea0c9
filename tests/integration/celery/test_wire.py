"""celery_app.wire renders a task message exactly as Celery's send_task publishes it.

Both are published to a real Redis and read back; everything but the per-message ids (and the
parent and root ids, which only a message sent from inside a task has) must agree. A Celery or
kombu upgrade that changes the wire format fails here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from celery_app.publish import module_fingerprint
from celery_app.wire import MessageBuilder, queue_key
from tests.integration.celery.conftest import CeleryEnv

NODE = {
    "task_id": "graph_families.Leaf_1_abc",
    "family": "graph_families.Leaf",
    "module": "tests.integration.celery.graph_families",
    "params": {"name": "x", "n": "1"},
    "queue": "default",
    "priority": 100,
    "timeout": 30,
}
PER_MESSAGE = {"id", "root_id", "correlation_id", "delivery_tag"}


def _without_ids(message: dict[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in message["headers"].items() if k not in PER_MESSAGE}
    properties = {k: v for k, v in message["properties"].items() if k not in PER_MESSAGE}
    body = json.loads(base64.b64decode(message["body"]))
    return {**message, "headers": headers, "properties": properties, "body": body}


def test_built_message_matches_what_send_task_publishes(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    kwargs = {
        "run_id": "r1",
        "task_id": NODE["task_id"],
        "module": NODE["module"],
        "params": NODE["params"],
        "fingerprint": module_fingerprint(str(NODE["module"])),
    }
    # What celery_app.publish sent before it built messages itself.
    app.send_task(
        str(NODE["family"]),
        kwargs=kwargs,
        queue="default",
        priority=2,
        soft_time_limit=30.0,
        time_limit=40.0,
    )
    key, built = MessageBuilder(app, module_fingerprint).message("r1", NODE)
    assert key == queue_key("default", 2) == "default\x06\x162"
    with celery_env.client() as client:
        (sent,) = client.lrange(key, 0, -1)
    theirs, ours = json.loads(sent), json.loads(built)
    assert _without_ids(ours) == _without_ids(theirs)
    headers = ours["headers"]
    assert headers["root_id"] == headers["id"] == ours["properties"]["correlation_id"]
    assert ours["properties"]["delivery_tag"] != theirs["properties"]["delivery_tag"]


def test_a_message_from_inside_a_task_names_its_parent_and_root(celery_env: CeleryEnv) -> None:
    app = celery_env.app()
    node = {**NODE, "priority": 20_000, "timeout": None}
    key, built = MessageBuilder(app, module_fingerprint).message(
        "r1", node, parent_id="parent", root_id="root"
    )
    message = json.loads(built)
    assert key == "default"  # step 0 (served first) is the bare queue name
    assert (message["headers"]["parent_id"], message["headers"]["root_id"]) == ("parent", "root")
    assert message["headers"]["timelimit"] == [None, None]
    assert message["properties"]["priority"] == 0
