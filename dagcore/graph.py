"""The resolver: from root tasks to a :class:`~dagcore.plan.Plan`, before anything runs.

It walks ``requires()`` breadth first, dedupes by ``task_id``, checks ``complete()`` for a whole
level at once on a thread pool (existence checks against S3 or a database are slow and overlap
well), and stops descending at complete tasks. Problems are collected, not raised one by one:
a ``requires()`` or ``complete()`` that raises, an external task whose outputs are missing, and
a dependency cycle (reported as ``A -> B -> A``). None of them stops the rest of the plan
from running (Luigi's semantics): a broken task is planned as a node that never runs, like an
external one, so only the tasks that require it stay pending. It is pure Python: no Celery,
no I/O of its own beyond what the tasks' ``complete()`` do.
"""

from __future__ import annotations

import gc
import heapq
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dagcore.errors import GraphError
from dagcore.event import Event
from dagcore.plan import Node, Plan, RetryPolicy
from dagcore.task import Task

__all__ = ["CycleError", "Resolver", "RoutingRules", "is_external", "resolve"]

# Below this many tasks in a level the thread pool costs more than it saves.
_POOL_THRESHOLD = 64
_CHUNK = 256
_PROBE = 32


class CycleError(GraphError):
    """The graph has a dependency cycle; ``cycle`` lists it, first task repeated at the end."""

    def __init__(self, cycle: list[str], labels: Sequence[str]) -> None:
        super().__init__("dependency cycle: " + " -> ".join(labels))
        self.cycle = cycle


@dataclass(frozen=True)
class RoutingRules:
    """How tasks map to queues and what the defaults of the scheduling attributes are.

    Parameters:
        class_to_queue: resource class -> queue name.
        resource_to_queue: resource name -> queue name (first match wins).
        default_queue: queue of tasks nothing else routes.
        retry: the default retry policy (``[core] retry_count`` and friends).
        timeout: the default ``worker_timeout`` (None: no limit).
    """

    class_to_queue: dict[str, str]
    resource_to_queue: dict[str, str]
    default_queue: str = "default"
    retry: RetryPolicy = RetryPolicy()
    timeout: float | None = None

    def queue_for(self, task: Task) -> str:
        """The queue a task's messages go to."""
        if task.resource_class:
            return self.class_to_queue.get(task.resource_class, task.resource_class)
        for name in task.process_resources():
            queue = self.resource_to_queue.get(name)
            if queue is not None:
                return queue
        return self.default_queue

    def retry_for(self, task: Task) -> RetryPolicy:
        """The task's own retry attributes, falling back to the defaults."""
        count = self.retry.count if task.retry_count is None else task.retry_count
        delay = self.retry.delay if task.retry_delay is None else task.retry_delay
        backoff = task.retry_backoff if task.retry_backoff != 1.0 else self.retry.backoff
        return RetryPolicy(count=int(count), delay=float(delay), backoff=float(backoff))


DEFAULT_RULES = RoutingRules(class_to_queue={}, resource_to_queue={})


@dataclass(slots=True)
class _Expanded:
    complete: bool = False
    deps: list[Task] | None = None
    error: str | None = None
    exception: Exception | None = None
    in_complete: bool = False  # the error came from complete()


def is_external(task: Task) -> bool:
    """True for a task this process never runs (``run`` is None or NotImplemented)."""
    return task.run is None or task.run is NotImplemented


def _expand(task: Task) -> _Expanded:
    """Check one task: complete? if not, its requirements. Exceptions become errors."""
    try:
        if task.complete():
            return _Expanded(complete=True)
    except Exception as exc:
        error = f"complete() of {task!r} failed:\n{traceback.format_exc()}"
        return _Expanded(error=error, exception=exc, in_complete=True)
    if is_external(task):
        return _Expanded(deps=[])
    try:
        deps = task.deps()  # as Luigi's worker: @delegates and deps() overrides count
    except Exception as exc:
        error = f"requires() of {task!r} failed:\n{traceback.format_exc()}"
        return _Expanded(error=error, exception=exc)
    for dep in deps:
        if not isinstance(dep, Task):
            return _Expanded(
                error=f"requires() of {task!r} returned {dep!r}, which is not a Task; "
                "return task instances (or lists/dicts of them)"
            )
    return _Expanded(deps=deps)


