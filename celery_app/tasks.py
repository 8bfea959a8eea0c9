"""What a Celery worker does with one dagcore message: validate, claim, run, finish, publish.

Every dagcore family is registered as a Celery task of its own name whose body is
:func:`handle_message`. The message carries only ids and serialised parameters; the run's
bookkeeping lives in Redis (:mod:`celery_app.joins`). The steps:

1. Validate: the module is one this worker was told to import, the family is defined there, the
   parameters parse, the code fingerprint matches. Bad input is recorded as a failed task (with
   the reason) and acknowledged; the worker keeps running.
2. Claim the task id (global lease + fencing token) and, in the same step, the semaphore slots
   of its ``max_running`` and ``resources`` (:mod:`celery_app.semaphore`). ``done`` (a
   redelivered copy), ``busy`` (another copy or run holds it: we are parked as a waiter and
   woken when it ends), ``queued`` (no free slot: parked in line, handed the slots on a
   release), ``lost`` (it killed its worker too often) and ``cancelled`` end here.
3. Skip ``run()`` if the task is already complete (its outputs exist).
4. Run the attempt with :func:`dagcore.executor.runner.execute`, renewing the lease meanwhile.
5. Success: ``finish`` (exactly-once readiness of dependents), publish the outbox. Failure:
   retry through Celery after the task's delay, or record the final failure. Yielded
   requirements: plan them here and ``extend`` the run atomically.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import Task as CeleryTask
from celery import signals
from celery.exceptions import SoftTimeLimitExceeded

from celery_app import shutdown, upkeep
from celery_app.connection import redis_client
from celery_app.history_stream import RedisHistorySink
from celery_app.identity import build_task
from celery_app.joins import Claim, OutboxEntry, RunStore, Settled
from celery_app.lease import Holding, LeaseKeeper
from celery_app.publish import module_fingerprint, publish
from celery_app.semaphore import Demand, demand_of
from celery_app.settle import AsyncSettler
from dagcore.configuration.settings import Settings
from dagcore.executor.base import attempt_finished, planned_tasks
from dagcore.executor.runner import Outcome, OutcomeStatus, execute
from dagcore.graph import Resolver
from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
    event_to_json,
    utcnow,
)
from dagcore.interface import routing_rules
from dagcore.plan import RetryPolicy
from dagcore.task import Task
from dagcore.task_register import Register

__all__ = ["WorkerContext", "handle_message"]

logger = logging.getLogger("dagcore.celery")


class BadMessage(Exception):
    """A message this worker must not (or cannot) run; the text says why and what to do."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class WorkerContext:
    """Per-process state of a worker: settings, Redis, the run store, history, allowed code.

    Built lazily in each (forked) worker process, never shared across a fork.
    """

    settings: Settings
    modules: tuple[str, ...]
    redis: redis.Redis[Any]
    store: RunStore
    history: RedisHistorySink
    leases: LeaseKeeper
    settler: AsyncSettler
    host: str = field(default_factory=socket.gethostname)

    @classmethod
    def create(cls, modules: tuple[str, ...], settings: Settings | None = None) -> WorkerContext:
        """Connect to the broker's Redis and fingerprint the allowed modules."""
        settings = settings or Settings.from_config()
        client = redis_client(settings)
        prefix = settings.celery.key_prefix
        store = RunStore(client, prefix)
        return cls(
            settings=settings,
            modules=modules,
            redis=client,
            store=store,
            history=RedisHistorySink(client, prefix),
            leases=LeaseKeeper(store, int(settings.celery.lease_seconds * 1000)),
            settler=AsyncSettler(client),
        )

    @property
    def lease_ms(self) -> int:
        """How long a claim lives without renewal."""
        return self.leases.lease_ms


_context: WorkerContext | None = None
# Seconds a pool process that stops waits for its last settle's answer (see celery_app.settle).
_SETTLE_WAIT = 5.0
_context_pid: int | None = None
_allowed_modules: tuple[str, ...] = ()


