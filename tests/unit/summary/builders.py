"""Plans and run results built by hand, the way the resolver and an executor would build them."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from dagcore.configuration.settings import RetcodeSettings
from dagcore.executor.base import RunResult
from dagcore.executor.runner import Outcome, OutcomeStatus
from dagcore.plan import Node, Plan, RunState
from dagcore.task import ExternalTask, Task, flatten

# Luigi's documented recommended codes, all distinct so a test can tell which one won.
RECOMMENDED = RetcodeSettings(
    already_running=10,
    missing_data=20,
    not_run=25,
    task_failed=30,
    scheduling_error=35,
    unhandled_exception=40,
)


def node(
    task_id: str,
    deps: Iterable[str] = (),
    *,
    family: str | None = None,
    params: dict[str, str] | None = None,
    complete: bool = False,
    external: bool = False,
    label: str | None = None,
) -> Node:
    """A node whose family defaults to its id and whose label is ``Family(k=v, ...)``."""
    fam = family or task_id
    params = params or {}
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return Node(
        task_id=task_id,
        family=fam,
        module="tests.unit.summary.tasks",  # where the test families live
        params=params,
        deps=list(deps),
        complete=complete,
        external=external,
        label=label if label is not None else f"{fam}({shown})",
    )


def plan_of(
    *nodes: Node,
    roots: list[str] | None = None,
    broken: dict[str, str] | None = None,
    cycle: list[str] | None = None,
) -> Plan:
    """A plan of the given nodes; missing externals are derived from the nodes."""
    plan = Plan(roots=roots if roots is not None else [nodes[0].task_id] if nodes else [])
    for n in nodes:
        plan.nodes[n.task_id] = n
        if n.external and not n.complete:
            plan.missing.append(n.task_id)
    plan.broken.update(broken or {})
    plan.cycle = cycle
    return plan


def plan_from(
    roots: Sequence[Task],
    complete: Iterable[str] = (),
    broken: dict[str, str] | None = None,
    live: bool = True,
) -> Plan:
    """Resolve tasks by hand: labels in ``complete`` are complete, in ``broken`` raise.

    With ``live=False`` the live task objects are left out, as for a plan read back from JSON.
    """
    done, broken = set(complete), broken or {}
    plan = Plan(roots=[t.task_id for t in roots])
    queue: deque[Task] = deque(roots)
    seen = {t.task_id for t in roots}
    while queue:
        task = queue.popleft()
        label = repr(task)
        n = Node(
            task.task_id,
            task.get_task_family(),
            task.task_module,
            task.to_str_params(),
            label=label,
        )
        plan.nodes[task.task_id] = n
        if live:
            plan.tasks[task.task_id] = task
        if label in broken:
            plan.broken[task.task_id] = broken[label]
        elif label in done:
            n.complete = True
        elif isinstance(task, ExternalTask):
            n.external = True
            plan.missing.append(task.task_id)
        else:
            deps = flatten(task.requires())
            n.deps = [d.task_id for d in deps]
            for dep in deps:
                if dep.task_id not in seen:
                    seen.add(dep.task_id)
                    queue.append(dep)
    return plan


def _outcome(status: OutcomeStatus, at: float, error: str | None = None) -> Outcome:
    if error is None:
        return Outcome(status, at, at + 1.0)
    return Outcome(status, at, at + 1.0, error_type="ValueError", error_message=error)


def simulate(
    plan: Plan,
    fail: Iterable[str] = (),
    flaky: Iterable[str] = (),
    cancel_after: int | None = None,
) -> RunResult:
    """Run a plan one task at a time, as a one-worker executor would, without running code.

    Parameters:
        plan: the plan (must be runnable).
        fail: labels of tasks whose every attempt fails.
        flaky: labels of tasks whose first attempt fails and second succeeds.
        cancel_after: cancel the run once this many tasks have run.
    """
    failing, retrying = set(fail), set(flaky)
    state = RunState(plan)
    result = RunResult(run_id="run-1", plan=plan, state=state, started=1000.0)
    queue = deque(state.ready())
    clock, ran = 1000.0, 0
    while queue:
        if cancel_after is not None and ran >= cancel_after:
            state.cancel_pending()
            result.cancelled = True
            break
        task_id = queue.popleft()
        label = plan.label(task_id)
        attempts = result.attempts.setdefault(task_id, [])
        state.start(task_id)
        if label in retrying:
            attempts.append(_outcome(OutcomeStatus.FAILED, clock, f"flaky {label}"))
            state.retry(task_id)
            state.start(task_id)
        if label in failing:
            attempts.append(_outcome(OutcomeStatus.FAILED, clock, f"boom {label}\nmore detail"))
            state.failed(task_id)
        else:
            attempts.append(_outcome(OutcomeStatus.SUCCESS, clock))
            queue.extend(state.done(task_id))
        clock += 1.0
        ran += 1
    result.finished = clock
    return result