def _expand_chunk(tasks: Sequence[Task]) -> list[_Expanded]:
    return [_expand(task) for task in tasks]


class Resolver:
    """Turns root tasks into a plan. Reusable for the requirements a task yields at run time.

    Parameters:
        rules: queue routing and scheduling defaults.
        threads: size of the thread pool for ``complete()`` checks (1: no pool).
        fire_events: trigger DEPENDENCY_* and BROKEN_TASK events on the tasks.
    """

    def __init__(
        self, rules: RoutingRules = DEFAULT_RULES, threads: int = 16, fire_events: bool = True
    ) -> None:
        self.rules = rules
        self.threads = max(1, threads)
        self.fire_events = fire_events
        self._waits_on_io: bool | None = None

    def resolve(self, roots: Iterable[Task], known: Callable[[str], bool] | None = None) -> Plan:
        """Resolve the graph under ``roots``.

        Parameters:
            roots: the tasks asked for.
            known: task ids for which this returns True are not expanded again (used when
                adding dynamic requirements to a running plan); they get no node.
        """
        self._waits_on_io = None
        # Resolving allocates hundreds of thousands of long-lived objects and no cyclic
        # garbage; the cyclic collector would rescan them over and over (a quarter of the time).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._resolve(roots, known)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _resolve(self, roots: Iterable[Task], known: Callable[[str], bool] | None) -> Plan:
        root_list = _dedupe(roots)
        plan = Plan(roots=[t.task_id for t in root_list])
        is_known = known or (lambda _task_id: False)
        seen = {t.task_id for t in root_list}
        level = [t for t in root_list if not is_known(t.task_id)]
        pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        try:
            while level:
                results = self._check(level, pool)
                next_level: list[Task] = []
                for task, result in zip(level, results, strict=True):
                    for dep in self._record(plan, task, result):
                        if dep.task_id not in seen:
                            seen.add(dep.task_id)
                            if not is_known(dep.task_id):
                                next_level.append(dep)
                level = next_level
        finally:
            if pool is not None:
                pool.shutdown(wait=False)
        self._finish(plan)
        return plan

    def _check(self, level: list[Task], pool: ThreadPoolExecutor | None) -> list[_Expanded]:
        if pool is None or len(level) < _POOL_THRESHOLD:
            return _expand_chunk(level)
        results: list[_Expanded] = []
        rest = level
        if self._waits_on_io is None:
            # Checks that wait (S3, a database) overlap well on threads; checks that only
            # compute (local stat calls, pure Python) just fight over the GIL. Time a sample.
            sample, rest = level[:_PROBE], level[_PROBE:]
            wall, cpu = time.perf_counter(), time.thread_time()
            results.extend(_expand_chunk(sample))
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            self._waits_on_io = wall > 2 * cpu
        if not self._waits_on_io:
            results.extend(_expand_chunk(rest))
            return results
        chunk = max(1, min(_CHUNK, len(rest) // (self.threads * 4)))
        chunks = [rest[i : i + chunk] for i in range(0, len(rest), chunk)]
        for part in pool.map(_expand_chunk, chunks):
            results.extend(part)
        return results

    def _record(self, plan: Plan, task: Task, result: _Expanded) -> list[Task]:
        node = self._node(task)
        plan.nodes[task.task_id] = node
        plan.tasks[task.task_id] = task
        if result.error is not None:
            # Never run (as an external task is not), and nothing under it is planned.
            plan.broken[task.task_id] = result.error
            node.external = True
            if self.fire_events:
                # As Luigi: a complete() that raises reports the task missing; a broken
                # requires() reports it broken, with the exception it raised.
                if result.in_complete:
                    task.trigger_event(Event.DEPENDENCY_MISSING, task)
                else:
                    exc = result.exception or GraphError(result.error)
                    task.trigger_event(Event.BROKEN_TASK, task, exc)
            return []
        if result.complete:
            node.complete = True
            if self.fire_events:
                task.trigger_event(Event.DEPENDENCY_PRESENT, task)
            return []
        if is_external(task):
            node.external = True
            plan.missing.append(task.task_id)
            if self.fire_events:
                task.trigger_event(Event.DEPENDENCY_MISSING, task)
            return []
        deps = _dedupe(result.deps or [])
        node.deps = [d.task_id for d in deps]
        if self.fire_events:
            for dep in deps:
                task.trigger_event(Event.DEPENDENCY_DISCOVERED, task, dep)
        return deps

    def _node(self, task: Task) -> Node:
        rules = self.rules
        timeout = task.worker_timeout if task.worker_timeout else rules.timeout
        return Node(
            task_id=task.task_id,
            family=task.get_task_family(),
            module=task.task_module,
            params=task.to_str_params(),
            queue=rules.queue_for(task),
            priority=int(task.priority),
            resources=dict(task.process_resources()),
            max_running=task.max_running,
            retry=rules.retry_for(task),
            timeout=float(timeout) if timeout else None,
            label=repr(task),
        )

    def _finish(self, plan: Plan) -> None:
        order = _topological_order(plan)
        if order is None:
            plan.cycle = _find_cycle(plan)
            return
        # A dependency runs at the highest priority of anything that waits for it (Luigi).
        for task_id in reversed(order):
            node = plan.nodes[task_id]
            for dep in node.deps:
                dep_node = plan.nodes[dep]
                if dep_node.priority < node.priority:
                    dep_node.priority = node.priority


def resolve(roots: Iterable[Task], rules: RoutingRules = DEFAULT_RULES, threads: int = 16) -> Plan:
    """Resolve ``roots`` into a plan with the given routing rules."""
    return Resolver(rules, threads).resolve(roots)


def raise_for_cycle(plan: Plan) -> None:
    """Raise :class:`CycleError` if the plan has a cycle."""
    if plan.cycle:
        raise CycleError(plan.cycle, [plan.label(t) for t in plan.cycle])


def _dedupe(tasks: Iterable[Task]) -> list[Task]:
    seen: set[str] = set()
    out: list[Task] = []
    for task in tasks:
        if task.task_id not in seen:
            seen.add(task.task_id)
            out.append(task)
    return out


def _topological_order(plan: Plan) -> list[str] | None:
    """Dependencies first; None if there is a cycle. Deterministic (heap on task id)."""
    nodes = plan.nodes
    remaining = {t: sum(1 for d in n.deps if d in nodes) for t, n in nodes.items()}
    dependents = plan.dependents()
    heap = [t for t, count in remaining.items() if count == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        task_id = heapq.heappop(heap)
        order.append(task_id)
        for dependent in dependents[task_id]:
            remaining[dependent] -= 1
            if remaining[dependent] == 0:
                heapq.heappush(heap, dependent)
    return order if len(order) == len(nodes) else None


def _find_cycle(plan: Plan) -> list[str]:
    """One cycle of the graph, as task ids with the first repeated at the end."""
    color: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(plan.nodes):
        if start in color:
            continue
        path: list[str] = [start]
        iters = [iter(plan.nodes[start].deps)]
        color[start] = 1
        while iters:
            dep = next(iters[-1], None)
            if dep is None:
                color[path.pop()] = 2
                iters.pop()
                continue
            if dep not in plan.nodes:
                continue
            if color.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in color:
                color[dep] = 1
                path.append(dep)
                iters.append(iter(plan.nodes[dep].deps))
    return []
