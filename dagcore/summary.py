"""The end-of-run execution summary, its status code and the process exit code.

The text has the shape of Luigi's execution summary, so people and scripts used to Luigi read
it as they read Luigi's: "Scheduled N tasks of which:", one group per outcome, tasks grouped by
family with a varying parameter folded into a range (``- 1000 Load(i=0...999)``), then "This
progress looks :) because ...". The exit code follows Luigi's ``[retcode]`` rules.

As in Luigi, a run with broken tasks or missing external inputs runs everything else, and the
tasks that needed them are pending "with missing dependencies" or "whose scheduling failed".
Where dagcore runs differently, the summary says so: with ``--fail-fast`` such a plan does not
run at all, so the tasks it would have run get a pending group of their own; a cycle is a
scheduling failure and is printed; a cancelled run has its own status; a failed or broken task's
first error line (with where it was raised) follows its family. Everything here is pure: plan
and result in, text and numbers out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dagcore.executor.runner import Outcome, OutcomeStatus
from dagcore.plan import Plan, TaskState, error_line
from dagcore.summary_fold import folded

if TYPE_CHECKING:
    from dagcore.configuration.settings import RetcodeSettings
    from dagcore.executor.base import RunResult

__all__ = ["DEFAULT_SUMMARY_LENGTH", "StatusCode", "Summary", "summarize"]

#: Families shown per group before "..." (Luigi's ``[execution_summary] summary_length``).
DEFAULT_SUMMARY_LENGTH = 5

_RULE = "===== dagcore Execution Summary ====="
_ERROR_WIDTH = 120  # an error line is a hint; the full traceback is in the history

# Attempt outcomes that count as a failure of the task (CANCELLED is the user's doing).
_FAILED_ATTEMPT = frozenset({OutcomeStatus.FAILED, OutcomeStatus.TIMEOUT, OutcomeStatus.LOST})

# Reasons a pending task could not run, as bits so a task can carry several (Luigi lists a
# task under every reason that applies).
_UP_FAILED, _UP_MISSING, _UP_SCHEDULING, _UP_CANCELLED = 1, 2, 4, 8


class StatusCode(enum.Enum):
    """The overall verdict of a run: Luigi's ``LuigiStatusCode`` plus CANCELLED.

    Each value is the smiley and the reason used in the "This progress looks ..." line.
    """

    _value_: tuple[str, str]

    SUCCESS = (":)", "there were no failed tasks or missing dependencies")
    SUCCESS_WITH_RETRY = (":)", "there were failed tasks but they all succeeded in a retry")
    FAILED = (":(", "there were failed tasks")
    FAILED_AND_SCHEDULING_FAILED = (
        ":(",
        "there were failed tasks and tasks whose scheduling failed",
    )
    SCHEDULING_FAILED = (":(", "there were tasks whose scheduling failed")
    NOT_RUN = (":|", "there were tasks that were not granted run permission by the scheduler")
    MISSING_EXT = (":|", "there were missing external dependencies")
    CANCELLED = (":|", "the run was cancelled")

    @property
    def smiley(self) -> str:
        """``:)``, ``:|`` or ``:(``."""
        return self.value[0]

    @property
    def phrase(self) -> str:
        """Why the run looks the way it does."""
        return self.value[1]

    @property
    def one_line_summary(self) -> str:
        """``This progress looks :) because ...``."""
        return f"This progress looks {self.smiley} because {self.phrase}"


@dataclass(frozen=True)
class Summary:
    """What ``build(..., detailed_summary=True)`` returns and the CLI prints.

    Parameters:
        status: the overall verdict.
        summary_text: the rendered execution summary, header and footer included.
        run_id: the run this summarises.
        exit_code: the process exit code under the ``[retcode]`` settings used.
        scheduling_succeeded: what ``build()`` returns, as Luigi's result of the same name:
            False if some task's ``requires()``/``complete()`` raised, the graph has a cycle,
            a task failed for good or the run was cancelled or stopped on an error; missing
            external inputs alone leave it True, as in Luigi. (A task that succeeded on one of
            dagcore's in-run retries counts as a success.)
    """

    status: StatusCode
    summary_text: str
    run_id: str
    exit_code: int
    scheduling_succeeded: bool

    @property
    def one_line_summary(self) -> str:
        """The "This progress looks ..." line alone."""
        return self.status.one_line_summary


# -- partition --------------------------------------------------------------------------------


@dataclass
class _Groups:
    """Every task id of the plan, sorted into the summary's groups."""

    already_done: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    scheduling_error: list[str] = field(default_factory=list)
    pending_ext: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    upstream_failure: list[str] = field(default_factory=list)
    upstream_missing: list[str] = field(default_factory=list)
    upstream_scheduling: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    retried: int = 0  # tasks that failed at least once and then succeeded


def _partition(plan: Plan, result: RunResult | None) -> _Groups:
    """Sort tasks into top-level groups, then explain the pending ones."""
    groups = _Groups()
    states = result.state.state if result is not None else {}
    attempts = result.attempts if result is not None else {}
    in_cycle = set(plan.cycle or ())
    for task_id, node in plan.nodes.items():
        state = states.get(task_id, TaskState.PENDING)
        if node.complete:
            groups.already_done.append(task_id)
        elif state is TaskState.DONE:
            groups.completed.append(task_id)
            groups.retried += any(o.status in _FAILED_ATTEMPT for o in attempts.get(task_id, ()))
        elif task_id in plan.broken or task_id in in_cycle:
            # Includes a task whose yielded requirements could not be resolved: as in Luigi,
            # that is a scheduling failure rather than a failure of the task's run().
            groups.scheduling_error.append(task_id)
        elif state is TaskState.FAILED:
            groups.failed.append(task_id)
        elif node.external:
            groups.pending_ext.append(task_id)
        else:
            groups.pending.append(task_id)
    if groups.pending:
        _explain_pending(plan, states, groups, ran=result is not None)
    return groups


def _explain_pending(plan: Plan, states: dict[str, TaskState], groups: _Groups, ran: bool) -> None:
    """Sort pending tasks by what upstream stopped them, as Luigi's depth-first pass does."""
    # What a task that is not pending passes on to the tasks that require it.
    carried = dict.fromkeys(groups.failed, _UP_FAILED)
    carried.update(dict.fromkeys(groups.pending_ext, _UP_MISSING))
    carried.update(dict.fromkeys(groups.scheduling_error, _UP_SCHEDULING))
    reasons = _upstream_reasons(plan, set(groups.pending), carried, states)
    for task_id in groups.pending:
        bits = reasons[task_id]
        if bits & _UP_FAILED:
            groups.upstream_failure.append(task_id)
        if bits & _UP_MISSING:
            groups.upstream_missing.append(task_id)
        if bits & _UP_SCHEDULING:
            groups.upstream_scheduling.append(task_id)
        if bits & (_UP_FAILED | _UP_MISSING | _UP_SCHEDULING):
            continue
        if states.get(task_id) is TaskState.CANCELLED or bits & _UP_CANCELLED:
            groups.cancelled.append(task_id)
        elif ran:
            groups.not_run.append(task_id)
        else:
            groups.not_started.append(task_id)


def _upstream_reasons(
    plan: Plan, pending: set[str], carried: dict[str, int], states: dict[str, TaskState]
) -> dict[str, int]:
    """For each pending task, the OR of the reasons its requirements pass down.

    Iterative post-order walk (a 300,000-task chain would overflow recursion); a task met again
    while still on the stack (only in a cyclic plan) contributes nothing.
    """
    reasons: dict[str, int] = {}
    on_stack: set[str] = set()

    def passes(dep: str) -> int:
        if dep in pending:
            own = _UP_CANCELLED if states.get(dep) is TaskState.CANCELLED else 0
            return reasons.get(dep, 0) | own
        return carried.get(dep, 0)

    for start in pending:
        if start in reasons:
            continue
        stack = [start]
        on_stack.add(start)
        while stack:
            task_id = stack[-1]
            node = plan.nodes[task_id]
            todo = [d for d in node.deps if d in pending and d not in reasons and d not in on_stack]
            if todo:
                stack.extend(todo)
                on_stack.update(todo)
                continue
            stack.pop()
            on_stack.discard(task_id)
            if task_id not in reasons:
                bits = 0
                for dep in node.deps:
                    bits |= passes(dep)
                reasons[task_id] = bits
    return reasons


# -- status and exit code ---------------------------------------------------------------------


def _status(groups: _Groups, cancelled: bool) -> StatusCode:
    """The verdict, in Luigi's order of precedence with CANCELLED after the failures.

    One deliberate difference: Luigi reports SUCCESS_WITH_RETRY as soon as every failed task
    later succeeded, even if other tasks are missing or were never run; here it is reported
    only when nothing else went wrong.
    """
    if groups.failed:
        if groups.scheduling_error:
            return StatusCode.FAILED_AND_SCHEDULING_FAILED
        return StatusCode.FAILED
    if groups.scheduling_error:
        return StatusCode.SCHEDULING_FAILED
    if cancelled or groups.cancelled:
        return StatusCode.CANCELLED
    if groups.not_run:
        return StatusCode.NOT_RUN
    if groups.pending_ext:
        return StatusCode.MISSING_EXT
    if groups.not_started:
        return StatusCode.NOT_RUN
    if groups.retried:
        return StatusCode.SUCCESS_WITH_RETRY
    return StatusCode.SUCCESS


def _exit_code(
    plan: Plan, groups: _Groups, result: RunResult | None, retcodes: RetcodeSettings
) -> int:
    """The largest code among the conditions that apply, as Luigi's ``run_with_retcodes``."""
    if result is not None and result.error is not None:
        return retcodes.unhandled_exception
    conditions = (
        (retcodes.missing_data, bool(groups.pending_ext)),
        (retcodes.task_failed, bool(groups.failed)),
        (retcodes.scheduling_error, bool(groups.scheduling_error)),
        # A cancelled task is one that was not allowed to run.
        (retcodes.not_run, bool(groups.not_run or groups.cancelled)),
    )
    code = max((c for c, applies in conditions if applies), default=0)
    if code == 0:
        done = set(groups.already_done)
        done.update(groups.completed)
        if any(root not in done for root in plan.roots):
            return retcodes.not_run
    return code


# -- rendering the text -----------------------------------------------------------------------


@dataclass
class _Renderer:
    plan: Plan
    result: RunResult | None
    summary_length: int

    def group(self, task_ids: Iterable[str], nested: bool, errors: bool = False) -> list[str]:
        """One line per family (sorted by name), at most ``summary_length`` then ``...``."""
        prefix = " " * (8 if nested else 4)
        by_family: dict[str, list[str]] = {}
        for task_id in task_ids:
            by_family.setdefault(self.plan.nodes[task_id].family, []).append(task_id)
        lines: list[str] = []
        shown = 0
        for name in sorted(by_family):
            if 0 < self.summary_length <= shown:
                lines.append(prefix + "...")
                break
            views, line = folded(self.plan, name, by_family[name])
            lines.append(f"{prefix}- {line}")
            shown += 1
            if errors:
                lines.extend(self._error_line(prefix, views))
        return lines

    def _error_line(self, prefix: str, views: list[tuple[str, str]]) -> list[str]:
        """The first error of a family's first failing task, if one was recorded."""
        for task_id, label in views:
            error = self._error(task_id)
            if error:
                line = f"{prefix}  {label}: {error}"
                if len(line) > _ERROR_WIDTH:
                    line = line[: _ERROR_WIDTH - 3] + "..."
                return [line]
        return []

    def _error(self, task_id: str) -> str | None:
        broken = self.plan.broken.get(task_id)
        if broken is not None:
            return error_line(broken) if broken.strip() else "scheduling failed"
        if self.result is not None:
            for outcome in reversed(self.result.attempts.get(task_id, ())):
                if outcome.status in _FAILED_ATTEMPT:
                    return _describe(outcome)
        return None


def _describe(outcome: Outcome) -> str:
    message = (outcome.error_message or outcome.explanation or "").strip()
    first = message.splitlines()[0] if message else ""
    kind = outcome.error_type or outcome.status.value.lower()
    return f"{kind}: {first}" if first else kind


def _body(groups: _Groups, render: _Renderer, status: StatusCode) -> str:
    """Everything between the header and the footer."""
    plan = render.plan
    total = len(plan.nodes)
    if total == 0:
        return "Did not schedule any tasks"
    sections: list[tuple[str, list[str], bool, bool]] = [
        ("complete ones were encountered", groups.already_done, False, False),
        ("ran successfully", groups.completed, False, False),
        ("failed", groups.failed, False, True),
        ("failed scheduling", groups.scheduling_error, False, True),
    ]
    pending = [
        ("were missing external dependencies", groups.pending_ext),
        ("had failed dependencies", groups.upstream_failure),
        ("had missing dependencies", groups.upstream_missing),
        ("had dependencies whose scheduling failed", groups.upstream_scheduling),
        ("was not granted run permission by the scheduler", groups.not_run),
        ("were not run because the run was cancelled", groups.cancelled),
        ("were not run because the run could not start", groups.not_started),
    ]
    lines = [f"Scheduled {total} tasks of which:"]
    for phrase, ids, nested, errors in sections:
        if ids:
            lines.append(f"* {len(ids)} {phrase}:")
            lines.extend(render.group(ids, nested, errors))
    left = len(groups.pending_ext) + len(groups.pending)
    if left:
        lines.append(f"* {left} were left pending, among these:")
        for phrase, ids in pending:
            if ids:
                lines.append(f"    * {len(ids)} {phrase}:")
                lines.extend(render.group(ids, nested=True))
    text = "\n".join(lines) + "\n"
    if plan.cycle:
        text += "\nDependency cycle: " + " -> ".join(plan.label(t) for t in plan.cycle) + "\n"
    result = render.result
    if result is not None and result.error is not None:
        first = result.error.strip().splitlines()[0] if result.error.strip() else "unknown"
        text += f"\nThe run stopped on an internal error: {first}\n"
    if not groups.completed and not groups.failed:
        text += "\nDid not run any tasks"
    return text + "\n" + status.one_line_summary


def summarize(
    result: RunResult | None,
    plan: Plan,
    run_id: str,
    retcodes: RetcodeSettings,
    *,
    summary_length: int = DEFAULT_SUMMARY_LENGTH,
) -> Summary:
    """Build the execution summary of a run.

    Parameters:
        result: what the executor returned, or None if the plan could not run (broken tasks,
            missing external inputs, a dependency cycle) or there was nothing to run.
        plan: the resolved plan.
        run_id: the run's id, carried into the summary.
        retcodes: the ``[retcode]`` settings that map outcomes to an exit code.
        summary_length: families listed per group before ``...`` (0: no limit).

    Returns:
        The summary; its ``exit_code`` is what the process should exit with.
    """
    if result is not None:
        plan = result.plan  # the run's plan also holds the tasks added by dynamic requirements
    groups = _partition(plan, result)
    cancelled = result is not None and result.cancelled
    status = _status(groups, cancelled)
    render = _Renderer(plan, result, summary_length)
    text = f"\n{_RULE}\n\n{_body(groups, render, status)}\n\n{_RULE}\n"
    return Summary(
        status=status,
        summary_text=text,
        run_id=run_id,
        exit_code=_exit_code(plan, groups, result, retcodes),
        scheduling_succeeded=_luigi_success(plan, groups, result),
    )


def _luigi_success(plan: Plan, groups: _Groups, result: RunResult | None) -> bool:
    """Luigi's boolean: scheduling went through and no task failed for good."""
    if plan.broken or plan.cycle is not None:
        return False
    if result is None:
        return True  # nothing ran (a --fail-fast refusal over missing inputs): nothing failed
    return not (result.cancelled or result.error is not None or groups.failed or groups.cancelled)
