"""SIGTERM on a worker: a soft shutdown that gives back what unfinished tasks hold.

Orchestrators stop a worker with SIGTERM and kill it a grace period later. Celery's own SIGTERM
is a warm shutdown that waits for running tasks however long they take, so a long task would be
SIGKILLed with its claim and semaphore slots held until their leases ran out. ``dagcore worker``
turns SIGTERM into Celery's *soft* shutdown instead:

1. stop taking messages, and let running tasks finish for ``[worker] shutdown_timeout`` seconds;
2. then Celery cancels what still runs by sending SIGTERM to its pool process, where billiard
   raises ``SystemExit`` inside ``run()``; the handler (:mod:`celery_app.tasks`) records the
   attempt as cancelled, releases the claim and slots at once and puts the task back in its
   run's outbox, published again for another worker, before the process exits;
3. the worker exits; Redis gives its unacknowledged messages to other workers (a duplicate of
   a republished task is harmless: its claim answers ``busy`` or ``done``).

``dagcore cancel --terminate`` sends the same SIGTERM to the pool process of a running task; the
task is released the same way and its requeued message finds the run cancelled.
"""

from __future__ import annotations

import functools
import signal
from typing import Any

from celery import Celery, signals

__all__ = ["finish", "install", "is_termination", "termination_caught"]

# billiard's pool processes turn SIGTERM into SystemExit with this code (its shutdown cleanup).
_TERMINATION_CODE = -(256 - signal.SIGTERM)


def is_termination(exc: SystemExit) -> bool:
    """True if ``exc`` is how a pool process is told to stop (SIGTERM), not a task's exit."""
    return exc.code == _TERMINATION_CODE


def termination_caught(error_type: str | None, message: str | None) -> SystemExit | None:
    """The termination ``SystemExit`` if an attempt's failure is one that ``run()``'s runner
    caught (it records any exception as a failure, as Luigi does), to raise again; else None."""
    if error_type == "SystemExit" and (message or "").strip() == str(_TERMINATION_CODE):
        return SystemExit(_TERMINATION_CODE)
    return None


class _ShutdownSent:
    """Whether Celery sent ``worker_shutdown`` (a cold shutdown skips it)."""

    sent = False
    worker: Any = None

    @classmethod
    def mark(cls, **_: Any) -> None:
        cls.sent = True

    @classmethod
    def remember(cls, sender: Any = None, **_: Any) -> None:
        cls.worker = sender


def finish() -> None:
    """Send ``worker_shutdown`` after the worker stopped, if Celery did not.

    Celery's cold shutdown, which SIGTERM now is, never sends it; the upkeep process and the
    heartbeat stop on it (draining the history writer, removing the heartbeat file).
    """
    if not _ShutdownSent.sent:
        signals.worker_shutdown.send(sender=_ShutdownSent.worker)


def install(app: Celery, timeout: float) -> None:
    """Make SIGTERM a soft shutdown of ``timeout`` seconds for the worker of ``app``.

    Call before ``app.start()``: Celery installs its signal handlers when the worker starts.
    """
    from celery.apps import worker as celery_worker

    app.conf.worker_soft_shutdown_timeout = float(timeout)
    # Celery reads this name when it installs its handlers; SIGTERM becomes what SIGQUIT is
    # (a cold shutdown that waits out the soft-shutdown timeout first), exiting with 0.
    celery_worker.install_worker_term_handler = functools.partial(
        celery_worker._shutdown_handler,
        sig="SIGTERM",
        how="Cold",
        callback=celery_worker.on_cold_shutdown,
        exitcode=0,
    )
    signals.worker_init.connect(_ShutdownSent.remember, weak=False)
    signals.worker_shutdown.connect(_ShutdownSent.mark, weak=False)
