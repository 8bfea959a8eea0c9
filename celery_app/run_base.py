"""The run as a whole in Redis: scripts, status, cancel, close, events, the reaper's calls.

:class:`RunBase` is the half of :class:`celery_app.joins.RunStore` that does not create runs or
move their tasks: it loads the Lua scripts (``joins.lua`` and ``semaphore.lua``), runs them, and
reads and ends whole runs. A run ends in one script (``close_run`` in ``joins.lua``) that sets
the final status and adds the ``run_finished`` history event, so Redis and history agree.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from redis import Redis
from redis.commands.core import Script
from redis.exceptions import ResponseError

from celery_app.keys import DEFAULT_PREFIX, DEFAULT_TTL_SECONDS, Keys
from celery_app.replies import stream_entries, text, texts
from dagcore.errors import ExecutionError

__all__ = ["SCRIPTS", "SETTLE_SHA", "RunBase", "RunExistsError", "RunStoreError"]


class RunStoreError(ExecutionError):
    """Redis refused an update of a run's bookkeeping (an unknown task or requirement)."""


class RunExistsError(RunStoreError):
    """A run with this id is already in Redis."""


def _load_scripts() -> dict[str, str]:
    """The scripts of ``joins.lua`` and ``semaphore.lua`` by name.

    Each is prefixed with both files' ``common`` sections, joins.lua's first, then with their
    ``shared`` sections (functions that use both files' common ones).
    """
    common, shared, bodies = "", "", {}
    for filename in ("joins.lua", "semaphore.lua"):
        text = resources.files("celery_app").joinpath(filename).read_text(encoding="utf-8")
        parts = re.split(r"^--- script: (\w+)\n", text, flags=re.MULTILINE)
        found = dict(zip(parts[1::2], parts[2::2], strict=True))
        common += found.pop("common")
        shared += found.pop("shared", "")
        bodies.update(found)
    return {name: common + shared + body for name, body in bodies.items()}


SCRIPTS = _load_scripts()
SETTLE_SHA = hashlib.sha1(SCRIPTS["settle"].encode()).hexdigest()  # noqa: S324 (Redis's id)