def configure(modules: tuple[str, ...]) -> None:
    """Set the modules this worker may run families from (called by ``dagcore worker``).

    Also starts the worker's upkeep process when it is ready (:mod:`celery_app.upkeep`): a
    history writer that moves the history stream into SQL in batches (several writers share
    the stream as a consumer group) and the reaper.
    """
    global _allowed_modules, _context
    _allowed_modules = tuple(modules)
    _context = None
    signals.worker_ready.connect(upkeep.start, weak=False)
    signals.worker_shutdown.connect(upkeep.stop, weak=False)
    signals.worker_process_shutdown.connect(_wait_for_settles, weak=False)


def _wait_for_settles(**_: Any) -> None:
    """A pool process ending lets its last settle be answered and published first."""
    if _context is not None and _context_pid == os.getpid():
        _context.settler.wait(_SETTLE_WAIT)


def handle_unknown(family: str, kwargs: Mapping[str, Any]) -> None:
    """A message for a family this worker does not run: record it as a failed task."""
    run_id, task_id = kwargs.get("run_id"), kwargs.get("task_id")
    if not isinstance(run_id, str) or not isinstance(task_id, str):
        return
    bad = BadMessage(
        "UnknownFamily",
        f"no task family {family!r} is registered on this worker; start it with the --module "
        f"that defines it ({kwargs.get('module')})",
    )
    _record_bad(context(), run_id, task_id, bad, None)


