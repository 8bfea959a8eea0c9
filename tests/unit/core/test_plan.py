"""The run state machine: ready sets, failures propagate, dynamic requirements join."""

from __future__ import annotations

import pytest

from dagcore.plan import Node, Plan, RetryPolicy, RunState, TaskState


def _plan(edges: dict[str, list[str]], complete: set[str] | None = None) -> Plan:
    plan = Plan(roots=[])
    for task_id, deps in edges.items():
        plan.nodes[task_id] = Node(
            task_id, "F", "m", {}, deps=list(deps), complete=task_id in (complete or set())
        )
    return plan


def test_diamond_runs_in_dependency_order() -> None:
    state = RunState(_plan({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}))
    assert state.ready() == ["a"]
    assert state.ready() == []  # handed out once
    state.start("a")
    assert sorted(state.done("a")) == ["b", "c"]
    state.start("b")
    assert state.done("b") == []
    state.start("c")
    assert state.done("c") == ["d"]
    assert state.done("c") == []  # idempotent
    state.start("d")
    state.done("d")
    assert state.is_finished()
    assert state.count(TaskState.DONE) == 4


def test_complete_nodes_start_done() -> None:
    state = RunState(_plan({"a": [], "b": ["a"]}, complete={"a"}))
    assert state.ready() == ["b"]
    assert state.state["a"] is TaskState.DONE


def test_failure_marks_everything_downstream() -> None:
    state = RunState(_plan({"a": [], "x": [], "b": ["a"], "c": ["b", "x"], "d": ["x"]}))
    assert sorted(state.ready()) == ["a", "x"]
    state.start("a")
    assert sorted(state.failed("a")) == ["b", "c"]
    assert state.state["d"] is TaskState.PENDING
    state.start("x")
    assert state.done("x") == ["d"]  # c stays upstream-failed
    state.start("d")
    state.done("d")
    assert state.is_finished()
    assert state.state["c"] is TaskState.UPSTREAM_FAILED


def test_retry_and_bad_transitions() -> None:
    state = RunState(_plan({"a": []}))
    state.ready()
    state.start("a")
    state.retry("a")
    assert state.state["a"] is TaskState.READY
    state.start("a")
    with pytest.raises(ValueError, match="expected one of"):
        state.start("a")


def test_requeue_with_dynamic_requirements() -> None:
    plan = _plan({"parent": []})
    state = RunState(plan)
    state.ready()
    state.start("parent")
    new = [Node("n1", "F", "m", {}), Node("n2", "F", "m", {}, deps=["n1"])]
    ready = state.requeue("parent", new, ["n2"])
    assert ready == ["n1"]
    assert state.state["parent"] is TaskState.PENDING
    state.start("n1")
    assert state.done("n1") == ["n2"]
    state.start("n2")
    assert state.done("n2") == ["parent"]
    state.start("parent")
    # yielding requirements that are already done makes the parent ready at once
    assert state.requeue("parent", [], ["n1"]) == ["parent"]


def test_requeue_on_a_failed_requirement_blocks_the_parent() -> None:
    state = RunState(_plan({"bad": [], "parent": []}))
    state.ready()
    state.start("bad")
    state.failed("bad")
    state.start("parent")
    state.requeue("parent", [], ["bad"])
    assert state.state["parent"] is TaskState.UPSTREAM_FAILED


def test_cancel_pending() -> None:
    state = RunState(_plan({"a": [], "b": ["a"]}))
    state.ready()
    state.start("a")
    assert state.cancel_pending() == ["b"]
    assert state.state["b"] is TaskState.CANCELLED


def test_retry_policy() -> None:
    policy = RetryPolicy(count=2, delay=1.0, backoff=3.0)
    assert policy.allows(1) and policy.allows(3) and not policy.allows(4)
    assert policy.delay_before(2) == 1.0
    assert policy.delay_before(3) == 3.0
