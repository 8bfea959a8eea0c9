"""The bookkeeping of runs on the Celery executor: chains and chords kept in Redis.

A run lives in a handful of Redis keys (:mod:`celery_app.keys`). The submitter writes them once
with :meth:`RunStore.create_run` (a script call per chunk of nodes); after that, workers move the
run forward with Lua scripts (``joins.lua``) that are atomic, O(degree) and idempotent:

* :meth:`RunStore.finish` records a task done (set membership, so a repeat changes nothing) and
  pushes each dependent whose last requirement this was to the run's *outbox*, exactly once. The
  worker publishes those entries and removes them in one step (:meth:`RunStore.publish_entries`);
  whatever a crash leaves there is published later, and a duplicate message is harmless because
  :meth:`RunStore.claim` answers ``done``.
* :meth:`RunStore.claim` takes a global lease on a task id with a fencing token, so a redelivered
  copy or a second run sharing the task waits (parked in ``P:claimwait:{task}``) instead of running
  it twice; :meth:`RunStore.release` and :meth:`RunStore.finish` hand the task to the waiters.
* :meth:`RunStore.extend` adds requirements a running task yielded, atomically.

Progress goes to a per-run stream (:meth:`RunStore.read_events`) the submitter follows.

The scripts' answers become the values of :mod:`celery_app.replies` (the client may decode
responses or not: every value read back is turned into ``str`` there). Types come from the
``types-redis`` stubs (mypy prefers stub packages over redis-py's own annotations).
The scripts that hand a task to waiting runs write those runs' outboxes, keys they are not
given, so this needs one Redis server (or a primary), not a Redis Cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from celery_app.connection import redis_client
from celery_app.keys import DEFAULT_PREFIX, DEFAULT_TTL_SECONDS, RunKeys
from celery_app.replies import (
    LEASES,
    Claim,
    ClaimStatus,
    Lease,
    OutboxEntry,
    SettleCall,
    Settled,
    text,
    texts,
    woken_entries,
)
from celery_app.run_base import SCRIPTS, SETTLE_SHA, RunBase, RunExistsError, RunStoreError
from celery_app.semaphore import NO_DEMAND, Demand
from dagcore.plan import Node, Plan

__all__ = [
    "WORKER_EVENTS",
    "Claim",
    "ClaimStatus",
    "Lease",
    "OutboxEntry",
    "RunExistsError",
    "RunStore",
    "RunStoreError",
    "SettleCall",
    "Settled",
]

#: Event types a worker writes itself; ``done``, ``failed`` and ``yielded`` come from the
#: scripts, in the same atomic step as the change they report.
WORKER_EVENTS = frozenset({"started", "retry", "skipped", "cancelled", "lease_lost"})

# Nodes per call of the create script: big enough to amortise round trips, small enough that
# one call holds Redis for milliseconds only.
_CHUNK = 2000
# Most P:woken entries one settle takes (and publishes).
_WOKEN_TAKE = 100
# One encoder: json.dumps with arguments builds a new one per call, which shows at 300k nodes.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)


def _node_head(node: Node) -> str:
    """The node JSON without its closing brace; ``dependents`` always goes last (see joins.lua)."""
    return _ENCODER.encode(node.to_dict())[:-1]


def _node_json(
    node: Node, dependents: Sequence[str], values: Mapping[str, Any] | None = None
) -> str:
    data = node.to_dict()
    if values:
        data["values"] = dict(values)  # parameter values that travel as themselves
    data["dependents"] = dependents  # inserted last, so it is the last key of the JSON
    return _ENCODER.encode(data)


def _dependents(plan: Plan) -> dict[str, list[str]]:
    """Who requires whom, checking that every requirement is a node of the plan."""
    out: dict[str, list[str]] = {task_id: [] for task_id in plan.nodes}
    for task_id, node in plan.nodes.items():
        for dep in dict.fromkeys(node.deps):
            if dep not in out:
                raise RunStoreError(
                    f"task {task_id} requires {dep}, which is not in the plan; "
                    "resolve the plan again (dagcore.graph) before submitting it"
                )
            out[dep].append(task_id)
    return out


class RunStore(RunBase):
    """Typed access to the Redis bookkeeping of runs (key schema: :mod:`celery_app.keys`).

    Creating runs, moving them forward and claims are here; the run as a whole (cancel, close,
    status, events) and the reaper's calls come from :class:`celery_app.run_base.RunBase`.

    Parameters:
        redis: a client of the broker's Redis (decoding responses or not).
        prefix: the key prefix (``[celery] key_prefix``).
        ttl_seconds: how long a run's keys live after its last write.
    """

    @classmethod
    def from_url(
        cls, url: str, prefix: str = DEFAULT_PREFIX, ttl_seconds: int = DEFAULT_TTL_SECONDS
    ) -> RunStore:
        """A store on a new client for ``url`` (``redis://host:port/db``)."""
        return cls(redis_client(url), prefix, ttl_seconds)

    # -- creating a run -------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        plan: Plan,
        roots: Sequence[str] | None = None,
        capacities: Mapping[str, int] | None = None,
        codes: Mapping[str, int] | None = None,
        values: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """Write a run and push its initially ready tasks to the outbox.

        Complete nodes go to the done set, the others get their count of requirements not done;
        incomplete, non-external nodes with nothing to wait for are ready. The nodes go in
        chunks (one script call each) and the run's meta, which makes it live for workers, last.
        ``capacities`` are the run's resource capacities, read by the semaphores; ``codes``
        the ``[retcode]`` exit codes (``missing_data``, ``task_failed``, ``not_run``) that the
        history gets when the fleet closes the run. The meta counts the tasks ready, running
        or retrying (``active``): the settle that takes it to 0 closes the run; a run with
        nothing ready is closed here and now. ``values``: per task id, parameter values that
        travel as themselves (:mod:`celery_app.identity`), stored with the node.

        Returns:
            The ready task ids (also in the outbox until acknowledged).

        Raises:
            RunExistsError: ``run_id`` is already in Redis.
            RunStoreError: a node requires a task that is not in the plan.
        """
        keys = self.keys.run(run_id)
        if self.redis.exists(keys.meta):
            raise RunExistsError(
                f"run {run_id} already exists in Redis ({keys.meta}); submit it under a new id"
            )
        dependents = _dependents(plan)
        # Leftovers of a creation that died half-way must not mix with this one.
        self.redis.delete(*keys.all())
        ready: list[str] = []
        nodes = list(plan.nodes.values())
        missing = sum(1 for node in nodes if node.external and not node.complete)
        for start in range(0, len(nodes), _CHUNK):
            chunk = nodes[start : start + _CHUNK]
            ready.extend(self._write_chunk(keys, plan, chunk, dependents, values or {}))
        seconds, micros = self.redis.time()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            keys.meta,
            mapping={
                "status": "RUNNING",
                "created": f"{seconds}.{micros:06d}",
                "total": len(nodes),
                "roots": json.dumps(list(plan.roots if roots is None else roots)),
                "capacities": json.dumps(dict(capacities or {})),
                "active": len(ready),
                "missing": missing,
                "codes": json.dumps(dict(codes or {})),
            },
        )
        pipe.sadd(self.keys.runs, run_id)
        pipe.expire(self.keys.runs, self.ttl_seconds)
        for start in range(0, len(ready), _CHUNK):
            pipe.rpush(keys.outbox, *ready[start : start + _CHUNK])
        for key in keys.all():
            pipe.expire(key, self.ttl_seconds)
        pipe.execute()
        if not ready:
            self.close(run_id, "ended at submission: no task was ready to run", only_idle=True)
        return ready

    def _write_chunk(
        self,
        keys: RunKeys,
        plan: Plan,
        chunk: Sequence[Node],
        dependents: Mapping[str, list[str]],
        values: Mapping[str, Mapping[str, Any]],
    ) -> list[str]:
        encoded: list[str] = []
        waiting: list[str] = []
        done: list[str] = []
        ready: list[str] = []
        for node in chunk:
            task_id = node.task_id
            if not task_id or "\n" in task_id:
                raise RunStoreError(f"task id {task_id!r} is empty or has a line break")
            encoded += (task_id, _node_json(node, dependents[task_id], values.get(task_id)))
            if node.complete:
                done.append(task_id)
            elif not node.external:  # external tasks never run (as in RunState)
                left = sum(1 for dep in dict.fromkeys(node.deps) if not plan.nodes[dep].complete)
                waiting += (task_id, str(left))
                if left == 0:
                    ready.append(task_id)
        args = [self.ttl_seconds, "\n".join(encoded), "\n".join(waiting), "\n".join(done)]
        self._run("create", keys.all(), args)
        return ready

    # -- moving a run forward -------------------------------------------------------------------

    def finish(self, run_id: str, task_id: str) -> list[str]:
        """Record ``task_id`` done; return the dependents this made ready (pushed to the outbox).

        The first call decrements each dependent's count and adds a ``done`` event; a repeat
        (redelivery, a second worker) returns ``[]`` and changes nothing. Either way the runs
        parked on the task's claim get it back in their outboxes.
        """
        keys = self.keys.run(run_id)
        reply = self._run(
            "finish",
            [*keys.all(), self.keys.claimwait(task_id)],
            [task_id, self.keys.prefix, self.ttl_seconds],
        )
        return texts(reply)[::2]  # the script returns id, node JSON, id, node JSON, ...

    def fail(
        self, run_id: str, task_id: str, error_type: str, error_message: str, attempt: int
    ) -> bool:
        """Record that ``task_id`` failed for good; True the first time (a ``failed`` event)."""
        keys = self.keys.run(run_id)
        args = [task_id, error_type, error_message, str(attempt), self.ttl_seconds]
        return bool(self._run("fail", keys.all(), [*args, self.keys.prefix]))

    def event(self, run_id: str, event_type: str, task_id: str, **fields: object) -> str:
        """Add a worker event (started, retry, skipped, cancelled) to the run's stream.

        Returns:
            The stream entry id.
        """
        if event_type not in WORKER_EVENTS:
            raise ValueError(
                f"event type {event_type!r} for task {task_id} is not one a worker writes "
                f"({', '.join(sorted(WORKER_EVENTS))}); done, failed and yielded events come "
                "from finish(), fail() and extend()"
            )
        flat: list[object] = ["type", event_type, "task", task_id]
        for name, value in fields.items():
            flat.extend((name, str(value)))
        return text(self._run("event", self.keys.run(run_id).all(), [self.ttl_seconds, *flat]))

    def started(
        self,
        run_id: str,
        task_id: str,
        attempt: int,
        celery_id: str = "",
        history: Sequence[str] = (),
    ) -> None:
        """Record the start of an attempt in one round trip: the ``started`` run event and
        ``history`` (events as JSON) for the history stream."""
        keys = [*self.keys.run(run_id).all(), self.keys.history]
        args = [task_id, attempt, celery_id, self.ttl_seconds, "\n".join(history)]
        self._run("started", keys, args)

    def extend(
        self, run_id: str, parent_id: str, nodes: Sequence[Node], direct: Sequence[str]
    ) -> list[str]:
        """Add the requirements ``parent_id`` yielded; it runs again once they are done.

        Nodes already in the run are left as they are (pending, running or done); the new ones
        join with their counts, and every requirement learns its new dependents. The parent then
        waits for the ``direct`` requirements not done yet. A ``yielded`` event lists the new
        node ids (``new``) and the direct requirements (``direct``), both as JSON lists.

        Returns:
            The ids pushed to the outbox: new nodes with nothing to wait for, and the parent if
            every direct requirement is done already. ``[]`` if the parent is done already (a
            stale copy).

        Raises:
            RunStoreError: the parent is not in the run, or a requirement is in neither the run
                nor ``nodes``; nothing was written.
        """
        fragment = {
            "nodes": [
                {
                    "id": node.task_id,
                    "deps": list(node.deps),
                    "head": _node_head(node),
                    "complete": node.complete,
                    "external": node.external,
                }
                for node in nodes
            ],
            "direct": list(direct),
        }
        payload = _ENCODER.encode(fragment)
        reply = self._run(
            "extend",
            self.keys.run(run_id).all(),
            [parent_id, self.ttl_seconds, payload, self.keys.prefix],
        )
        return texts(reply)

    def pending_outbox(self, run_id: str) -> list[str]:
        """The ready task ids not acknowledged as published yet, oldest first."""
        return texts(self.redis.lrange(self.keys.run(run_id).outbox, 0, -1))

    def ack_outbox(self, run_id: str, task_ids: Iterable[str]) -> None:
        """Remove one outbox entry per id given (once they are published)."""
        self.ack_entries(OutboxEntry(run_id, task_id) for task_id in task_ids)

    def publish_entries(
        self, messages: Sequence[tuple[str, str]], entries: Iterable[OutboxEntry]
    ) -> None:
        """Push task messages (broker list, message) and remove ``entries`` from their
        outboxes, atomically (one ``MULTI``): nothing is published twice or lost between."""
        pipe = self.redis.pipeline(transaction=True)
        for key, message in messages:
            pipe.lpush(key, message)
        for entry in entries:
            pipe.lrem(self.keys.run(entry.run_id).outbox, 1, entry.task_id)
        if len(pipe):
            pipe.execute()

    def ack_entries(self, entries: Iterable[OutboxEntry]) -> None:
        """Remove one outbox entry per entry given, across runs, without publishing."""
        self.publish_entries((), entries)

    # -- claims ---------------------------------------------------------------------------------

    def claim(
        self,
        run_id: str,
        task_id: str,
        lease_ms: int,
        *,
        demand: Demand = NO_DEMAND,
        priority: int = 0,
        max_starts: int = 0,
        celery_id: str = "",
        started: Sequence[str] = (),
    ) -> Claim:
        """Try to take the global claim of ``task_id`` for ``run_id``, and its slots.

        With ``started`` (history events of attempt 1, as JSON, for the history stream), a
        claim that is the first ever of the task id and its first attempt in the run also
        records the start: a ``started`` run event (with ``celery_id``) and those events, and
        says so in :attr:`Claim.started`. Nobody can have run such a task since the caller
        found it incomplete, so the caller need not check again.

        Args:
            run_id: the run the message belongs to.
            task_id: the task to claim.
            lease_ms: lifetime of the claim and the slots unless renewed.
            demand: the semaphore slots the task needs (:func:`celery_app.semaphore.demand_of`).
            priority: the task's place in line if it has to wait for a slot.
            max_starts: answer ``lost`` once the task was started this many times without
                settling (0: no cap).
            celery_id: the message's Celery id, for the ``started`` event.
            started: the history events to record with a first start.
        """
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, not {lease_ms} (task {task_id})")
        keys = [
            *self.keys.run(run_id).all(),
            self.keys.claim(task_id),
            self.keys.fence(task_id),
            self.keys.claimwait(task_id),
            self.keys.claims,
            self.keys.starts(task_id),
            self.keys.attempts(run_id),
            self.keys.history,
        ]
        args = [
            run_id,
            task_id,
            lease_ms,
            self.ttl_seconds,
            self.keys.prefix,
            max_starts,
            demand.encoded(),
            priority,
            celery_id,
            "\n".join(started),
        ]
        reply = texts(self._run("claim", keys, args))
        status = reply[0]
        if status == "ok":
            return Claim("ok", token=int(reply[1]), attempt=int(reply[2]), started=reply[3] == "1")
        if status == "busy":
            return Claim("busy", holder=reply[1].rpartition("|")[0])
        if status == "lost":
            return Claim("lost", starts=int(reply[1]))
        if status == "done":
            return Claim("done")
        if status == "queued":
            return Claim("queued")
        return Claim("cancelled")

    def renew(
        self,
        task_id: str,
        token: int,
        lease_ms: int,
        *,
        run_id: str = "",
        demand: Demand = NO_DEMAND,
    ) -> Lease:
        """Extend the claim and the slots held with ``token``; says what is still held."""
        keys = [self.keys.claim(task_id), self.keys.claims]
        args = [
            str(token),
            lease_ms,
            self.keys.prefix,
            task_id,
            f"{run_id}|{task_id}",
            demand.names(),
            self.ttl_seconds,
        ]
        return LEASES[int(self._run("renew", keys, args))]

    def release(
        self,
        task_id: str,
        token: int,
        *,
        run_id: str = "",
        demand: Demand = NO_DEMAND,
        lease_ms: int = 60_000,
    ) -> bool:
        """Give up the claim held with ``token`` and its slots; hand both to whoever waits.

        Slots go to the parked tasks (under a ``lease_ms`` lease), the task to the runs parked
        on its claim; both through their runs' outboxes and ``P:woken``.

        Returns:
            False (and nothing changes) if ``token`` does not hold the claim (a stale holder).
        """
        keys = [
            self.keys.claim(task_id),
            self.keys.claimwait(task_id),
            self.keys.claims,
            self.keys.starts(task_id),
        ]
        args = [
            str(token),
            self.keys.prefix,
            task_id,
            self.ttl_seconds,
            f"{run_id}|{task_id}",
            demand.names(),
            lease_ms,
            "0",
        ]
        return bool(self._run("release", keys, args))

    def settle(self, run_id: str, task_id: str, token: int, **options: Any) -> Settled:
        """End an attempt in one round trip: finish (if ``done``), release, take what to publish.

        One script: ``finish``, ``release`` and a take from ``P:woken``; ``options`` are those of
        :meth:`settle_call`. The caller publishes ``Settled.publish`` and removes it from the
        outboxes (:meth:`publish_entries`): the dependents ``finish`` made ready (with their
        nodes), the tasks releases handed to waiting runs, and with ``requeue`` (an interrupted
        attempt) the task itself, put back in the outbox first.
        """
        return self.run_settle(self.settle_call(run_id, task_id, token, **options))

    def run_settle(self, call: SettleCall) -> Settled:
        """Run a settle call (:meth:`settle_call`) and read its answer."""
        return call.settled(self._run("settle", call.keys, call.args))

    def settle_call(
        self,
        run_id: str,
        task_id: str,
        token: int,
        *,
        done: bool,
        requeue: bool = False,
        demand: Demand = NO_DEMAND,
        lease_ms: int = 60_000,
        history: Sequence[str] = (),
    ) -> SettleCall:
        """The settle script call of :meth:`settle`, for a caller that sends it itself.

        Args:
            done: the attempt succeeded (or found the task complete): ``finish`` it.
            requeue: the attempt was interrupted: put the task back in the outbox, keeping
                its start counted.
            demand: the slots to release.
            lease_ms: the lease of slots handed to the next waiters.
            history: events (as JSON) for the history stream, in the same step.
        """
        keys = [
            *self.keys.run(run_id).all(),
            self.keys.claimwait(task_id),
            self.keys.claim(task_id),
            self.keys.claims,
            self.keys.starts(task_id),
            self.keys.history,
            self.keys.woken,
        ]
        args: list[object] = [
            task_id,
            self.keys.prefix,
            self.ttl_seconds,
            str(token),
            f"{run_id}|{task_id}",
            demand.names(),
            lease_ms,
            "1" if done else "0",
            "1" if requeue else "0",
            "\n".join(history),
            _WOKEN_TAKE,
        ]
        return SettleCall(SCRIPTS["settle"], SETTLE_SHA, keys, args, run_id, task_id, requeue)

    def take_woken(self, limit: int = 100) -> list[OutboxEntry]:
        """Tasks releases put back in runs' outboxes (``P:woken``); the caller publishes them.

        Each entry is handed to one caller (LPOP), so it is published promptly by the worker
        that took it; a crash in between is repaired by the reaper's outbox sweep.
        """
        return woken_entries(self.redis.lpop(self.keys.woken, limit))
