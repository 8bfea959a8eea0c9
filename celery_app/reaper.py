"""The reaper: repairs what a crashed worker leaves behind in Redis, one reaper at a time.

Every worker runs one (in its upkeep process, beside the history writer); a Redis lock elects the
one that works, so a fleet of any size does one pass per interval. A pass:

1. wakes the runs parked on claims whose lease ran out (the holder died without releasing);
2. frees semaphore slots whose lease ran out and hands the room to the tasks in line;
3. publishes what those steps handed over (``P:woken``);
4. publishes outbox entries that stayed unpublished across two passes (a worker died between
   recording a task done and publishing its dependents); duplicates are harmless;
5. every ``vanished_every`` passes, runs ``vanished`` (in the upkeep process: closing in history
   the runs Redis lost, :mod:`celery_app.vanished`).

The hot path never waits for the reaper: releases hand slots and claims over directly. The
reaper only bounds how long a crash can hold things up: the lease plus one interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from celery_app.joins import OutboxEntry, RunStore

__all__ = ["ReapReport", "Reaper", "ReaperThread"]

logger = logging.getLogger("dagcore.reaper")

# Take the lock, or keep it if we hold it: one round trip, no race between GET and PEXPIRE.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class ReapReport:
    """What one pass did (all zero when another reaper holds the lock)."""

    leading: bool = False
    claims_woken: int = 0
    slots_freed: int = 0
    waiters_granted: int = 0
    runs_published: int = 0
    messages_sent: int = 0


class Reaper:
    """One reaper; :meth:`run_once` is a pass, :meth:`start` runs passes on a thread.

    Parameters:
        store: the run store (its client and key prefix).
        publish: publishes outbox entries, acknowledges them and returns how many messages
            it sent (:func:`celery_app.publish.publish` bound to an app and the store).
        lease_ms: the lease granted to tasks handed slots.
        interval: seconds between passes.
        vanished: called every ``vanished_every`` passes while leading (errors are logged).
    """

    def __init__(
        self,
        store: RunStore,
        publish: Callable[[Sequence[OutboxEntry]], int],
        lease_ms: int,
        interval: float,
        vanished: Callable[[], object] | None = None,
        vanished_every: int = 12,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the reaper interval must be positive, not {interval}")
        self.store = store
        self.publish = publish
        self.lease_ms = lease_ms
        self.interval = interval
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._lead = store.redis.register_script(_LEAD)
        self._give_up = store.redis.register_script(_GIVE_UP)
        # Outbox heads seen at the previous pass, per run: still there now means nobody is
        # publishing them.
        self._seen: dict[str, tuple[str, ...]] = {}
        self.vanished = vanished
        self.vanished_every = max(1, vanished_every)
        self._passes = 0

    @property
    def _lock(self) -> str:
        return self.store.keys.reaper

    def lead(self) -> bool:
        """Take or keep the reaper lock (it outlives three missed passes)."""
        ttl_ms = max(int(self.interval * 3000), 1000)
        return bool(self._lead(keys=[self._lock], args=[self.owner, ttl_ms]))

    def resign(self) -> None:
        """Give the lock up (on shutdown) so another worker's reaper takes over at once."""
        self._give_up(keys=[self._lock], args=[self.owner])

    def run_once(self) -> ReapReport:
        """One pass, if this reaper holds the lock."""
        if not self.lead():
            self._seen.clear()
            return ReapReport()
        woken = self.store.reap_claims()
        freed, granted = self.store.reap_semaphores(self.lease_ms)
        woken_entries = self.store.take_woken(1000)
        runs = len({entry.run_id for entry in woken_entries})
        sent = self.publish(woken_entries) if woken_entries else 0
        swept_runs, swept = self._sweep_outboxes()
        self._passes += 1
        if self.vanished is not None and self._passes % self.vanished_every == 1:
            try:
                self.vanished()
            except Exception as exc:  # the history database may be down: next time
                logger.info("reaper: could not look for vanished runs: %s", exc)
        report = ReapReport(True, woken, freed, granted, runs + swept_runs, sent + swept)
        if woken or freed or granted or swept:
            logger.info(
                "reaper: woke %d run(s) parked on dead claims, freed %d slot(s), granted %d "
                "waiter(s), republished %d stuck message(s)",
                woken,
                freed,
                granted,
                swept,
            )
        return report

    def _sweep_outboxes(self) -> tuple[int, int]:
        runs, sent = 0, 0
        seen: dict[str, tuple[str, ...]] = {}
        for run_id in self.store.live_runs():
            status = self.store.run_status(run_id)
            if status.get("status") != "RUNNING":
                self.store.forget_run(run_id)
                continue
            if not status["outbox"]:
                continue
            pending = self.store.pending_outbox(run_id)
            head = tuple(pending[:20])
            if self._seen.get(run_id) == head:
                runs += 1
                sent += self.publish([OutboxEntry(run_id, task_id) for task_id in pending])
            else:
                seen[run_id] = head
        self._seen = seen
        return runs, sent

    def run_forever(self, stop: threading.Event) -> None:
        """Passes every ``interval`` seconds until ``stop`` is set; Redis errors are retried."""
        while not stop.is_set():
            try:
                self.run_once()
            except redis.RedisError as exc:
                logger.warning("reaper pass failed (%s); retrying", exc)
            except Exception:
                logger.exception("reaper pass failed; retrying")
            stop.wait(self.interval)
        try:
            self.resign()
        except redis.RedisError:
            pass

    def start(self) -> ReaperThread:
        """Run passes on a daemon thread."""
        return ReaperThread(self)


class ReaperThread:
    """A reaper running on a thread; :meth:`stop` ends it and resigns the lock."""

    def __init__(self, reaper: Reaper) -> None:
        self.reaper = reaper
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=reaper.run_forever, args=(self._stop,), name="dagcore-reaper", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current pass."""
        self._stop.set()
        self._thread.join(timeout)
