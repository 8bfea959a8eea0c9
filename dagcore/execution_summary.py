"""Luigi's ``execution_summary`` module: the summary of what a :class:`~dagcore.worker.Worker` did.

dagcore's own runs are summarised by :mod:`dagcore.summary` from the plan and the executor's
result. Code written for Luigi asks a worker instead: ``summary(worker)`` for the text,
``_summary_dict(worker)`` for the tasks per outcome (Luigi's keys: ``already_done``,
``completed``, ``failed``, ``still_pending_ext``, ``upstream_failure``, ...), and
:class:`LuigiRunResult` is what ``build(..., detailed_summary=True)`` returns when it is given
a ``worker_scheduler_factory``. Families are folded into ranges exactly as in dagcore's summary.
"""

from __future__ import annotations

from typing import Any

from dagcore.parameter import IntParameter
from dagcore.summary import DEFAULT_SUMMARY_LENGTH, StatusCode, Summary, summarize
from dagcore.summary import _Renderer as Renderer
from dagcore.task import Config, Task

__all__ = [
    "LuigiRunResult",
    "LuigiStatusCode",
    "StatusCode",
    "Summary",
    "execution_summary",
    "summarize",
    "summary",
]

#: Luigi's name for the verdict of a run.
LuigiStatusCode = StatusCode


class execution_summary(Config):  # noqa: N801 - Luigi's config section and class name
    """``[execution_summary]``: how many families each group lists before ``...``."""

    summary_length = IntParameter(default=DEFAULT_SUMMARY_LENGTH)


_KEYS = (
    "already_done",
    "completed",
    "ever_failed",
    "failed",
    "scheduling_error",
    "still_pending_ext",
    "still_pending_not_ext",
    "run_by_other_worker",
    "upstream_failure",
    "upstream_missing_dependency",
    "upstream_run_by_other_worker",
    "upstream_scheduling_error",
    "not_run",
)

# Groups at the top level, then the pending ones, with their phrases (Luigi's wording).
_TOP = (
    ("already_done", "complete ones were encountered"),
    ("completed", "ran successfully"),
    ("failed", "failed"),
    ("scheduling_error", "failed scheduling"),
)
_PENDING = (
    ("still_pending_ext", "were missing external dependencies"),
    ("run_by_other_worker", "were being run by another worker"),
    ("upstream_failure", "had failed dependencies"),
    ("upstream_missing_dependency", "had missing dependencies"),
    ("upstream_run_by_other_worker", "had dependencies that were being run by other worker"),
    ("upstream_scheduling_error", "had dependencies whose scheduling failed"),
    ("not_run", "was not granted run permission by the scheduler"),
)
# What a dependency in one group makes of a pending task that requires it.
_UPSTREAM = (
    (("failed", "upstream_failure"), "upstream_failure"),
    (("still_pending_ext", "upstream_missing_dependency"), "upstream_missing_dependency"),
    (("run_by_other_worker", "upstream_run_by_other_worker"), "upstream_run_by_other_worker"),
    (("scheduling_error", "upstream_scheduling_error"), "upstream_scheduling_error"),
)


def _partition(worker: Any) -> dict[str, set[Task]]:
    history = worker._add_task_history
    sets: dict[str, set[Task]] = {key: set() for key in _KEYS}
    pending = {task for task, status, _ in history if status == "PENDING"}
    sets["completed"] = {t for t, s, _ in history if s == "DONE" and t in pending}
    sets["already_done"] = {
        t for t, s, _ in history if s == "DONE" and t not in pending and t not in sets["completed"]
    }
    sets["ever_failed"] = {t for t, s, _ in history if s == "FAILED"}
    sets["failed"] = sets["ever_failed"] - sets["completed"]
    sets["scheduling_error"] = {t for t, s, _ in history if s == "UNKNOWN"}
    settled = sets["ever_failed"] | sets["completed"]
    for task, status, runnable in history:
        if status != "PENDING" or task in settled:
            continue
        sets["still_pending_not_ext" if runnable else "still_pending_ext"].add(task)
    return sets


def _other_workers(worker: Any) -> dict[str, set[str]]:
    """Task ids other workers were running when this one asked for work, by worker."""
    out: dict[str, set[str]] = {}
    for reply in worker._get_work_response_history:
        for running in reply.get("running_tasks") or ():
            other = running.get("worker")
            if other and other != worker._id:
                out.setdefault(other, set()).add(running["task_id"])
    return out


def _explain_pending(worker: Any, sets: dict[str, set[Task]]) -> None:
    """Sort the runnable-but-pending tasks by what upstream stopped them (depth first)."""
    by_other = set().union(*_other_workers(worker).values()) if _other_workers(worker) else set()
    for task in list(sets["still_pending_not_ext"]):
        if task.task_id in by_other:
            sets["run_by_other_worker"].add(task)
    visited: set[str] = set()
    for task in sorted(sets["still_pending_not_ext"], key=lambda t: t.task_id):
        _visit(task, sets, visited)


