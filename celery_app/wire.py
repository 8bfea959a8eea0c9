"""dagcore's task messages, built as kombu's Redis transport stores them.

A worker publishes the tasks a settle made ready and removes them from the run's outbox. Going
through ``Celery.send_task`` costs a producer, a channel and half a millisecond of Python per
message, and the outbox acknowledgement is a second round trip after it. Instead,
:class:`MessageBuilder` renders the message exactly as ``send_task`` would (Celery's task
protocol 2 inside kombu's Redis envelope), and :func:`celery_app.publish.publish` pushes the
messages and removes the outbox entries in one ``MULTI``: publishing and acknowledging become
one atomic step.

The format, as kombu 5 stores a message of priority step ``p`` for queue ``q``: a JSON object
(``body`` base64 of the JSON ``[args, kwargs, embed]``, ``content-type``, ``content-encoding``,
``headers``: Celery's task headers, ``properties``: ``correlation_id``, ``reply_to``,
``delivery_mode``, ``delivery_info`` (exchange and routing key), ``priority``,
``body_encoding``, ``delivery_tag``) pushed with ``LPUSH`` onto the list ``q`` for step 0 and
``q\\x06\\x16p`` otherwise. ``tests/integration/celery/test_wire.py`` compares it with what
``send_task`` publishes, so an upgrade of Celery or kombu that changes it fails there.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
from kombu.utils.uuid import uuid

from celery_app.routing import redis_priority

__all__ = ["PRIORITY_SEP", "MessageBuilder", "queue_key"]

PRIORITY_SEP = "\x06\x16"
"""What kombu's Redis transport puts between a queue's name and a priority step."""

# Celery's AMQP.argsrepr_maxsize / kwargsrepr_maxsize.
_REPR_MAXSIZE = 1024
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def queue_key(queue: str, step: int) -> str:
    """The Redis list holding ``queue``'s messages of priority ``step``."""
    return f"{queue}{PRIORITY_SEP}{step}" if step else queue


class MessageBuilder:
    """Renders task messages of one app, as ``app.send_task`` would publish them.

    Parameters:
        app: the Celery app (its reply-to id and repr settings).
        fingerprint: the code fingerprint of a module (``celery_app.publish``).
    """

    def __init__(self, app: Celery, fingerprint: Any) -> None:
        self.origin = anon_nodename()
        self.reply_to = str(app.thread_oid)
        self.maxlevels = int(app.conf.task_repr_maxlevels)
        self.fingerprint = fingerprint

    def message(
        self,
        run_id: str,
        node: Mapping[str, Any],
        *,
        parent_id: str | None = None,
        root_id: str | None = None,
    ) -> tuple[str, str]:
        """The Redis list key and the message for one node of a run.

        ``parent_id`` and ``root_id`` are the Celery ids of the task publishing it, as Celery
        sets them for a message sent from inside a task (Flower links them).
        """
        module = str(node["module"])
        kwargs = {
            "run_id": run_id,
            "task_id": str(node["task_id"]),
            "module": module,
            "params": dict(node["params"]),
            "fingerprint": self.fingerprint(module),
        }
        if node.get("values"):
            kwargs["values"] = dict(node["values"])  # see celery_app.identity
        timeout = node.get("timeout")
        # The soft limit raises inside run() so the attempt is recorded as a timeout; the hard
        # limit is the backstop for code that swallows it.
        limits = [float(timeout) + 10, float(timeout)] if timeout else [None, None]
        queue = str(node.get("queue") or "default")
        step = redis_priority(int(node.get("priority") or 0))
        task_id = uuid()
        headers = {
            "lang": "py",
            "task": str(node["family"]),
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": limits,
            "root_id": root_id or task_id,
            "parent_id": parent_id,
            "argsrepr": "()",
            "kwargsrepr": saferepr(kwargs, _REPR_MAXSIZE, maxlevels=self.maxlevels),
            "origin": self.origin,
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        body = json.dumps([[], kwargs, _EMBED]).encode()
        envelope = {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "reply_to": self.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": step,
                "body_encoding": "base64",
                "delivery_tag": uuid(),
            },
        }
        return queue_key(queue, step), json.dumps(envelope)
