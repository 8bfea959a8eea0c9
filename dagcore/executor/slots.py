"""In-process admission control for the local executor: priority, ``max_running``, resources.

Ready tasks wait in a heap ordered by effective priority (higher first, then plan order). A task
whose family is at ``max_running`` or whose resources are short is parked under that reason and
woken when a task holding it finishes, so no scheduling pass scans blocked tasks twice.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping

from dagcore.errors import ExecutionError
from dagcore.plan import Node, Plan

__all__ = ["ReadyQueue", "Slots", "check_capacities"]

# Luigi gives a resource nobody configured a capacity of one.
DEFAULT_CAPACITY = 1


class Slots:
    """Counts of running tasks per family and units of resources in use."""

    def __init__(self, capacities: Mapping[str, int]) -> None:
        self.capacities = dict(capacities)
        self.family_running: dict[str, int] = {}
        self.resource_used: dict[str, int] = {}

    def blocker(self, node: Node) -> tuple[str, str] | None:
        """What keeps ``node`` from starting now: ("family", name), ("resource", name), or None."""
        if node.max_running is not None:
            if self.family_running.get(node.family, 0) >= node.max_running:
                return ("family", node.family)
        for name, amount in node.resources.items():
            capacity = self.capacities.get(name, DEFAULT_CAPACITY)
            if self.resource_used.get(name, 0) + amount > capacity:
                return ("resource", name)
        return None

    def acquire(self, node: Node) -> None:
        """Take the slots of ``node`` (callers check :meth:`blocker` first)."""
        self.family_running[node.family] = self.family_running.get(node.family, 0) + 1
        for name, amount in node.resources.items():
            self.resource_used[name] = self.resource_used.get(name, 0) + amount

    def release(self, node: Node) -> list[tuple[str, str]]:
        """Give back the slots of ``node``; return the reasons that may now admit others."""
        self.family_running[node.family] -= 1
        freed = [("family", node.family)]
        for name, amount in node.resources.items():
            self.resource_used[name] -= amount
            freed.append(("resource", name))
        return freed


class ReadyQueue:
    """Ready tasks by priority, with parking for tasks blocked on slots."""

    def __init__(self, plan: Plan, slots: Slots) -> None:
        self._plan = plan
        self._slots = slots
        self._heap: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._parked: dict[tuple[str, str], list[str]] = {}
        self._parked_count = 0

    def __len__(self) -> int:
        return len(self._heap) + self._parked_count

    def push(self, task_id: str) -> None:
        """Add a ready task."""
        node = self._plan.nodes[task_id]
        heapq.heappush(self._heap, (-node.priority, next(self._seq), task_id))

    def pop(self) -> str | None:
        """The highest-priority task that can start now (its slots taken), or None."""
        while self._heap:
            _, _, task_id = heapq.heappop(self._heap)
            node = self._plan.nodes[task_id]
            reason = self._slots.blocker(node)
            if reason is None:
                self._slots.acquire(node)
                return task_id
            self._parked.setdefault(reason, []).append(task_id)
            self._parked_count += 1
        return None

    def release(self, task_id: str) -> None:
        """A task that held slots ended: free them and wake what waited on them."""
        for reason in self._slots.release(self._plan.nodes[task_id]):
            waiting = self._parked.pop(reason, None)
            if waiting:
                self._parked_count -= len(waiting)
                for waiter in waiting:
                    self.push(waiter)

    def drain(self) -> list[str]:
        """Remove and return every queued task (for cancellation)."""
        out = [task_id for _, _, task_id in self._heap]
        for waiting in self._parked.values():
            out.extend(waiting)
        self._heap.clear()
        self._parked.clear()
        self._parked_count = 0
        return out


def check_capacities(plan: Plan, capacities: Mapping[str, int]) -> None:
    """Fail before running if some task needs more of a resource than exists.

    Raises:
        ExecutionError: names the task, the resource, and how to raise the capacity.
    """
    for task_id in plan.to_run():
        node = plan.nodes[task_id]
        for name, amount in node.resources.items():
            capacity = capacities.get(name, DEFAULT_CAPACITY)
            if amount > capacity:
                raise ExecutionError(
                    f"{node.label or task_id} needs {amount} of resource '{name}' but only "
                    f"{capacity} exist; set '{name} = {amount}' (or more) under [resources] "
                    f"or pass --resources {name}={amount}"
                )
        if node.max_running is not None and node.max_running < 1:
            raise ExecutionError(
                f"{node.label or task_id}: max_running must be at least 1, got {node.max_running}"
            )
