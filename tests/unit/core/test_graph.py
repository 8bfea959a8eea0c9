"""The resolver: dedupe, stop at complete tasks, problems collected before anything runs."""

from __future__ import annotations

from typing import Any

import pytest

from dagcore.errors import GraphError
from dagcore.event import Event
from dagcore.graph import CycleError, Resolver, RoutingRules, raise_for_cycle, resolve
from dagcore.graph_format import render_plan
from dagcore.mock import MockFileSystem, MockTarget
from dagcore.parameter.base import Parameter
from dagcore.plan import RetryPolicy
from dagcore.task import ExternalTask, Task


@pytest.fixture(autouse=True)
def _clear_mock_fs() -> None:
    MockFileSystem().clear()


class Leaf(Task):
    name = Parameter()

    def output(self) -> MockTarget:
        return MockTarget(f"leaf/{self.name}")


class Mid(Task):
    name = Parameter()
    priority = 5

    def requires(self) -> Any:
        return {"left": Leaf(name=self.name + "-l"), "shared": Leaf(name="shared")}

    def output(self) -> MockTarget:
        return MockTarget(f"mid/{self.name}")


class Top(Task):
    priority = 50

    def requires(self) -> Any:
        return [Mid(name="a"), Mid(name="b")]

    def output(self) -> MockTarget:
        return MockTarget("top")


def test_resolves_diamond_dedupes_and_orders_priority() -> None:
    plan = resolve([Top(), Top()])
    assert plan.ok
    assert plan.roots == [Top().task_id]
    assert len(plan.nodes) == 1 + 2 + 3  # the shared leaf appears once
    shared = Leaf(name="shared").task_id
    assert sorted(plan.dependents()[shared]) == sorted(
        [Mid(name="a").task_id, Mid(name="b").task_id]
    )
    # dependencies inherit the highest priority of what waits for them
    assert plan.nodes[shared].priority == 50
    assert plan.nodes[Mid(name="a").task_id].priority == 50
    assert set(plan.to_run()) == set(plan.nodes)


def test_stops_descending_at_complete_tasks() -> None:
    Mid(name="a").output().open("w").close()
    plan = resolve([Top()])
    mid_a = plan.nodes[Mid(name="a").task_id]
    assert mid_a.complete and mid_a.deps == []
    assert Leaf(name="a-l").task_id not in plan.nodes  # below a complete task: not visited
    assert Leaf(name="b-l").task_id in plan.nodes


class Cyclic(Task):
    n = Parameter()

    def requires(self) -> Any:
        return Cyclic(n=str((int(self.n) + 1) % 3))


def test_cycle_is_reported_with_its_path() -> None:
    plan = resolve([Cyclic(n="0")])
    assert not plan.ok
    assert plan.cycle is not None
    labels = [plan.label(t) for t in plan.cycle]
    assert labels[0] == labels[-1]
    assert set(labels) == {"Cyclic(n=0)", "Cyclic(n=1)", "Cyclic(n=2)"}
    assert "Cyclic(n=0) -> Cyclic(n=1) -> Cyclic(n=2) -> Cyclic(n=0)" in plan.problems()[0]
    with pytest.raises(CycleError, match="Cyclic.* -> .*Cyclic"):
        raise_for_cycle(plan)


class BrokenRequires(Task):
    def requires(self) -> Any:
        raise ValueError("no database configured")


class BrokenComplete(Task):
    def complete(self) -> bool:
        raise OSError("S3 unreachable")


class NotATask(Task):
    def requires(self) -> Any:
        return ["just a string"]


class Missing(ExternalTask):
    def output(self) -> MockTarget:
        return MockTarget("never-there")


class NeedsAll(Task):
    def requires(self) -> Any:
        return [BrokenRequires(), BrokenComplete(), NotATask(), Missing()]


def test_broken_and_missing_tasks_are_collected() -> None:
    broken: list[Task] = []
    missing: list[Task] = []
    NeedsAll.event_handler(Event.BROKEN_TASK)(lambda task, exc: broken.append(task))
    NeedsAll.event_handler(Event.DEPENDENCY_MISSING)(lambda task: missing.append(task))
    Task.event_handler(Event.BROKEN_TASK)(lambda task, exc: broken.append(task))
    Task.event_handler(Event.DEPENDENCY_MISSING)(lambda task: missing.append(task))
    try:
        plan = resolve([NeedsAll()])
    finally:
        Task._event_callbacks.pop(Task, None)
        Task._event_callbacks.pop(NeedsAll, None)
    assert not plan.ok
    assert set(plan.broken) == {
        BrokenRequires().task_id,
        BrokenComplete().task_id,
        NotATask().task_id,
    }
    assert "no database configured" in plan.broken[BrokenRequires().task_id]
    assert "S3 unreachable" in plan.broken[BrokenComplete().task_id]
    assert "not a Task" in plan.broken[NotATask().task_id]
    assert plan.missing == [Missing().task_id]
    # Luigi's events: a complete() that raises reports the task missing, not broken.
    assert {t.task_id for t in broken} == set(plan.broken) - {BrokenComplete().task_id}
    assert {t.task_id for t in missing} == {*plan.missing, BrokenComplete().task_id}
    text = "\n".join(plan.problems())
    assert "missing external input Missing()" in text
    assert "broken task BrokenRequires()" in text


