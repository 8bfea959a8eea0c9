"""Where a dagcore task message goes: its queue and its Redis priority step.

Luigi priorities are unbounded integers where a higher value runs first (default 0). Celery on
Redis offers ten priority steps, 0 to 9, and serves the *lowest* number first: kombu's Redis
transport (``kombu/transport/redis.py`` in kombu 5.7) stores a message of priority ``p`` in the
list ``<queue>\\x06\\x16<p>`` (``Channel._q_for_pri``; step 0 is the bare queue name) and its
``_brpop_start`` issues one ``BRPOP`` over those lists in ascending ``priority_steps`` order.
``BRPOP`` pops from the first non-empty key it is given, so step 0 wins. (kombu's docstring of
``_get_message_priority`` says "higher value has more priority", which holds for AMQP but not
for this transport: it is called with ``reverse=False`` when the message is stored.)

:func:`redis_priority` therefore turns Luigi's order upside down and squeezes it into the ten
steps by order of magnitude.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from functools import lru_cache

from dagcore.configuration.settings import DEFAULT_QUEUE
from dagcore.plan import Node

__all__ = [
    "HIGHEST_STEP",
    "LOWEST_STEP",
    "MIDDLE_STEP",
    "PRIORITY_STEPS",
    "queue_for",
    "redis_priority",
]

logger = logging.getLogger(__name__)

HIGHEST_STEP = 0
"""The Redis step served first (Luigi priorities of 10,000 and more)."""

LOWEST_STEP = 9
"""The Redis step served last (Luigi priorities of -1,000 and less)."""

MIDDLE_STEP = 5
"""The step of Luigi's default priority 0 (and of messages sent without a priority)."""

PRIORITY_STEPS = tuple(range(HIGHEST_STEP, LOWEST_STEP + 1))
"""Every step, one Redis list each; the ``priority_steps`` broker transport option."""


def _magnitude(value: int) -> int:
    """0 for 0, else the number of decimal digits of ``abs(value)`` (1 for 1..9, 2 for 10..99)."""
    return len(str(abs(value))) if value else 0


def redis_priority(luigi_priority: int) -> int:
    """Map a Luigi priority onto a Redis priority step (0 is served first, 9 last).

    Luigi's priorities are ordinal and in practice spread over orders of magnitude (1, 10, 100,
    ...), so each decimal order of magnitude gets its own step: 0 maps to the middle step 5,
    1..9 to 4, 10..99 to 3, 100..999 to 2, 1,000..9,999 to 1, and 10,000 or more to 0;
    -1..-9 to 6, -10..-99 to 7, -100..-999 to 8, and -1,000 or less to 9. The mapping is
    monotonic (a higher Luigi priority never gets a later step) but not injective: priorities
    of the same sign and order of magnitude share a step, and their messages are then served
    in publication order.

    Args:
        luigi_priority: The task's effective priority (higher runs first, any integer).

    Returns:
        A step between :data:`HIGHEST_STEP` and :data:`LOWEST_STEP`.
    """
    value = int(luigi_priority)
    if value >= 0:
        return max(HIGHEST_STEP, MIDDLE_STEP - _magnitude(value))
    return min(LOWEST_STEP, MIDDLE_STEP + _magnitude(value))


@lru_cache(maxsize=256)
def _warn_unknown_queue(queue: str) -> None:
    # Cached so that a plan of 300,000 nodes of one misrouted family logs one line, not 300,000.
    logger.warning(
        "queue %r is not configured; its tasks go to the %r queue instead. Add a [queues.%s] "
        "table to the configuration, or fix the task's resource class or resources.",
        queue,
        DEFAULT_QUEUE,
        queue,
    )


def queue_for(node: Node, configured: Collection[str]) -> str:
    """Return the queue a node's messages are sent to.

    A node whose queue is not configured would sit in a queue no ``dagcore worker`` consumes,
    so it goes to the default queue and a warning (once per queue name) says why.

    Args:
        node: The planned task.
        configured: Names of the configured queues (``[queues.NAME]``, always with
            ``default``), e.g. ``[q.name for q in settings.queues]``.
    """
    queue = node.queue or DEFAULT_QUEUE
    if queue in configured:
        return queue
    _warn_unknown_queue(queue)
    return DEFAULT_QUEUE
