"""Keeping the claims and semaphore slots of running tasks alive: one thread per process.

A claim (and every slot a task holds) is a lease that runs out unless renewed, so that a dead
worker's task can be taken over. While ``run()`` executes, a :class:`LeaseKeeper` renews it
every third of the lease. One thread per worker process serves every task running there, so a
task costs two dictionary updates instead of a thread started and joined.

A renewal that finds the claim or a slot gone marks the holding lost: it is logged and written
to the run's events (``lease_lost``), since another worker may now run the task, or more tasks
than the limit may be running.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from contextlib import suppress
from dataclasses import dataclass, field

import redis

from celery_app.joins import RunStore
from celery_app.semaphore import Demand

__all__ = ["Holding", "LeaseKeeper"]

logger = logging.getLogger("dagcore.celery")


@dataclass
class Holding:
    """A claim (and its slots) renewed for a running task; ``lost`` is set if it is lost."""

    run_id: str
    task_id: str
    token: int
    demand: Demand
    lost: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """Renews the holdings of one process on a daemon thread, started on first use.

    Parameters:
        store: the run store (a client of this process).
        lease_ms: the lease each renewal grants.
    """

    def __init__(self, store: RunStore, lease_ms: int) -> None:
        self.store = store
        self.lease_ms = lease_ms
        self.interval = max(lease_ms / 3000, 0.5)
        self._held: dict[int, Holding] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def hold(self, holding: Holding) -> int:
        """Start renewing ``holding``; returns the key to :meth:`drop` it with."""
        key = next(self._ids)
        with self._lock:
            self._held[key] = holding
            self._ensure_thread()
        return key

    def drop(self, key: int) -> None:
        """Stop renewing (the task ended; its claim is settled next)."""
        with self._lock:
            self._held.pop(key, None)

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="dagcore-leases", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wake = threading.Event()  # never set: a sleep that does not hold the GIL
        while True:
            wake.wait(self.interval)
            with self._lock:
                held = list(self._held.items())
            for key, holding in held:
                self._renew(key, holding)

    def _renew(self, key: int, holding: Holding) -> None:
        try:
            lease = self.store.renew(
                holding.task_id,
                holding.token,
                self.lease_ms,
                run_id=holding.run_id,
                demand=holding.demand,
            )
        except redis.RedisError:
            logger.warning("could not renew the lease of %s; retrying", holding.task_id)
            return
        if lease == "held":
            return
        with self._lock:
            if self._held.pop(key, None) is None:
                return  # it ended meanwhile: the settle decides, not this renewal
        holding.lost.set()
        what = "claim" if lease == "lost" else "semaphore slot"
        logger.warning("lost the %s of %s while running it", what, holding.task_id)
        with suppress(redis.RedisError):
            self.store.event(holding.run_id, "lease_lost", holding.task_id, lease=what)
