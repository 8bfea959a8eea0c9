"""A pool of forked worker processes for the local executor.

Each worker is a long-lived child process with its own pipe; it runs one attempt at a time and
sends back an :class:`~dagcore.executor.runner.Outcome`. Workers are forked after the graph is
resolved, so they inherit every task class and the resolved task objects themselves
(copy-on-write): a job is just a task id, plus the family and parameters for tasks that joined
the run later. A job past its deadline has its worker killed and replaced (recorded as a
TIMEOUT); a worker that dies takes its job with it (recorded as LOST).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from dagcore.executor.runner import Outcome, OutcomeStatus, TaskRef, execute
from dagcore.task import Task
from dagcore.task_register import Register

__all__ = ["Job", "WorkerPool"]

logger = logging.getLogger("dagcore.executor")


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt to run, as sent to a worker process."""

    task_id: str
    ref: TaskRef
    timeout: float | None = None


def _build(job: Job, known: Mapping[str, Task]) -> Task:
    task = known.get(job.task_id)
    if task is not None:
        return task
    __import__(job.ref.module)
    return Register.get_task_cls(job.ref.family, job.ref.module).from_str_params(job.ref.params)


def _worker_main(conn: Connection, known: Mapping[str, Task]) -> None:
    # Ctrl-C goes to the whole process group; the parent decides what happens to us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            task = _build(job, known)
            outcome = execute(task)
        except Exception as exc:  # cannot even build the task: report, keep serving
            now = time.time()
            outcome = Outcome(
                OutcomeStatus.FAILED,
                now,
                now,
                error_type=type(exc).__qualname__,
                error_message=str(exc),
            )
        conn.send((job.task_id, outcome))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    job: Job | None = None
    deadline: float | None = None


class WorkerPool:
    """``size`` forked workers running jobs; results come back through :meth:`wait`.

    Parameters:
        size: number of worker processes.
        known: task objects the workers inherit, by task id.
    """

    def __init__(self, size: int, known: Mapping[str, Task]) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._known = known
        self._workers: list[_Worker] = [self._spawn() for _ in range(max(1, size))]

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_worker_main, args=(child, self._known), daemon=True, name="dagcore-worker"
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def free(self) -> int:
        """How many workers are idle."""
        return sum(1 for w in self._workers if w.job is None)

    @property
    def busy(self) -> int:
        """How many workers are running a job."""
        return len(self._workers) - self.free

    def running(self) -> list[Job]:
        """The jobs currently running."""
        return [w.job for w in self._workers if w.job is not None]

    def submit(self, job: Job) -> None:
        """Give ``job`` to an idle worker (callers check :attr:`free` first)."""
        worker = next(w for w in self._workers if w.job is None)
        worker.job = job
        worker.deadline = time.monotonic() + job.timeout if job.timeout else None
        worker.conn.send(job)

    def wait(self, timeout: float | None) -> list[tuple[Job, Outcome]]:
        """Block until a job ends or ``timeout`` passes; return the ended jobs."""
        busy = [w for w in self._workers if w.job is not None]
        if not busy:
            if timeout:
                time.sleep(timeout)
            return []
        now = time.monotonic()
        deadlines = [w.deadline - now for w in busy if w.deadline is not None]
        limit = min([timeout, *deadlines]) if timeout is not None else min(deadlines, default=None)
        handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles, None if limit is None else max(limit, 0)))
        ended: list[tuple[Job, Outcome]] = []
        for worker in busy:
            if worker.conn in ready:
                ended.extend(self._receive(worker))
            elif worker.process.sentinel in ready:
                ended.append(self._replace(worker, OutcomeStatus.LOST, "worker process died"))
        now = time.monotonic()
        for worker in busy:
            if worker.job is not None and worker.deadline is not None and now >= worker.deadline:
                ended.append(self._replace(worker, OutcomeStatus.TIMEOUT, "timed out"))
        return ended

    def _receive(self, worker: _Worker) -> list[tuple[Job, Outcome]]:
        job = worker.job
        assert job is not None
        try:
            _task_id, outcome = worker.conn.recv()
        except (EOFError, OSError):
            return [self._replace(worker, OutcomeStatus.LOST, "worker process died")]
        worker.job = None
        worker.deadline = None
        return [(job, outcome)]

    def _replace(self, worker: _Worker, status: OutcomeStatus, why: str) -> tuple[Job, Outcome]:
        job = worker.job
        assert job is not None
        code = worker.process.exitcode
        self._kill(worker)
        index = self._workers.index(worker)
        self._workers[index] = self._spawn()
        now = time.time()
        if status is OutcomeStatus.TIMEOUT:
            message = f"{job.ref.family} ran longer than its worker_timeout of {job.timeout:g}s"
        else:
            message = f"{why} (exit code {code})"
        return job, Outcome(
            status, now, now, error_type=status.value.title(), error_message=message
        )

    @staticmethod
    def _kill(worker: _Worker) -> None:
        if worker.process.is_alive():
            try:
                os.kill(worker.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        worker.process.join(5)
        worker.conn.close()

    def terminate(self) -> list[Job]:
        """Kill every worker now; return the jobs that were running."""
        lost = self.running()
        for worker in self._workers:
            self._kill(worker)
        self._workers = []
        return lost

    def close(self) -> None:
        """Ask idle workers to exit and wait for them."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for worker in self._workers:
            worker.process.join(5)
            if worker.process.is_alive():
                self._kill(worker)
            else:
                worker.conn.close()
        self._workers = []
