"""The embedded default executor: in the calling process, or on a local process pool.

``workers=1`` runs ``run()`` in the calling process, as Luigi does (a task with a
``worker_timeout`` still goes to a child process, the only way to stop it on time);
``workers>1`` runs attempts on a :class:`~dagcore.executor.pool.WorkerPool`. Either way the
loop is the same: take the highest-priority ready task whose slots are free, run it, feed the
outcome to the :class:`~dagcore.plan.RunState`, and schedule what became ready. Failed attempts
are retried within the run after their delay; a first Ctrl-C stops launching and lets running
tasks finish, a second one kills them.
"""

from __future__ import annotations

import heapq
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from dagcore import notifications
from dagcore.errors import ExecutionError
from dagcore.event import Event
from dagcore.executor.base import RunContext, RunResult, attempt_finished, planned_tasks
from dagcore.executor.pool import Job, WorkerPool
from dagcore.executor.runner import Outcome, OutcomeStatus, TaskRef, execute
from dagcore.executor.slots import ReadyQueue, Slots, check_capacities
from dagcore.graph import Resolver, RoutingRules
from dagcore.history.events import (
    AttemptStarted,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
    utcnow,
)
from dagcore.plan import Plan, RunState, TaskState
from dagcore.task import Task
from dagcore.task_register import Register

__all__ = ["LocalExecutor"]

logger = logging.getLogger("dagcore.executor")


@dataclass
class _Run:
    """Mutable bookkeeping of one execution."""

    plan: Plan
    context: RunContext
    state: RunState
    queue: ReadyQueue
    result: RunResult
    retries: list[tuple[float, int, str]] = field(default_factory=list)
    attempt_no: dict[str, int] = field(default_factory=dict)
    inline_done: list[tuple[Job, Outcome]] = field(default_factory=list)
    stopping: bool = False
    seq: int = 0