def _visit(root: Task, sets: dict[str, set[Task]], visited: set[str]) -> None:
    stack: list[tuple[Task, bool]] = [(root, False)]
    while stack:
        task, expanded = stack.pop()
        if expanded:
            _classify(task, sets)
            continue
        if task.task_id in visited:
            continue
        visited.add(task.task_id)
        stack.append((task, True))
        if task not in sets["still_pending_not_ext"]:
            continue
        for dep in _deps(task):
            if dep.task_id not in visited:
                stack.append((dep, False))


def _deps(task: Task) -> list[Task]:
    try:
        return [d for d in task.deps() if isinstance(d, Task)]
    except Exception:  # its requires() raised: it is a scheduling error already
        return []


def _classify(task: Task, sets: dict[str, set[Task]]) -> None:
    if task not in sets["still_pending_not_ext"] or task in sets["run_by_other_worker"]:
        return
    upstream = False
    for dep in _deps(task):
        for sources, target in _UPSTREAM:
            if any(dep in sets[s] for s in sources):
                sets[target].add(task)
                upstream = True
    if not upstream:
        sets["not_run"].add(task)


def _summary_dict(worker: Any) -> dict[str, set[Task]]:
    """The tasks ``worker`` saw, per outcome, with Luigi's keys."""
    sets = _partition(worker)
    _explain_pending(worker, sets)
    return sets


def _tasks_status(sets: dict[str, Any]) -> StatusCode:
    """The verdict of a run from its summary dict, in Luigi's order of precedence."""
    if sets["ever_failed"]:
        if not sets["failed"]:
            return StatusCode.SUCCESS_WITH_RETRY
        if sets["scheduling_error"]:
            return StatusCode.FAILED_AND_SCHEDULING_FAILED
        return StatusCode.FAILED
    if sets["scheduling_error"]:
        return StatusCode.SCHEDULING_FAILED
    if sets["not_run"]:
        return StatusCode.NOT_RUN
    if sets["still_pending_ext"]:
        return StatusCode.MISSING_EXT
    return StatusCode.SUCCESS


def _title() -> str:
    from dagcore import luigi_alias

    return "Luigi" if luigi_alias.installed() else "dagcore"


def _body(worker: Any, sets: dict[str, set[Task]]) -> str:
    plan = worker._plan
    render = Renderer(plan, None, execution_summary().summary_length)

    def group(tasks: set[Task], nested: bool) -> list[str]:
        ids = [t.task_id for t in tasks if t.task_id in plan.nodes]
        return render.group(ids, nested)

    top_level = ("already_done", "completed", "failed", "scheduling_error")
    total = sum(len(sets[k]) for k in (*top_level, "still_pending_ext", "still_pending_not_ext"))
    if total == 0:
        return "Did not schedule any tasks"
    lines = [f"Scheduled {total} tasks of which:"]
    for key, phrase in _TOP:
        if sets[key]:
            lines.append(f"* {len(sets[key])} {phrase}:")
            lines.extend(group(sets[key], nested=False))
    left = len(sets["still_pending_ext"]) + len(sets["still_pending_not_ext"])
    if left:
        lines.append(f"* {left} were left pending, among these:")
        for key, phrase in _PENDING:
            if sets[key]:
                lines.append(f"    * {len(sets[key])} {phrase}:")
                lines.extend(group(sets[key], nested=True))
    text = "\n".join(lines) + "\n"
    others = _other_workers(worker)
    if others:
        text += "\nThe other workers were:\n"
        for count, (name, ids) in enumerate(others.items()):
            if 3 < count < len(others) - 1:
                text += f"    and {len(others) - count} other workers"
                break
            text += f"    - {name} ran {len(ids)} tasks\n"
        text += "\n"
    ran = len(sets["completed"]) + len(sets["failed"])
    if ran == 0:
        text += "" if others else "\n"
        text += "Did not run any tasks"
    return text + "\n" + _tasks_status(sets).one_line_summary


def summary(worker: Any) -> str:
    """Luigi's execution summary of what ``worker`` did, header and footer included."""
    rule = f"===== {_title()} Execution Summary ====="
    return f"\n{rule}\n\n{_body(worker, _summary_dict(worker))}\n\n{rule}\n"


class LuigiRunResult:
    """What ``build``/``run`` return with ``detailed_summary=True`` on the worker path.

    Attributes: ``worker``, ``summary_text``, ``status`` (a :class:`LuigiStatusCode`),
    ``one_line_summary``, ``scheduling_succeeded``.
    """

    def __init__(self, worker: Any, worker_add_run_status: bool = True) -> None:
        self.worker = worker
        sets = _summary_dict(worker)
        self.summary_text = summary(worker)
        self.status = _tasks_status(sets)
        self.one_line_summary = self.status.one_line_summary
        self.scheduling_succeeded = worker_add_run_status

    def __str__(self) -> str:
        return f"LuigiRunResult with status {self.status}"

    def __repr__(self) -> str:
        return (
            f"LuigiRunResult(status={self.status!r}, worker={self.worker!r}, "
            f"scheduling_succeeded={self.scheduling_succeeded!r})"
        )
