"""The Redis key schema of runs on the Celery executor.

Every key dagcore writes starts with a prefix (``[celery] key_prefix``, default ``dagcore``), so
several deployments can share one Redis. The keys of one run carry the run id as a hash tag
(``{run-id}``), which keeps them in one slot should the run keys ever live in a cluster.

=================================  ======  =========================================================
key                                type    holds (TTL)
=================================  ======  =========================================================
``P:run:{rid}:meta``               HASH    status, created, ended, total, roots, capacities
``P:run:{rid}:nodes``              HASH    task id -> node JSON with ``dependents`` (run TTL)
``P:run:{rid}:waiting``            HASH    task id -> requirements not done yet (run TTL)
``P:run:{rid}:done``               SET     task ids done in the run (run TTL)
``P:run:{rid}:failed``             SET     task ids that failed for good (run TTL)
``P:run:{rid}:outbox``             LIST    ready task ids still to be published (run TTL)
``P:run:{rid}:events``             STREAM  progress events the submitter follows (run TTL)
``P:run:{rid}:attempts``           HASH    task id -> attempts started in the run (run TTL)
``P:claim:{task_id}``              STRING  ``<run_id>|<token>`` of the holder (the lease, in ms)
``P:fence:{task_id}``              INT     fencing token counter (run TTL, refreshed on claim)
``P:claimwait:{task_id}``          LIST    run ids waiting for the holder (run TTL)
``P:claims``                       ZSET    holder (``run|task``) -> lease expiry (ms, Redis TIME);
                                           the reaper hands the task of a claim that expired
                                           back to its run and to the runs waiting for it
``P:starts:{task_id}``             INT     starts of ``run()`` not settled yet: a count past
                                           ``max_redeliveries`` means the task kills its worker
``P:runs``                         SET     ids of runs still RUNNING (the reaper's outbox sweep)
``P:woken``                        LIST    "rid|task": outbox entries a release made, to publish
``P:sem:{name}:holders``           ZSET    holder (``run|task``) -> lease expiry (ms)
``P:sem:{name}:units``             HASH    holder -> units held
``P:sem:{name}:state``             HASH    ``used`` (units held), ``capacity`` (last configured)
``P:sem:{name}:waiters``           ZSET    waiter (``run|task``) -> place in line
``P:semwait:{run}|{task}``         STRING  the waiter's demand (``name=units`` lines)
``P:sems``                         SET     names of the semaphores in use (for the reaper)
``P:reaper``                       STRING  the reaper's lock (holder id, PX)
``P:queue:{name}:workers``         ZSET    worker name -> heartbeat expiry (ms, Redis TIME) of
                                           the workers consuming the queue (celery_app.presence)
``P:history``                      STREAM  history events for the SQL writer (not a run key)
=================================  ======  =========================================================

Semaphore names are ``family:<task family>`` for ``max_running`` and ``resource:<name>`` for
``resources``. Semaphore keys, ``P:claims``, ``P:runs`` and ``P:sems`` get the run TTL on every
write, so a deployment that stops using them loses them a week later.

"Run TTL" is :data:`DEFAULT_TTL_SECONDS` unless the store is given another; every script that
writes a run's keys refreshes the TTL of all seven, so a run that is still moving never expires
and a finished or abandoned one disappears a week after its last write.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PREFIX", "DEFAULT_TTL_SECONDS", "Keys", "RunKeys", "SemKeys"]

DEFAULT_PREFIX = "dagcore"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RunKeys:
    """The keys of one run, in the order the Lua scripts receive them as ``KEYS``."""

    meta: str
    nodes: str
    waiting: str
    done: str
    failed: str
    outbox: str
    events: str

    def all(self) -> list[str]:
        """Every key of the run, in ``KEYS`` order."""
        return [
            self.meta,
            self.nodes,
            self.waiting,
            self.done,
            self.failed,
            self.outbox,
            self.events,
        ]


@dataclass(frozen=True, slots=True)
class SemKeys:
    """The keys of one semaphore, in the order the Lua scripts receive them."""

    holders: str
    units: str
    state: str
    waiters: str


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds the key names under one prefix."""

    prefix: str = DEFAULT_PREFIX

    def run_base(self, run_id: str) -> str:
        """The common start of a run's keys (joins.lua builds the same string for waiting runs)."""
        return f"{self.prefix}:run:{{{run_id}}}:"

    def run(self, run_id: str) -> RunKeys:
        """The keys of run ``run_id``."""
        base = self.run_base(run_id)
        return RunKeys(
            meta=base + "meta",
            nodes=base + "nodes",
            waiting=base + "waiting",
            done=base + "done",
            failed=base + "failed",
            outbox=base + "outbox",
            events=base + "events",
        )

    def attempts(self, run_id: str) -> str:
        """Attempts started per task of a run (not one of the seven keys the scripts share)."""
        return self.run_base(run_id) + "attempts"

    def claim(self, task_id: str) -> str:
        """The global claim (lease) of a task id, shared by every run."""
        return f"{self.prefix}:claim:{task_id}"

    def fence(self, task_id: str) -> str:
        """The fencing token counter of a task id."""
        return f"{self.prefix}:fence:{task_id}"

    def claimwait(self, task_id: str) -> str:
        """The runs waiting for the current holder of a task id."""
        return f"{self.prefix}:claimwait:{task_id}"

    @property
    def claims(self) -> str:
        """Every live claim with its lease expiry, for the reaper."""
        return f"{self.prefix}:claims"

    def starts(self, task_id: str) -> str:
        """Unsettled starts of a task id (the lost-worker redelivery cap)."""
        return f"{self.prefix}:starts:{task_id}"

    @property
    def runs(self) -> str:
        """The ids of runs still running."""
        return f"{self.prefix}:runs"

    @property
    def woken(self) -> str:
        """``rid|task`` entries a release put in a run's outbox, for the taker to publish."""
        return f"{self.prefix}:woken"

    def sem(self, name: str) -> SemKeys:
        """The keys of semaphore ``name``."""
        base = f"{self.prefix}:sem:{name}:"
        return SemKeys(base + "holders", base + "units", base + "state", base + "waiters")

    def semwait(self, holder: str) -> str:
        """The demand of a parked waiter (``run|task``)."""
        return f"{self.prefix}:semwait:{holder}"

    @property
    def sems(self) -> str:
        """The names of the semaphores in use."""
        return f"{self.prefix}:sems"

    @property
    def reaper(self) -> str:
        """The reaper's lock."""
        return f"{self.prefix}:reaper"

    def queue_workers(self, queue: str) -> str:
        """The workers consuming ``queue``, with their heartbeat expiry."""
        return f"{self.prefix}:queue:{{{queue}}}:workers"

    @property
    def history(self) -> str:
        """The stream of history events."""
        return f"{self.prefix}:history"
