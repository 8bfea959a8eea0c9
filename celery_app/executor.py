"""The Celery executor: submit a plan to the broker and follow it to the end.

``dagcore.build(tasks, executor="celery")`` and ``dagcore run --executor celery`` land here
(through the ``dagcore.executors`` entry point). The submitter writes the plan's bookkeeping to
Redis, publishes the tasks that are ready, and then waits on the run's event stream — blocking
reads, no polling — mirroring the run in a :class:`~dagcore.plan.RunState` until nothing can
progress. Workers publish the tasks that become ready; the submitter never does per-task work.
With ``detach=True`` it returns right after submitting.

The run closes itself in Redis and in history whoever is watching (:mod:`celery_app.joins`), so
the submitter may go away: Ctrl-C cancels the run (no new task starts; a second Ctrl-C also
terminates the running ones) and returns a cancelled result (Luigi's ``not_run`` exit code);
``--detach`` leaves the run going. A submission refused before anything reached the broker is
recorded in history as NOT_RUN with the reason.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from celery_app.app import make_app
from celery_app.connection import redact, redis_client
from celery_app.history_stream import StreamHistoryWriter
from celery_app.identity import travelling_values
from celery_app.joins import OutboxEntry, RunStore
from celery_app.notices import QueueWatch, broker_description, say
from celery_app.publish import publish
from dagcore.configuration.settings import Settings
from dagcore.errors import DagcoreError, ExecutionError
from dagcore.executor.base import RunContext, RunResult
from dagcore.executor.runner import Outcome, OutcomeStatus
from dagcore.executor.slots import check_capacities
from dagcore.graph import RoutingRules
from dagcore.history.events import RunFinished, RunStatus, utcnow
from dagcore.history.store import SqlHistoryStore
from dagcore.plan import Node, Plan, RetryPolicy, RunState, TaskState

__all__ = ["CeleryExecutor", "RunMirror"]

logger = logging.getLogger("dagcore.celery")

_BLOCK_MS = 1000
# A read that returned fewer events than this waits _GATHER_SECONDS before the next one, unless
# as few tasks are left: the end of a run is seen at once.
_BATCH_EVENTS = 100
_GATHER_SECONDS = 0.05
# The submitter's history writer backs up the workers' (celery_app.upkeep), which do most of
# the work: it lingers a second for big batches, and catches up at the end of the run. Its
# reads block briefly, so that stopping it then waits little.
_WRITER_LINGER = 1.0
_WRITER_BLOCK_MS = 100


@dataclass
class RunMirror:
    """The submitter's view of a run, rebuilt from the run's event stream.

    ``remaining`` counts tasks that can still change state, so finishing is O(1) to detect.
    """

    plan: Plan
    state: RunState
    attempts: dict[str, list[Outcome]] = field(default_factory=dict)
    remaining: int = 0
    cancelled: bool = False
    closed: bool = False
    celery_ids: dict[str, str] = field(default_factory=dict)
    last_event: str = "0"

    @classmethod
    def of(cls, plan: Plan) -> RunMirror:
        """A mirror at the start of the run."""
        state = RunState(plan)
        state.ready()
        remaining = sum(1 for s in state.state.values() if not s.finished)
        return cls(plan, state, remaining=remaining)

    @property
    def running(self) -> int:
        """Tasks started and not finished (by the events seen so far)."""
        return sum(1 for s in self.state.state.values() if s is TaskState.RUNNING)

    def finished(self) -> bool:
        """True when no task can make progress any more."""
        if self.remaining <= 0 or self.closed:
            return True
        return self.cancelled and self.running == 0

    def apply(self, event: dict[str, str], fetch: Any) -> None:
        """Apply one run event (see CELERY.md); ``fetch(ids)`` returns node dicts by id."""
        kind, task_id = event.get("type", ""), event.get("task", "")
        if kind == "cancelled":  # a run-level event (empty task), written by RunStore.cancel
            self.cancelled = True
            return
        if kind == "closed":  # the run ended (RunStore.close): nothing more will happen
            self.closed = True
            return
        if task_id not in self.state.state:
            return
        if kind == "started":
            self._to(task_id, TaskState.RUNNING)
            if event.get("celery_id"):
                self.celery_ids[task_id] = event["celery_id"]
        elif kind in ("done", "skipped"):
            self._done(task_id, kind)
        elif kind == "retry":
            self._attempt(task_id, OutcomeStatus.FAILED, event)
            if self.state.state[task_id] is TaskState.RUNNING:
                self.state.state[task_id] = TaskState.READY
        elif kind == "failed":
            self._attempt(task_id, OutcomeStatus.FAILED, event)
            if not self.state.state[task_id].finished:
                blocked = self.state.failed(task_id)
                self.remaining -= 1 + len(blocked)
        elif kind == "yielded":
            self._yielded(task_id, event, fetch)

    def _to(self, task_id: str, state: TaskState) -> None:
        current = self.state.state[task_id]
        if not current.finished:
            self.state.state[task_id] = state

    def _done(self, task_id: str, kind: str) -> None:
        if self.state.state[task_id] is TaskState.DONE:
            return
        if kind == "done":
            self._attempt(task_id, OutcomeStatus.SUCCESS, {})
        was_finished = self.state.state[task_id].finished
        self.state.done(task_id)
        if not was_finished:
            self.remaining -= 1

    def _attempt(self, task_id: str, status: OutcomeStatus, event: dict[str, str]) -> None:
        now = time.time()
        self.attempts.setdefault(task_id, []).append(
            Outcome(
                status,
                now,
                now,
                error_type=event.get("error_type") or None,
                error_message=event.get("error_message") or None,
            )
        )

    def _yielded(self, task_id: str, event: dict[str, str], fetch: Any) -> None:
        self._attempt(task_id, OutcomeStatus.YIELDED, {})
        direct = [str(t) for t in json.loads(event.get("direct") or "[]")]
        known = self.state.state
        # The new requirements and everything they need, as the worker planned them.
        frontier, nodes = list(direct), []
        seen: set[str] = set()
        while frontier:
            batch = [t for t in frontier if t not in known and t not in seen]
            seen.update(batch)
            fetched = [n for n in fetch(batch) if n is not None] if batch else []
            nodes.extend(fetched)
            frontier = [dep for n in fetched for dep in n.deps]
        if self.state.state[task_id] is not TaskState.RUNNING:
            self.state.state[task_id] = TaskState.RUNNING
        new_ids = [n.task_id for n in nodes if n.task_id not in self.state.state]
        self.state.requeue(task_id, nodes, direct)
        self.remaining += sum(1 for t in new_ids if not self.state.state[t].finished)
        if self.state.state[task_id].finished:  # a yielded requirement had already failed
            self.remaining -= 1


def _node_from_dict(data: dict[str, Any]) -> Node:
    retry = data.get("retry") or {}
    return Node(
        task_id=data["task_id"],
        family=data["family"],
        module=data["module"],
        params=dict(data["params"]),
        deps=list(data.get("deps") or []),
        queue=data.get("queue") or "default",
        priority=int(data.get("priority") or 0),
        resources=dict(data.get("resources") or {}),
        max_running=data.get("max_running"),
        retry=RetryPolicy(
            int(retry.get("count", 0)),
            float(retry.get("delay", 0.0)),
            float(retry.get("backoff", 1.0)),
        ),
        timeout=data.get("timeout"),
        complete=bool(data.get("complete")),
        external=bool(data.get("external")),
        label=data.get("label") or "",
    )


class CeleryExecutor:
    """Runs a plan on Celery workers over Redis.

    Parameters:
        workers: a hint only (the fleet's size is the workers').
        settings: dagcore settings (broker, key prefix, queues).
        detach: return right after submitting.
        rules: accepted for symmetry with the local executor.
    """

    name = "celery"

    def __init__(
        self,
        workers: int = 1,
        settings: Settings | None = None,
        detach: bool = False,
        rules: RoutingRules | None = None,
        **_ignored: Any,
    ) -> None:
        self.settings = settings or Settings.from_config()
        self.detach = detach
        self.workers = workers

    def _client(self) -> redis.Redis[Any]:
        return redis_client(
            self.settings,
            client_name="dagcore-submitter",
            health_check_interval=10,
            socket_keepalive=True,
        )

    def execute(self, plan: Plan, context: RunContext) -> RunResult:
        """Submit ``plan`` and wait for it (unless detached)."""
        client = self._client()  # connects on first use
        store = RunStore(client, self.settings.celery.key_prefix)
        try:
            values = travelling_values(plan)
            # A task needing more of a resource than exists would wait in line forever.
            check_capacities(plan, context.resources)
            app = make_app(self.settings)
            ready = self._submit(store, app, plan, context, values)
        except KeyboardInterrupt:
            return self._interrupted_submission(store, plan, context)
        except (DagcoreError, redis.RedisError) as exc:
            self._not_run(context, exc)
            if isinstance(exc, redis.RedisError):
                raise self._broker_error(exc, "submit the run") from exc
            raise
        mirror = RunMirror.of(plan)
        result = RunResult(context.run_id, plan, mirror.state, mirror.attempts)
        queues = {plan.nodes[t].queue for t in plan.to_run()}
        modules = {plan.nodes[t].module for t in plan.to_run()}
        if self.detach:
            say(
                f"run {context.run_id} submitted to {broker_description(self.settings)}: "
                f"{len(plan.to_run())} tasks on queue(s) {', '.join(sorted(queues))}; it "
                f"closes itself when done. Follow it with: dagcore status {context.run_id}"
            )
            watch = QueueWatch(client, self.settings.celery.key_prefix, modules)
            watch.check(lambda: queues, force=True)
            if watch.suspect:
                time.sleep(watch.interval)  # a second look before saying no worker is there
                watch.check(lambda: queues, force=True)
            result.finished = None
            client.close()
            return result
        say(
            f"run {context.run_id} submitted to {broker_description(self.settings)}: "
            f"{len(ready)} of {len(plan.to_run())} tasks ready, on queue(s) "
            f"{', '.join(sorted(queues))}; waiting for workers (Ctrl-C cancels the run, "
            "--detach leaves it running)"
        )
        if context.on_progress is not None:
            context.on_progress(mirror.state)
        watch = QueueWatch(client, self.settings.celery.key_prefix, modules)
        history = SqlHistoryStore.from_url(self.settings.history.url)
        writer = StreamHistoryWriter(
            client,
            history,
            self.settings.celery.key_prefix,
            block_ms=_WRITER_BLOCK_MS,
            linger=_WRITER_LINGER,
        )
        thread = writer.start_thread()
        try:
            self._follow_interruptible(store, app, context, mirror, watch)
        finally:
            # Store the run's last history rows before returning (workers' writers would
            # otherwise pick them up later).
            thread.stop(drain=10)
            history.close()
            client.close()
        result.finished = time.time()
        result.cancelled = mirror.cancelled
        return result

    def _submit(
        self,
        store: RunStore,
        app: Any,
        plan: Plan,
        context: RunContext,
        values: dict[str, dict[str, Any]],
    ) -> list[str]:
        """Write the run to Redis and publish its ready tasks; returns their ids.

        ``values``: parameter values that travel as themselves (:mod:`celery_app.identity`).
        """
        codes = self.settings.retcode
        ready = store.create_run(
            context.run_id,
            plan,
            plan.roots,
            capacities=context.resources,
            codes={
                "missing_data": codes.missing_data,
                "task_failed": codes.task_failed,
                "not_run": codes.not_run,
            },
            values=values,
        )
        entries = []
        for task_id in ready:
            node = plan.nodes[task_id].to_dict()
            if task_id in values:
                node["values"] = values[task_id]
            entries.append(OutboxEntry(context.run_id, task_id, node))
        publish(app, store, entries)
        return ready

    def _interrupted_submission(
        self, store: RunStore, plan: Plan, context: RunContext
    ) -> RunResult:
        """Ctrl-C while submitting: cancel what reached Redis; a cancelled result."""
        try:
            submitted = store.cancel(context.run_id, "cancelled: Ctrl-C during submission")
        except redis.RedisError:
            submitted = False
        if not submitted:
            self._not_run(context, KeyboardInterrupt("interrupted (Ctrl-C) while submitting"))
        say(f"run {context.run_id} cancelled while it was being submitted")
        state = RunState(plan)
        state.cancel_pending()
        result = RunResult(context.run_id, plan, state, {}, cancelled=True)
        result.finished = time.time()
        return result

    def _not_run(self, context: RunContext, exc: BaseException) -> None:
        """Record in history that the run never reached the broker, and why."""
        reason = str(exc)
        if isinstance(exc, redis.RedisError):
            reason = str(self._broker_error(exc, "submit the run"))
        context.history.emit(
            RunFinished(
                run_id=context.run_id,
                finished_at=utcnow(),
                status=RunStatus.NOT_RUN,
                exit_code=self.settings.retcode.not_run,
                summary_text=f"not submitted: {reason}",
            )
        )

    def _broker_error(self, exc: redis.RedisError, doing: str) -> ExecutionError:
        url = redact(self.settings.celery.broker_url)
        if isinstance(exc, redis.AuthenticationError):
            hint = "check the user and password in the URL (percent-encode '@', ':' and '/')"
        else:
            hint = (
                "start Redis there, or point DAGCORE_BROKER_URL / [celery] broker_url at "
                "your broker"
            )
        return ExecutionError(f"cannot {doing}: broker {url}: {exc}; {hint}")

    def _follow_interruptible(
        self,
        store: RunStore,
        app: Any,
        context: RunContext,
        mirror: RunMirror,
        watch: QueueWatch,
    ) -> None:
        """Follow the run; Ctrl-C cancels it, a second Ctrl-C terminates running tasks."""
        try:
            self._follow(store, context, mirror, watch)
            return
        except KeyboardInterrupt:
            self._cancel(store, context, mirror)
        try:
            self._follow(store, context, mirror, watch)
        except KeyboardInterrupt:
            ids = [
                mirror.celery_ids[t]
                for t, s in mirror.state.state.items()
                if s is TaskState.RUNNING and t in mirror.celery_ids
            ]
            if ids:
                try:
                    app.control.revoke(ids, terminate=True, signal="SIGTERM")
                except Exception as exc:  # the broker may be what is gone
                    say(f"could not terminate the running tasks: {exc}")
            say(
                f"run {context.run_id}: {len(ids)} running task(s) terminated; "
                f"dagcore status {context.run_id} shows what is left"
            )
            mirror.cancelled = True
            mirror.state.cancel_pending()

    def _cancel(self, store: RunStore, context: RunContext, mirror: RunMirror) -> None:
        run_id = context.run_id
        try:
            store.cancel(run_id, "cancelled: Ctrl-C on the submitter")
        except redis.RedisError as exc:
            say(
                f"run {run_id}: interrupted, but the broker cannot be reached to cancel it "
                f"({exc}); it goes on when the broker is back: dagcore cancel {run_id}"
            )
            mirror.cancelled = True
            mirror.closed = True
            return
        mirror.cancelled = True
        say(
            f"run {run_id} cancelled: no new task starts; waiting for {mirror.running} running "
            "task(s) to end (Ctrl-C again terminates them)"
        )

    def _follow(
        self, store: RunStore, context: RunContext, mirror: RunMirror, watch: QueueWatch
    ) -> None:
        last = mirror.last_event
        backoff = 0.1
        lost = False

        def fetch(ids: Iterable[str]) -> list[Node | None]:
            return [
                _node_from_dict(data) if data is not None else None
                for data in store.nodes(context.run_id, list(ids))
            ]

        watch.check(lambda: self._waiting_queues(mirror), force=True)
        while not mirror.finished():
            try:
                events = store.read_events(context.run_id, last, block_ms=_BLOCK_MS)
                backoff = 0.1
                if lost:
                    say(f"run {context.run_id}: the broker answers again")
                    lost = False
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # The submitter's connection dropped: reconnect and resume after the last event.
                if not lost:
                    say(
                        f"run {context.run_id}: lost the broker "
                        f"{redact(self.settings.celery.broker_url)} ({exc}); reconnecting "
                        "(the workers go on; Ctrl-C leaves the run to them)"
                    )
                    lost = True
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            for event_id, fields in events:
                last = event_id
                mirror.apply(fields, fetch)
            mirror.last_event = last
            if events and context.on_progress is not None:
                context.on_progress(mirror.state)
            if not mirror.cancelled:
                watch.check(lambda: self._waiting_queues(mirror))
            if 0 < len(events) < _BATCH_EVENTS < mirror.remaining:
                # Events trickle in a few at a time: let some gather rather than make a round
                # trip (and wake this process) for each.
                time.sleep(_GATHER_SECONDS)
        if mirror.cancelled:
            mirror.state.cancel_pending()
        # Settles close the run; this closes one whose end the scripts did not see.
        try:
            store.mark_finished(context.run_id)
        except redis.RedisError as exc:
            logger.info("could not close run %s in Redis: %s", context.run_id, exc)

    @staticmethod
    def _waiting_queues(mirror: RunMirror) -> set[str]:
        """The queues of the tasks ready to start (those that need a worker now)."""
        nodes = mirror.plan.nodes
        return {
            nodes[t].queue
            for t, s in mirror.state.state.items()
            if s is TaskState.READY and t in nodes
        }
