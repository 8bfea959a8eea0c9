"""Global ``max_running`` and ``resources`` for the Celery executor: leased slots in Redis.

A task's *demand* is one slot per limit it is under: ``family:<family>`` with the family's
``max_running`` as capacity, and ``resource:<name>`` for each entry of ``resources`` with the
run's capacity for it (``[resources]`` and ``--resources`` of the submitter, stored in the run's
meta). The slots are taken in the claim script (``joins.lua``, functions in ``semaphore.lua``),
all of a task's slots in one atomic step, and only when every one of them has room:

* a slot is a lease on Redis ``TIME``; the worker renews it with the claim while ``run()``
  executes, and the reaper gives back the slots of holders that stopped renewing;
* a task that finds no room is *parked* in Redis, in line by priority and arrival, and its
  message is acknowledged: no worker process ever waits for a slot;
* a release (the end of an attempt, including one that will be retried after a delay) hands the
  room to the parked tasks ahead of new arrivals: they get the slots under a fresh lease and go
  back to their run's outbox, and the releasing worker publishes them.

This module holds the Python side: what a task demands and a read-only view for status and
tests. The Redis key schema is in :mod:`celery_app.keys`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from celery_app.keys import DEFAULT_PREFIX, Keys
from dagcore.task import Task

__all__ = ["RUN_CAPACITY", "Demand", "SemaphoreView", "Slot", "demand_of"]

RUN_CAPACITY = -1
"""A slot capacity meaning "the run's capacity for this resource" (looked up in Redis)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """Units of one semaphore a task needs while it runs."""

    name: str
    units: int
    capacity: int

    def line(self) -> str:
        """The slot as the Lua scripts read it."""
        return f"{self.name}\t{self.units}\t{self.capacity}"


@dataclass(frozen=True, slots=True)
class Demand:
    """Every slot a task needs; empty for a task under no limit (the claim then skips them)."""

    slots: tuple[Slot, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.slots)

    def encoded(self) -> str:
        """``name<TAB>units<TAB>capacity`` lines (``semaphore.lua``)."""
        return "\n".join(slot.line() for slot in self.slots)

    def names(self) -> str:
        """The semaphore names, one per line."""
        return "\n".join(slot.name for slot in self.slots)


NO_DEMAND = Demand()


def demand_of(task: Task) -> Demand:
    """The slots ``task`` needs: its family's ``max_running`` and its ``resources``.

    Raises:
        ValueError: ``max_running`` below 1 or a negative resource amount, naming the task.
    """
    slots: list[Slot] = []
    limit = getattr(task, "max_running", None)
    if limit is not None:
        if int(limit) < 1:
            raise ValueError(f"{task!r}: max_running must be at least 1, not {limit}")
        slots.append(Slot(f"family:{task.get_task_family()}", 1, int(limit)))
    resources: Mapping[str, Any] = task.resources or {}
    for name, amount in sorted(resources.items()):
        units = int(amount)
        if units < 0:
            raise ValueError(f"{task!r}: resource {name!r} amount must be >= 0, not {amount}")
        if units:
            slots.append(Slot(f"resource:{name}", units, RUN_CAPACITY))
    return Demand(tuple(slots)) if slots else NO_DEMAND


@dataclass(frozen=True)
class SemaphoreState:
    """One semaphore as Redis has it now."""

    name: str
    used: int
    capacity: int | None
    holders: dict[str, int]
    waiters: list[str]


class SemaphoreView:
    """Reads semaphores (for ``dagcore status``, the benchmark and tests); changes nothing."""

    def __init__(self, redis: Redis[Any], prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = redis
        self.keys = Keys(prefix)

    def names(self) -> list[str]:
        """The semaphores in use."""
        return sorted(_text(n) for n in self.redis.smembers(self.keys.sems))

    def state(self, name: str) -> SemaphoreState:
        """Units used, capacity, live holders (with their units) and the waiters in line."""
        keys = self.keys.sem(name)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.state)
        pipe.hgetall(keys.units)
        pipe.zrange(keys.waiters, 0, -1)
        state, units, waiters = pipe.execute()
        fields = {_text(k): _text(v) for k, v in state.items()}
        capacity = fields.get("capacity")
        return SemaphoreState(
            name=name,
            used=int(fields.get("used", 0)),
            capacity=int(capacity) if capacity is not None else None,
            holders={_text(k): int(v) for k, v in units.items()},
            waiters=[_text(w) for w in waiters],
        )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