def context() -> WorkerContext:
    """This process's context, created after the fork on first use."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        _context = WorkerContext.create(_allowed_modules)
        _context_pid = os.getpid()
    return _context


# -- the handler -----------------------------------------------------------------------------


def _validate(
    ctx: WorkerContext,
    family: str,
    module: str,
    params: Any,
    fingerprint: str,
    values: Any = None,
) -> Task:
    allowed = any(module == m or module.startswith(m + ".") for m in ctx.modules)
    if not allowed:
        raise BadMessage(
            "ForbiddenModule",
            f"{family}: module {module!r} is not one this worker imports "
            f"({', '.join(ctx.modules) or 'none'}); start the worker with --module {module}",
        )
    mine = module_fingerprint(module)
    if fingerprint != mine:
        raise BadMessage(
            "CodeMismatch",
            f"{family}: the submitter's code of {module} (fingerprint {fingerprint or 'none'}) "
            f"differs from this worker's ({mine}); deploy the same version to both",
        )
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise BadMessage("BadParameters", f"{family}: parameters must be a string mapping")
    if values is not None and not (
        isinstance(values, dict)
        and all(isinstance(v, bool | int | float | str | None) for v in values.values())
    ):
        raise BadMessage("BadParameters", f"{family}: values must map names to JSON scalars")
    try:
        cls = Register.get_task_cls(family, module)
    except Exception as exc:
        raise BadMessage("UnknownFamily", f"{exc}") from exc
    if cls.__module__ != module:
        raise BadMessage(
            "UnknownFamily", f"{family} is defined in {cls.__module__}, not in {module}"
        )
    try:
        return build_task(cls, params, values or {})
    except Exception as exc:
        raise BadMessage(
            "BadParameters", f"{family}: cannot build the task from {params!r}: {exc}"
        ) from exc


def _record_bad(
    ctx: WorkerContext, run_id: str, task_id: str, bad: BadMessage, celery_id: str | None
) -> None:
    logger.error("rejected message for %s: %s", task_id, bad)
    now = utcnow()
    ctx.history.emit(AttemptStarted(run_id, task_id, 1, ctx.host, _worker_name(), celery_id, now))
    ctx.history.emit(
        AttemptFinished(
            run_id,
            task_id,
            1,
            now,
            AttemptStatus.FAILED,
            error_type=bad.error_type,
            error_message=str(bad),
        )
    )
    ctx.history.emit(TaskStatusChanged(run_id, task_id, TaskStatus.FAILED, now))
    ctx.store.fail(run_id, task_id, bad.error_type, str(bad), 1)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def _lease(
    ctx: WorkerContext, run_id: str, task_id: str, token: int, demand: Demand
) -> Iterator[None]:
    """Renew the claim and the slots while ``run()`` executes (:mod:`celery_app.lease`)."""
    key = ctx.leases.hold(Holding(run_id, task_id, token, demand))
    try:
        yield
    finally:
        ctx.leases.drop(key)


def _start_events(
    ctx: WorkerContext, run_id: str, task_id: str, attempt: int, celery_id: str | None
) -> list[str]:
    """The history events of an attempt starting (as JSON), for a script to record."""
    now = utcnow()
    started = AttemptStarted(run_id, task_id, attempt, ctx.host, _worker_name(), celery_id, now)
    running = TaskStatusChanged(run_id, task_id, TaskStatus.RUNNING, now)
    return [event_to_json(started), event_to_json(running)]


def handle_message(
    celery_task: CeleryTask,
    family: str,
    run_id: str,
    task_id: str,
    module: str,
    params: Any,
    fingerprint: str = "",
    values: Any = None,
    **_unknown: Any,
) -> str:
    """Run one dagcore task message; returns what happened (for logs and Flower).

    ``values``: parameter values that travel as themselves (:mod:`celery_app.identity`).
    """
    ctx = context()
    celery_id = getattr(celery_task.request, "id", None)
    try:
        task = _validate(ctx, family, module, params, fingerprint, values)
    except BadMessage as bad:
        _record_bad(ctx, run_id, task_id, bad, celery_id)
        return f"rejected: {bad.error_type}"
    if task.task_id != task_id:
        mismatch = BadMessage(
            "BadParameters", f"{family}: parameters give task id {task.task_id}, not {task_id}"
        )
        _record_bad(ctx, run_id, task_id, mismatch, celery_id)
        return "rejected: BadParameters"
    try:
        demand = demand_of(task)
    except ValueError as exc:
        _record_bad(ctx, run_id, task_id, BadMessage("BadLimits", str(exc)), celery_id)
        return "rejected: BadLimits"
    # Checked before the claim so that the claim can record the start of a task that has to
    # run (checked again under the claim unless that was its first claim ever).
    complete = _safe_complete(task)
    claim = ctx.store.claim(
        run_id,
        task_id,
        ctx.lease_ms,
        demand=demand,
        priority=int(task.priority or 0),
        max_starts=ctx.settings.celery.max_redeliveries + 1,
        celery_id=celery_id or "",
        started=() if complete else _start_events(ctx, run_id, task_id, 1, celery_id),
    )
    if claim.status == "lost":
        lost = BadMessage(
            "WorkerLost",
            f"{task!r}: the worker process running it died {claim.starts} times "
            "(killed, or out of memory?); not delivering it again. Raise the queue's memory "
            "or [celery] max_redeliveries",
        )
        _record_bad(ctx, run_id, task_id, lost, celery_id)
        return "rejected: WorkerLost"
    if claim.status != "ok":
        return claim.status
    token = claim.token
    assert token is not None
    attempt = _Attempt(complete=complete)
    try:
        attempt.result = _run_claimed(
            ctx, celery_task, run_id, task, claim, celery_id, demand, attempt
        )
        return attempt.result
    except SystemExit as exc:
        if shutdown.is_termination(exc):
            attempt.result = _INTERRUPTED
        raise
    finally:
        _settle(ctx, celery_task, run_id, task_id, token, demand, attempt)


def _settle(
    ctx: WorkerContext,
    celery_task: CeleryTask,
    run_id: str,
    task_id: str,
    token: int,
    demand: Demand,
    attempt: _Attempt,
) -> None:
    """End the attempt: its last history events, finish (on success), release the claim and
    the slots (also before a retry's delay), then publish what became ready.

    After a success the settle is sent and answered on the settler's thread
    (:mod:`celery_app.settle`); retries, yields and interruptions (the process may be
    exiting) settle and publish here and now.
    """
    call = ctx.store.settle_call(
        run_id,
        task_id,
        token,
        done=attempt.result in _DONE,
        requeue=attempt.result == _INTERRUPTED,
        demand=demand,
        lease_ms=ctx.lease_ms,
        history=attempt.history,
    )
    extended = [OutboxEntry(run_id, ready) for ready in attempt.ready]
    app = celery_task.app
    celery_id = getattr(celery_task.request, "id", None)
    root_id = getattr(celery_task.request, "root_id", None) or celery_id

    def publish_settled(settled: Settled) -> None:
        entries = [*settled.publish, *extended]
        publish(app, ctx.store, entries, parent_id=celery_id, root_id=root_id)

    if attempt.result in _DONE:
        try:
            ctx.settler.send(call, publish_settled)
            return
        except redis.RedisError:
            logger.warning("could not send the settle of %s; settling it here", task_id)
    try:
        settled = ctx.store.run_settle(call)
    except redis.RedisError:
        ctx.history.keep(attempt.history)
        raise
    publish_settled(settled)


@dataclass
class _Attempt:
    """One claimed attempt: how it ended, and what the settle writes and publishes.

    Attributes:
        complete: the task was complete before the claim.
        result: what happened ("success", "complete", "failed", ...).
        history: history events (JSON) the settle adds to the stream.
        ready: tasks ``extend`` made ready, to publish.
    """

    complete: bool = False
    result: str = ""
    history: list[str] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)


_DONE = frozenset({"success", "complete"})
_INTERRUPTED = "interrupted"


def _run_claimed(
    ctx: WorkerContext,
    celery_task: CeleryTask,
    run_id: str,
    task: Task,
    claim: Claim,
    celery_id: str | None,
    demand: Demand,
    attempt_state: _Attempt,
) -> str:
    """Run the claimed task; "success" and "complete" mean the caller records it done."""
    task_id = task.task_id
    attempt = claim.attempt
    if not claim.started:
        # Not the task's first claim: someone may have completed it meanwhile.
        if attempt_state.complete or _safe_complete(task):
            ctx.store.event(run_id, "skipped", task_id)
            ctx.history.emit(TaskStatusChanged(run_id, task_id, TaskStatus.DONE, utcnow()))
            return "complete"
        history = _start_events(ctx, run_id, task_id, attempt, celery_id)
        try:
            ctx.store.started(run_id, task_id, attempt, celery_id or "", history)
        except redis.RedisError:
            ctx.history.keep(history)
            raise
    outcome_started = time.time()
    token = claim.token
    assert token is not None
    with _lease(ctx, run_id, task_id, token, demand):
        try:
            outcome = execute(task, check_requirements=ctx.settings.worker.check_unfulfilled_deps)
            if outcome.status is OutcomeStatus.FAILED:
                caught = shutdown.termination_caught(outcome.error_type, outcome.error_message)
                if caught is not None:
                    raise caught  # the runner records it as a failure; it is not one
        except SystemExit as exc:
            if shutdown.is_termination(exc):
                # SIGTERM (soft shutdown, or cancel --terminate): record the attempt; the
                # caller gives the claim and slots back and requeues the task, then exits.
                _record_interrupted(ctx, run_id, task_id, attempt, outcome_started)
            raise
    if outcome.error_type == SoftTimeLimitExceeded.__qualname__:
        outcome = _as_timeout(outcome, task)
    if outcome.status is OutcomeStatus.SUCCESS:
        # Written by the settle, in the round trip that records the task done.
        attempt_state.history += [
            event_to_json(attempt_finished(run_id, task_id, attempt, outcome)),
            event_to_json(TaskStatusChanged(run_id, task_id, TaskStatus.SUCCESS, utcnow())),
        ]
        return "success"
    _record_attempt(ctx, run_id, task_id, attempt, outcome)
    if outcome.status is OutcomeStatus.YIELDED:
        return _extend(ctx, run_id, task, outcome, attempt_state.ready)
    return _failed(ctx, celery_task, run_id, task_id, attempt, outcome)


def _record_interrupted(
    ctx: WorkerContext, run_id: str, task_id: str, attempt: int, started: float
) -> None:
    interrupted = Outcome(
        OutcomeStatus.CANCELLED,
        started,
        time.time(),
        error_type="Interrupted",
        error_message="the worker stopped (SIGTERM) before the task finished; it runs again",
    )
    with ctx.history.batched():
        _record_attempt(ctx, run_id, task_id, attempt, interrupted)
        ctx.history.emit(TaskStatusChanged(run_id, task_id, TaskStatus.PENDING, utcnow()))


def _safe_complete(task: Task) -> bool:
    try:
        return task.complete()
    except Exception:
        logger.exception("complete() of %r raised; running it", task)
        return False


def _as_timeout(outcome: Outcome, task: Task) -> Outcome:
    return Outcome(
        OutcomeStatus.TIMEOUT,
        outcome.started,
        outcome.finished,
        error_type="Timeout",
        error_message=f"{task!r} ran longer than its worker_timeout of {task.worker_timeout}s",
        traceback=outcome.traceback,
    )


def _record_attempt(
    ctx: WorkerContext, run_id: str, task_id: str, attempt: int, outcome: Outcome
) -> None:
    ctx.history.emit(attempt_finished(run_id, task_id, attempt, outcome))


def _retry_policy(ctx: WorkerContext, run_id: str, task_id: str) -> RetryPolicy:
    node = ctx.store.node(run_id, task_id) or {}
    retry = node.get("retry") or {}
    return RetryPolicy(
        count=int(retry.get("count", 0)),
        delay=float(retry.get("delay", 0.0)),
        backoff=float(retry.get("backoff", 1.0)),
    )


def _failed(
    ctx: WorkerContext,
    celery_task: CeleryTask,
    run_id: str,
    task_id: str,
    attempt: int,
    outcome: Outcome,
) -> str:
    policy = _retry_policy(ctx, run_id, task_id)
    # Retries count failures (Celery's retries), not interrupted or lost attempts.
    failures = int(getattr(celery_task.request, "retries", 0) or 0) + 1
    if policy.allows(failures + 1) and not ctx.store.is_cancelled(run_id):
        delay = policy.delay_before(failures + 1)
        ctx.store.event(
            run_id,
            "retry",
            task_id,
            attempt=str(attempt),
            error_type=outcome.error_type or "",
            error_message=outcome.error_message or "",
        )
        ctx.history.emit(TaskStatusChanged(run_id, task_id, TaskStatus.RETRY_WAIT, utcnow()))
        # Celery publishes the next attempt with a countdown and acknowledges this one.
        raise celery_task.retry(countdown=delay, max_retries=policy.count)
    ctx.store.fail(
        run_id, task_id, outcome.error_type or "Error", outcome.error_message or "", attempt
    )
    ctx.history.emit(TaskStatusChanged(run_id, task_id, TaskStatus.FAILED, utcnow()))
    return "failed"


def _extend(ctx: WorkerContext, run_id: str, task: Task, outcome: Outcome, ready: list[str]) -> str:
    """Plan the requirements ``run()`` yielded and add them to the run atomically.

    The tasks this made ready are appended to ``ready``, for the caller to publish.
    """
    try:
        new_tasks = [
            Register.get_task_cls(ref.family, ref.module).from_str_params(ref.params)
            for ref in outcome.new_deps
        ]
        resolver = Resolver(routing_rules(ctx.settings), ctx.settings.core.complete_check_threads)
        fragment = resolver.resolve(new_tasks)
    except Exception as exc:
        ctx.store.fail(run_id, task.task_id, type(exc).__name__, str(exc), 1)
        return "failed"
    if not fragment.ok:
        message = "; ".join(fragment.problems())
        ctx.store.fail(run_id, task.task_id, "BrokenDynamicRequirement", message, 1)
        ctx.history.emit(TaskStatusChanged(run_id, task.task_id, TaskStatus.FAILED, utcnow()))
        return "failed"
    nodes = list(fragment.nodes.values())
    fresh = ctx.store.missing_nodes(run_id, [n.task_id for n in nodes])
    if fresh:
        ctx.history.emit(TasksPlanned(run_id, planned_tasks(fragment, fresh)))
    direct = [t.task_id for t in new_tasks]
    # extend() also writes the "yielded" event, in the same atomic step.
    ready.extend(ctx.store.extend(run_id, task.task_id, nodes, direct))
    ctx.history.emit(TaskStatusChanged(run_id, task.task_id, TaskStatus.PENDING, utcnow()))
    return "yielded"