class LocalExecutor:
    """Runs a plan on this machine.

    Parameters:
        workers: 1 runs tasks in the calling process; more uses that many worker processes.
        rules: routing rules, used to plan the requirements that ``run()`` yields.
        complete_check_threads: thread pool size for ``complete()`` checks of those.
    """

    name = "local"

    def __init__(
        self,
        workers: int = 1,
        rules: RoutingRules | None = None,
        complete_check_threads: int = 16,
        **_ignored: Any,
    ) -> None:
        if workers < 1:
            raise ExecutionError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self.resolver = Resolver(rules or RoutingRules({}, {}), complete_check_threads)
        self._host = socket.gethostname()
        self._pool: WorkerPool | None = None
        self._interrupts = 0

    # -- main loop ------------------------------------------------------------------------------

    def execute(self, plan: Plan, context: RunContext) -> RunResult:
        """Run every runnable task of ``plan``; return when nothing more can happen."""
        check_capacities(plan, context.resources)
        state = RunState(plan)
        slots = Slots(context.resources)
        run = _Run(
            plan, context, state, ReadyQueue(plan, slots), RunResult(context.run_id, plan, state)
        )
        for task_id in state.ready():
            run.queue.push(task_id)
        if self.workers > 1:
            self._pool = WorkerPool(self.workers, plan.tasks)
        self._interrupts = 0
        previous = self._install_sigint()
        try:
            while True:
                try:
                    if self._interrupts and not run.stopping:
                        self._interrupt(run, 1)
                    if not self._step(run):
                        break
                except KeyboardInterrupt:
                    self._interrupts = max(self._interrupts, 2)
                    self._interrupt(run, self._interrupts)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        run.result.finished = time.time()
        run.result.cancelled = run.stopping
        return run.result

    def _install_sigint(self) -> Any:
        """First Ctrl-C: note it and let running tasks finish; second: KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def on_sigint(signum: int, frame: Any) -> None:
            self._interrupts += 1
            if self._interrupts == 1:
                logger.warning(
                    "Interrupted: no new tasks start; press Ctrl-C again to stop running ones"
                )
                return
            raise KeyboardInterrupt

        return signal.signal(signal.SIGINT, on_sigint)

    def _step(self, run: _Run) -> bool:
        """Launch what can start, wait for something to end; False when the run is over."""
        self._promote_due_retries(run)
        if not run.stopping:
            self._launch(run)
        ended = run.inline_done
        run.inline_done = []
        if not ended:
            running = self._pool.busy if self._pool is not None else 0
            if running == 0 and not run.retries:
                # Nothing launched, nothing running, nothing to retry: the run is over.
                return False
            ended = self._wait(run, running)
        for job, outcome in ended:
            self._handle(run, job, outcome)
        return True

    def _wait(self, run: _Run, running: int) -> list[tuple[Job, Outcome]]:
        timeout = max(run.retries[0][0] - time.monotonic(), 0) if run.retries else None
        if running == 0 or self._pool is None:
            time.sleep(timeout or 0)
            return []
        return self._pool.wait(timeout)

    def _capacity(self) -> int:
        if self._pool is not None:
            return self._pool.free
        return 1

    def _launch(self, run: _Run) -> None:
        while self._capacity() > 0 and not run.stopping:
            task_id = run.queue.pop()
            if task_id is None:
                return
            self._start(run, task_id)
            if self._pool is None:
                return  # inline: one task per step, so its outcome is handled before the next

    def _start(self, run: _Run, task_id: str) -> None:
        node = run.plan.nodes[task_id]
        run.state.start(task_id)
        attempt = run.attempt_no.get(task_id, 0) + 1
        run.attempt_no[task_id] = attempt
        worker = f"{self._host}:{os.getpid()}"
        run.context.history.emit(
            AttemptStarted(run.context.run_id, task_id, attempt, self._host, worker, None, utcnow())
        )
        run.context.history.emit(
            TaskStatusChanged(run.context.run_id, task_id, TaskStatus.RUNNING, utcnow())
        )
        task = run.plan.tasks.get(task_id)
        ref = TaskRef(node.module, node.family, node.params)
        job = Job(task_id, ref, node.timeout)
        if self._pool is not None:
            self._pool.submit(job)
        elif node.timeout:
            self._run_isolated(run, job)
        else:
            assert task is not None
            run.inline_done.append((job, execute(task)))

    def _run_isolated(self, run: _Run, job: Job) -> None:
        """A task with a timeout, with workers=1: a one-off child process that can be killed."""
        pool = WorkerPool(1, run.plan.tasks)
        try:
            ended: list[tuple[Job, Outcome]] = []
            pool.submit(job)
            while not ended:
                ended = pool.wait(None)
        except KeyboardInterrupt:
            now = time.time()
            ended = [(job, _cancelled(now, "interrupted"))]
        finally:
            pool.terminate()
        run.inline_done.extend(ended)

    # -- outcomes -------------------------------------------------------------------------------

    def _handle(self, run: _Run, job: Job, outcome: Outcome) -> None:
        task_id = job.task_id
        run.result.attempts.setdefault(task_id, []).append(outcome)
        self._record_attempt(run, task_id, outcome)
        run.queue.release(task_id)
        if outcome.status is OutcomeStatus.SUCCESS:
            for ready in run.state.done(task_id):
                run.queue.push(ready)
            self._status(run, task_id, TaskStatus.SUCCESS)
        elif outcome.status is OutcomeStatus.YIELDED:
            self._add_dynamic(run, task_id, outcome)
        elif outcome.status is OutcomeStatus.CANCELLED:
            self._fail(run, task_id, TaskState.CANCELLED)
            self._interrupt(run, 1)
        else:
            self._log_failure(run, task_id, outcome)
            if outcome.status is OutcomeStatus.TIMEOUT:
                task = run.plan.tasks.get(task_id)
                if task is not None:
                    task.trigger_event(Event.TIMEOUT, task, job.timeout)
            self._failed_attempt(run, task_id)
        if run.context.on_progress is not None:
            run.context.on_progress(run.state)

    def _log_failure(self, run: _Run, task_id: str, outcome: Outcome) -> None:
        """The failure and its traceback in the log, in the shape of Luigi's worker log line."""
        detail = outcome.traceback or f"{outcome.error_type}: {outcome.error_message}"
        logger.error(
            "[pid %s] Worker %s failed    %s\n%s",
            os.getpid(),
            f"{self._host}:{os.getpid()}",
            run.plan.label(task_id),
            detail.rstrip(),
        )
        task = run.plan.tasks.get(task_id)
        if task is not None:
            notifications.notify_task_failure(task, detail)

    def _failed_attempt(self, run: _Run, task_id: str) -> None:
        node = run.plan.nodes[task_id]
        failures = run.result.failed_attempts(task_id)
        if not run.stopping and node.retry.allows(failures + 1):
            delay = node.retry.delay_before(failures + 1)
            run.state.retry(task_id)
            run.seq += 1
            heapq.heappush(run.retries, (time.monotonic() + delay, run.seq, task_id))
            self._status(run, task_id, TaskStatus.RETRY_WAIT)
            logger.info("%s failed; retry %d in %.1fs", node.label, failures, delay)
            return
        self._fail(run, task_id, TaskState.FAILED)

    def _fail(self, run: _Run, task_id: str, state: TaskState) -> None:
        status = TaskStatus.CANCELLED if state is TaskState.CANCELLED else TaskStatus.FAILED
        self._status(run, task_id, status)
        # Only PENDING dependents can be blocked (a READY one has all its requirements done),
        # so nothing has to leave the ready queue.
        for blocked in run.state.failed(task_id, state):
            self._status(run, blocked, TaskStatus.UPSTREAM_FAILED)

    def _promote_due_retries(self, run: _Run) -> None:
        now = time.monotonic()
        while run.retries and run.retries[0][0] <= now:
            _, _, task_id = heapq.heappop(run.retries)
            if run.stopping:
                continue
            run.queue.push(task_id)

    def _add_dynamic(self, run: _Run, task_id: str, outcome: Outcome) -> None:
        """``run()`` yielded requirements that are not complete: plan them, re-run later."""
        try:
            new_tasks = [_build(ref) for ref in outcome.new_deps]
        except Exception as exc:
            self._broken_dynamic(run, task_id, f"cannot build yielded requirement: {exc}")
            return
        fragment = self.resolver.resolve(new_tasks, known=lambda t: t in run.state.state)
        if not fragment.ok:
            self._broken_dynamic(run, task_id, "; ".join(fragment.problems()))
            return
        run.plan.tasks.update(fragment.tasks)
        if fragment.nodes:
            run.context.history.emit(
                TasksPlanned(run.context.run_id, planned_tasks(fragment, fragment.nodes))
            )
        direct = [t.task_id for t in new_tasks]
        ready = run.state.requeue(task_id, list(fragment.nodes.values()), direct)
        for ready_id in ready:
            run.queue.push(ready_id)
        self._status(run, task_id, TaskStatus.PENDING)

    def _broken_dynamic(self, run: _Run, task_id: str, message: str) -> None:
        logger.error("%s: %s", run.plan.label(task_id), message)
        run.plan.broken[task_id] = message
        self._fail(run, task_id, TaskState.FAILED)

    def _interrupt(self, run: _Run, count: int) -> None:
        """Stop launching (any interrupt); kill running tasks too (a second one)."""
        if not run.stopping:
            run.stopping = True
            run.queue.drain()  # queued tasks hold no slots yet
            for task_id in run.state.cancel_pending():
                self._status(run, task_id, TaskStatus.CANCELLED)
            run.retries.clear()
        if count > 1 and self._pool is not None:
            for job in self._pool.terminate():
                outcome = _cancelled(time.time(), "killed by a second interrupt")
                run.result.attempts.setdefault(job.task_id, []).append(outcome)
                self._record_attempt(run, job.task_id, outcome)
                self._fail(run, job.task_id, TaskState.CANCELLED)
            self._pool = None

    # -- history --------------------------------------------------------------------------------

    def _record_attempt(self, run: _Run, task_id: str, outcome: Outcome) -> None:
        attempt = run.attempt_no.get(task_id, 1)
        run.context.history.emit(attempt_finished(run.context.run_id, task_id, attempt, outcome))

    def _status(self, run: _Run, task_id: str, status: TaskStatus) -> None:
        run.context.history.emit(TaskStatusChanged(run.context.run_id, task_id, status, utcnow()))


def _build(ref: TaskRef) -> Task:
    return Register.get_task_cls(ref.family, ref.module).from_str_params(ref.params)


def _cancelled(now: float, why: str) -> Outcome:
    return Outcome(OutcomeStatus.CANCELLED, now, now, error_type="Cancelled", error_message=why)
