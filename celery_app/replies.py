"""What the run store's scripts answer, as Python values (see :mod:`celery_app.joins`).

Claims, settles, outbox entries and the stream replies, and the conversions from Redis
replies: the client may decode responses or not, so every value read back is turned into
``str`` here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

__all__ = [
    "Claim",
    "ClaimStatus",
    "LEASES",
    "Lease",
    "OutboxEntry",
    "SettleCall",
    "Settled",
    "stream_entries",
    "text",
    "texts",
    "woken_entries",
]

ClaimStatus = Literal["ok", "done", "cancelled", "busy", "queued", "lost"]


class OutboxEntry(NamedTuple):
    """A ready task in a run's outbox, to publish and then acknowledge.

    ``node`` is the stored node when the script that made the task ready returned it, else
    None (the publisher reads it).
    """

    run_id: str
    task_id: str
    node: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Settled:
    """What a settle did: the dependents it made ready, and what to publish.

    ``publish`` holds exactly the outbox entries this settle (and the releases it took from
    ``P:woken``) created, so concurrent workers never publish each other's entries.
    """

    ready: list[str]
    publish: list[OutboxEntry]


@dataclass(frozen=True)
class SettleCall:
    """One call of the settle script, and how to read its reply.

    Built by :meth:`celery_app.joins.RunStore.settle_call`.
    """

    source: str
    sha: str
    keys: list[str]
    args: list[object]
    run_id: str
    task_id: str
    requeue: bool

    def settled(self, reply: Any) -> Settled:
        """What the script's reply says was made ready and is to be published."""
        finished, woken = reply
        flat = texts(finished)
        publish = [OutboxEntry(self.run_id, self.task_id)] if self.requeue else []
        publish += [
            OutboxEntry(self.run_id, task, json.loads(node))
            for task, node in zip(flat[::2], flat[1::2], strict=True)
        ]
        publish += woken_entries(woken)
        return Settled(flat[::2], publish)


Lease = Literal["lost", "held", "slot_lost"]
"""What a renewal found: the claim is gone, everything is held, or a slot's lease ran out."""
LEASES: tuple[Lease, ...] = ("lost", "held", "slot_lost")


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to :meth:`celery_app.joins.RunStore.claim`.

    Attributes:
        status: ``ok`` (run it, holding ``token``), ``done`` (finished in this run already),
            ``cancelled`` (the run takes no more work: cancelled, finished or gone), ``busy``
            (another run or copy holds it; this run is parked and gets the task back through its
            outbox when the holder lets go), ``queued`` (a semaphore is full; the task waits in
            line and comes back through the outbox with its slots) or ``lost`` (started
            ``starts`` times without ever settling: it kills its worker; the count is reset).
        token: the fencing token of an ``ok`` claim, to renew and release it.
        started: an ``ok`` claim recorded the start itself (the ``started`` event and the
            history events given to :meth:`celery_app.joins.RunStore.claim`).
        holder: the run id holding a ``busy`` claim.
        starts: the unsettled starts of a ``lost`` task.
        attempt: the number of an ``ok`` claim's attempt in the run (1, 2, ...): retries,
            redeliveries after a lost worker and interrupted attempts each count.
    """

    status: ClaimStatus
    token: int | None = None
    holder: str | None = None
    starts: int = 0
    attempt: int = 0
    started: bool = False

    @property
    def ok(self) -> bool:
        """True if the caller holds the claim and should run the task."""
        return self.status == "ok"


def text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def texts(values: Iterable[str | bytes] | None) -> list[str]:
    return [text(v) for v in values or ()]


def woken_entries(reply: Any) -> list[OutboxEntry]:
    """``rid|task`` entries of ``P:woken`` (run ids never contain ``|``), without repeats."""
    pairs = dict.fromkeys(tuple(text(item).split("|", 1)) for item in reply or ())
    return [OutboxEntry(pair[0], pair[1]) for pair in pairs if len(pair) == 2]


def stream_entries(reply: Any) -> list[Any]:
    """The entries of a one-stream XREAD reply, whatever the protocol (RESP2 or RESP3)."""
    if not reply:
        return []
    if not isinstance(reply, dict):
        return list(reply[0][1])  # RESP2: [[stream, entries]]
    (entries,) = reply.values()
    # RESP3 parsing in some redis-py versions wraps the entry list in one more list.
    if entries and isinstance(entries[0], list) and isinstance(entries[0][0], list | tuple):
        entries = entries[0]
    return list(entries)