class RunBase:
    """Scripts and whole-run operations over one Redis client and key prefix."""

    def __init__(
        self,
        redis: Redis[Any],
        prefix: str = DEFAULT_PREFIX,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds}")
        self.redis = redis
        self.keys = Keys(prefix)
        self.ttl_seconds = ttl_seconds
        self._scripts: dict[str, Script] = {
            name: redis.register_script(source) for name, source in SCRIPTS.items()
        }

    # -- the run as a whole ---------------------------------------------------------------------

    def cancel(self, run_id: str, reason: str = "cancelled") -> bool:
        """Stop handing out work for a running run; True if it was running.

        The run is CANCELLED at once, in the meta and (same step) in the history stream;
        a ``cancelled`` event with an empty ``task`` wakes the submitter, which waits for the
        running tasks to end.
        """
        args = [self.keys.prefix, self.ttl_seconds, reason]
        return bool(self._run("cancel", self.keys.run(run_id).all(), args))

    def close(self, run_id: str, reason: str, status: str = "", *, only_idle: bool = False) -> str:
        """Close a RUNNING run: final status in the meta and a ``run_finished`` history event.

        Settles close runs themselves (the one that settles the last active task); this is
        for the rest: a submitter that saw the end, a run with nothing to do.

        Args:
            reason: why, for the history (its summary until a submitter writes one).
            status: the final status ('' to work it out from the run's counts).
            only_idle: close only if no task is ready, running or retrying.

        Returns:
            The final status, or '' if the run was not RUNNING (or not idle).
        """
        args = [self.keys.prefix, self.ttl_seconds, reason, status, "1" if only_idle else "0"]
        return text(self._run("close", self.keys.run(run_id).all(), args))

    def mark_finished(self, run_id: str) -> bool:
        """Close the run if it is still RUNNING (the submitter saw the end)."""
        return bool(self.close(run_id, "ended (closed by its submitter)"))

    def is_cancelled(self, run_id: str) -> bool:
        """True if the run was cancelled."""
        status = self.redis.hget(self.keys.run(run_id).meta, "status")
        return status is not None and text(status) == "CANCELLED"

    def run_status(self, run_id: str) -> dict[str, Any]:
        """Counts and status of a run (O(1) each); ``{}`` if Redis does not know it."""
        keys = self.keys.run(run_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.meta)
        pipe.hlen(keys.nodes)
        pipe.scard(keys.done)
        pipe.scard(keys.failed)
        pipe.llen(keys.outbox)
        meta, total, done, failed, outbox = pipe.execute()
        if not meta:
            return {}
        fields = {text(k): text(v) for k, v in meta.items()}
        return {
            "run_id": run_id,
            "status": fields.get("status", ""),
            "reason": fields.get("reason", ""),
            "created": float(fields.get("created", 0.0)),
            "ended": float(fields["ended"]) if fields.get("ended") else None,
            "active": int(fields.get("active") or 0),
            "roots": json.loads(fields.get("roots", "[]")),
            "total": int(total),
            "done": int(done),
            "failed": int(failed),
            "outbox": int(outbox),
        }

    def node(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The stored node (``Node.to_dict()`` plus ``dependents``), or None."""
        raw = self.redis.hget(self.keys.run(run_id).nodes, task_id)
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        return data

    def nodes(self, run_id: str, task_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Several stored nodes in one round trip, in the order asked (None if unknown)."""
        if not task_ids:
            return []
        raw = self.redis.hmget(self.keys.run(run_id).nodes, list(task_ids))
        return [json.loads(item) if item is not None else None for item in raw]

    def missing_nodes(self, run_id: str, task_ids: Iterable[str]) -> list[str]:
        """The ids among ``task_ids`` that are not nodes of the run (yet)."""
        ids = list(task_ids)
        nodes = self.keys.run(run_id).nodes
        pipe = self.redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hexists(nodes, task_id)
        return [task_id for task_id, there in zip(ids, pipe.execute(), strict=True) if not there]

    def read_events(
        self,
        run_id: str,
        last_id: str = "0",
        block_ms: int | None = None,
        count: int | None = None,
    ) -> list[tuple[str, dict[str, str]]]:
        """Events after ``last_id``, waiting up to ``block_ms`` (None: do not wait) for one.

        Returns:
            ``(entry id, fields)`` pairs, oldest first; pass the last id back to continue.
        """
        stream = self.keys.run(run_id).events
        reply = self.redis.xread({stream: last_id}, count=count, block=block_ms)
        return [
            (text(entry_id), {text(k): text(v) for k, v in fields.items()})
            for entry_id, fields in stream_entries(reply)
        ]

    # -- the reaper's side ----------------------------------------------------------------------

    def reap_claims(self, limit: int = 1000) -> int:
        """Wake the runs parked on claims whose lease ran out; returns how many were woken."""
        args = [self.keys.prefix, self.ttl_seconds, limit]
        return int(self._run("reap_claims", [self.keys.claims], args))

    def reap_semaphores(self, lease_ms: int) -> tuple[int, int]:
        """Free slots whose lease ran out and grant waiters; returns (freed, granted)."""
        args = [self.keys.prefix, lease_ms, self.ttl_seconds]
        freed, granted = self._run("reap_sems", [self.keys.sems], args)
        return int(freed), int(granted)

    def live_runs(self) -> list[str]:
        """Ids of the runs still marked running (``P:runs``)."""
        return sorted(texts(self.redis.smembers(self.keys.runs)))

    def forget_run(self, run_id: str) -> None:
        """Drop a run from ``P:runs`` (its meta is gone or it ended)."""
        self.redis.srem(self.keys.runs, run_id)

    def _run(self, name: str, keys: Sequence[str], args: Sequence[object]) -> Any:
        try:
            return self._scripts[name](keys=keys, args=args)
        except ResponseError as exc:
            text = str(exc)
            if text.startswith(("UNKNOWN_TASK", "UNKNOWN_REQUIREMENT", "BAD_NODE_JSON")):
                raise RunStoreError(
                    f"{name} on run {keys[0]}: {text}; the task is not part of that run "
                    "(was the run created, or has it expired?)"
                ) from exc
            raise