class Wide(Task):
    n = Parameter()

    def requires(self) -> Any:
        return [Leaf(name=str(i)) for i in range(int(self.n))]

    def output(self) -> MockTarget:
        return MockTarget("wide")


def test_thread_pool_gives_the_same_plan() -> None:
    for i in range(0, 500, 3):
        Leaf(name=str(i)).output().open("w").close()
    serial = Resolver(threads=1).resolve([Wide(n="500")])
    pooled = Resolver(threads=8).resolve([Wide(n="500")])
    assert serial.nodes.keys() == pooled.nodes.keys()
    assert {t for t, n in serial.nodes.items() if n.complete} == {
        t for t, n in pooled.nodes.items() if n.complete
    }
    assert sum(1 for n in pooled.nodes.values() if n.complete) == 167


class Routed(Task):
    resource_class = "gpu"
    retry_count = 2

    def output(self) -> MockTarget:
        return MockTarget("routed")


class ByResource(Task):
    resources = {"db": 1}
    worker_timeout = 30.0

    def output(self) -> MockTarget:
        return MockTarget("by-resource")


def test_routing_rules_and_defaults() -> None:
    rules = RoutingRules(
        class_to_queue={"gpu": "gpu-queue"},
        resource_to_queue={"db": "io"},
        retry=RetryPolicy(count=1, delay=5.0, backoff=2.0),
        timeout=99.0,
    )
    plan = Resolver(rules).resolve([Routed(), ByResource(), Leaf(name="x")])
    routed = plan.nodes[Routed().task_id]
    assert routed.queue == "gpu-queue"
    assert routed.retry == RetryPolicy(count=2, delay=5.0, backoff=2.0)
    assert routed.timeout == 99.0
    by_resource = plan.nodes[ByResource().task_id]
    assert by_resource.queue == "io" and by_resource.timeout == 30.0
    assert by_resource.resources == {"db": 1}
    assert plan.nodes[Leaf(name="x").task_id].queue == "default"


def test_render_formats() -> None:
    plan = resolve([Top()])
    text = render_plan(plan, "text")
    assert text.splitlines()[0].startswith("- Top() [pending")
    assert "(see above)" in text  # the shared leaf
    dot = render_plan(plan, "dot")
    assert dot.startswith("digraph") and dot.count("->") == 6
    mermaid = render_plan(plan, "mermaid")
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") == 6
    assert '"roots"' in render_plan(plan, "json")
    with pytest.raises(ValueError, match="unknown format"):
        render_plan(plan, "svg")


class SlowCheck(Task):
    """A completeness check that waits, like an S3 HEAD request."""

    n = Parameter()

    def complete(self) -> bool:
        import time

        time.sleep(0.01)
        return False


class ManySlow(Task):
    def requires(self) -> Any:
        return [SlowCheck(n=str(i)) for i in range(400)]

    def output(self) -> MockTarget:
        return MockTarget("many-slow")


def test_waiting_checks_overlap_on_the_thread_pool() -> None:
    import time

    started = time.perf_counter()
    plan = Resolver(threads=16).resolve([ManySlow()])
    elapsed = time.perf_counter() - started
    assert len(plan.nodes) == 401
    # 400 checks of 10 ms each: serially >= 4 s; overlapped on 16 threads well under that
    assert elapsed < 2.0


def test_broken_task_event_carries_the_exception_requires_raised() -> None:
    seen: list[BaseException] = []
    BrokenRequires.event_handler(Event.BROKEN_TASK)(lambda task, exc: seen.append(exc))
    try:
        resolve([BrokenRequires()])
    finally:
        Task._event_callbacks.pop(BrokenRequires, None)
    assert len(seen) == 1 and "no database configured" in str(seen[0])
    assert not isinstance(seen[0], GraphError)  # the task's own exception, as in Luigi


def test_a_task_whose_run_is_not_implemented_is_external() -> None:
    task = NeedsAll()
    task.run = NotImplemented  # type: ignore[method-assign]
    plan = resolve([task])
    assert plan.nodes[task.task_id].external and plan.missing == [task.task_id]
    assert len(plan.nodes) == 1  # an external task's requirements are not walked
