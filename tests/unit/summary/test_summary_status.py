"""Status codes, groups and exit codes of the execution summary, on hand-built plans and runs."""

from __future__ import annotations

import dataclasses

import pytest
from luigi.execution_summary import LuigiStatusCode

from dagcore.configuration.settings import RetcodeSettings
from dagcore.executor.base import RunResult
from dagcore.plan import RunState, TaskState
from dagcore.summary import StatusCode, Summary, summarize

from .builders import RECOMMENDED, node, plan_of, simulate

# Luigi's backward-compatible defaults (dagcore's own defaults are the recommended ones).
LUIGI_DEFAULTS = RetcodeSettings(
    already_running=0,
    missing_data=0,
    not_run=0,
    task_failed=0,
    scheduling_error=0,
    unhandled_exception=4,
)


def _lines(summary: Summary) -> list[str]:
    return summary.summary_text.splitlines()


def _group(summary: Summary, header: str) -> list[str]:
    """The lines listed under a group header (up to the next header or blank line)."""
    lines = _lines(summary)
    start = next(i for i, line in enumerate(lines) if line.strip().endswith(header + ":"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for line in lines[start + 1 :]:
        stripped = line.lstrip()
        if not stripped or (stripped.startswith("* ") and len(line) - len(stripped) <= indent):
            break
        out.append(line)
    return out


# -- the status enum ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(LuigiStatusCode))
def test_status_codes_mirror_luigi(code: LuigiStatusCode) -> None:
    ours = StatusCode[code.name]
    assert (ours.smiley, ours.phrase) == code.value


def test_cancelled_status_and_one_line() -> None:
    assert StatusCode.CANCELLED.value == (":|", "the run was cancelled")
    assert StatusCode.CANCELLED.one_line_summary == (
        "This progress looks :| because the run was cancelled"
    )
    assert {c.name for c in StatusCode} - {c.name for c in LuigiStatusCode} == {"CANCELLED"}


def test_summary_is_frozen_and_has_no_truthiness() -> None:
    plan = plan_of(node("A"))
    summary = summarize(simulate(plan), plan, "run-9", RECOMMENDED)
    assert "__bool__" not in vars(Summary)
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.exit_code = 3  # type: ignore[misc]
    assert summary.run_id == "run-9"
    assert summary.one_line_summary in summary.summary_text


# -- success ------------------------------------------------------------------------------------


def test_success_lists_complete_and_ran_tasks() -> None:
    plan = plan_of(
        node("Root", ["B", "C"]),
        node("B", ["C"]),
        node("C", complete=True),
    )
    summary = summarize(simulate(plan), plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.SUCCESS
    assert summary.exit_code == 0
    assert summary.scheduling_succeeded is True
    text = summary.summary_text
    assert text.startswith(
        "\n===== dagcore Execution Summary =====\n\nScheduled 3 tasks of which:\n"
    )
    assert text.endswith("\n\n===== dagcore Execution Summary =====\n")
    assert _group(summary, "complete ones were encountered") == ["    - 1 C()"]
    assert _group(summary, "ran successfully") == ["    - 1 B()", "    - 1 Root()"]
    assert "Did not run any tasks" not in text
    assert _lines(summary)[-3] == (
        "This progress looks :) because there were no failed tasks or missing dependencies"
    )


def test_everything_complete_did_not_run_any_tasks() -> None:
    plan = plan_of(node("Root", complete=True))
    for result in (None, simulate(plan)):
        summary = summarize(result, plan, "r", RECOMMENDED)
        assert summary.status is StatusCode.SUCCESS
        assert summary.exit_code == 0
        assert "\n\nDid not run any tasks\nThis progress looks :)" in summary.summary_text


def test_empty_plan() -> None:
    summary = summarize(None, plan_of(), "r", RECOMMENDED)
    assert "Did not schedule any tasks" in summary.summary_text
    assert "Scheduled" not in summary.summary_text


def test_retry_success_is_success_with_retry() -> None:
    plan = plan_of(node("Root", ["Flaky"]), node("Flaky"))
    result = simulate(plan, flaky={"Flaky()"})
    assert result.failed_attempts(plan.roots[0]) == 0
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.SUCCESS_WITH_RETRY
    assert summary.exit_code == 0
    assert _group(summary, "ran successfully") == ["    - 1 Flaky()", "    - 1 Root()"]
    assert "because there were failed tasks but they all succeeded in a retry" in (
        summary.summary_text
    )


# -- failures -----------------------------------------------------------------------------------


def test_failed_task_and_its_dependents() -> None:
    plan = plan_of(
        node("Root", ["Mid", "Other"]),
        node("Mid", ["Bad"]),
        node("Bad"),
        node("Other"),
    )
    summary = summarize(simulate(plan, fail={"Bad()"}), plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.FAILED
    assert summary.exit_code == RECOMMENDED.task_failed
    assert _group(summary, "failed") == ["    - 1 Bad()", "      Bad(): ValueError: boom Bad()"]
    assert "* 2 were left pending, among these:" in _lines(summary)
    assert _group(summary, "had failed dependencies") == ["        - 1 Mid()", "        - 1 Root()"]
    assert _group(summary, "ran successfully") == ["    - 1 Other()"]


def test_error_line_is_truncated() -> None:
    plan = plan_of(node("Bad", params={"name": "x" * 40}))
    result = simulate(plan, fail={plan.label("Bad")})
    outcome = result.attempts["Bad"][0]
    result.attempts["Bad"][0] = dataclasses.replace(outcome, error_message="y" * 300)
    summary = summarize(result, plan, "r", RECOMMENDED)
    error = _group(summary, "failed")[1]
    assert len(error) == 120
    assert error.endswith("...")


def test_failed_and_scheduling_failed() -> None:
    plan = plan_of(node("Root", ["Bad", "Dyn"]), node("Bad"), node("Dyn"))
    result = simulate(plan, fail={"Bad()", "Dyn()"})
    # What the local executor does when a requirement Dyn yields cannot be resolved.
    plan.broken["Dyn"] = "Traceback...\nGraphError: requires() of Sub() raised KeyError"
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.FAILED_AND_SCHEDULING_FAILED
    assert summary.exit_code == RECOMMENDED.scheduling_error
    assert summary.scheduling_succeeded is False
    assert _group(summary, "failed scheduling") == [
        "    - 1 Dyn()",
        "      Dyn(): GraphError: requires() of Sub() raised KeyError",
    ]
    assert _group(summary, "had dependencies whose scheduling failed") == ["        - 1 Root()"]


def test_broken_plan_is_scheduling_failed() -> None:
    plan = plan_of(
        node("Root", ["Top", "Side"]),
        node("Top", ["Broken"]),
        node("Broken"),
        node("Side"),
        node("Done", complete=True),
        broken={"Broken": "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n"},
    )
    summary = summarize(None, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.SCHEDULING_FAILED
    assert summary.exit_code == RECOMMENDED.scheduling_error
    assert summary.scheduling_succeeded is False
    assert _group(summary, "failed scheduling") == [
        "    - 1 Broken()",
        "      Broken(): KeyError: 'x'",
    ]
    # Transitive, unlike Luigi, which only marks the direct dependents.
    assert _group(summary, "had dependencies whose scheduling failed") == [
        "        - 1 Root()",
        "        - 1 Top()",
    ]
    assert _group(summary, "were not run because the run could not start") == ["        - 1 Side()"]
    assert "\n\nDid not run any tasks\nThis progress looks :( because there were tasks whose" in (
        summary.summary_text
    )


def test_dependency_cycle() -> None:
    plan = plan_of(
        node("Root", ["A"]),
        node("A", ["B"]),
        node("B", ["A", "Leaf"]),
        node("Leaf"),
        cycle=["A", "B", "A"],
    )
    summary = summarize(None, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.SCHEDULING_FAILED
    assert summary.exit_code == RECOMMENDED.scheduling_error
    assert summary.scheduling_succeeded is False
    assert "\nDependency cycle: A() -> B() -> A()\n" in summary.summary_text
    assert _group(summary, "failed scheduling") == ["    - 1 A()", "    - 1 B()"]
    assert _group(summary, "had dependencies whose scheduling failed") == ["        - 1 Root()"]
    assert _group(summary, "were not run because the run could not start") == ["        - 1 Leaf()"]


# -- missing, not run, cancelled ------------------------------------------------------------------


def test_missing_external() -> None:
    plan = plan_of(
        node("Root", ["Use", "Have"]),
        node("Use", ["Raw"]),
        node("Raw", external=True),
        node("Have", external=True, complete=True),
    )
    summary = summarize(None, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.MISSING_EXT
    assert summary.exit_code == RECOMMENDED.missing_data
    assert summary.scheduling_succeeded is True
    assert _group(summary, "complete ones were encountered") == ["    - 1 Have()"]
    assert "* 3 were left pending, among these:" in _lines(summary)
    assert _group(summary, "were missing external dependencies") == ["        - 1 Raw()"]
    assert _group(summary, "had missing dependencies") == [
        "        - 1 Root()",
        "        - 1 Use()",
    ]


def test_a_task_can_be_listed_under_several_reasons() -> None:
    plan = plan_of(
        node("Root", ["Raw", "Broken"]),
        node("Raw", external=True),
        node("Broken"),
        broken={"Broken": "ValueError: no"},
    )
    summary = summarize(None, plan, "r", RECOMMENDED)
    assert "* 2 were left pending, among these:" in _lines(summary)
    assert _group(summary, "had missing dependencies") == ["        - 1 Root()"]
    assert _group(summary, "had dependencies whose scheduling failed") == ["        - 1 Root()"]
    assert summary.exit_code == max(RECOMMENDED.missing_data, RECOMMENDED.scheduling_error)


def test_tasks_left_pending_without_reason_are_not_run() -> None:
    plan = plan_of(node("Root", ["A"]), node("A"))
    state = RunState(plan)  # the executor gave up before starting anything
    result = RunResult("r", plan, state)
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.NOT_RUN
    assert summary.exit_code == RECOMMENDED.not_run
    assert _group(summary, "was not granted run permission by the scheduler") == [
        "        - 1 A()",
        "        - 1 Root()",
    ]


def test_cancelled_run() -> None:
    plan = plan_of(node("Root", ["A", "B", "C"]), node("A"), node("B"), node("C"))
    result = simulate(plan, cancel_after=1)
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.CANCELLED
    assert summary.exit_code == RECOMMENDED.not_run
    assert _group(summary, "ran successfully") == ["    - 1 A()"]
    assert "* 3 were left pending, among these:" in _lines(summary)
    assert _group(summary, "were not run because the run was cancelled") == [
        "        - 1 B()",
        "        - 1 C()",
        "        - 1 Root()",
    ]
    assert "This progress looks :| because the run was cancelled" in summary.summary_text


def test_killed_task_makes_its_dependents_cancelled_not_failed() -> None:
    plan = plan_of(node("Root", ["Slow"]), node("Slow"))
    state = RunState(plan)
    for task_id in state.ready():
        state.start(task_id)
    state.failed("Slow", TaskState.CANCELLED)  # a second Ctrl-C killed it
    result = RunResult("r", plan, state, cancelled=True)
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert state.state["Root"] is TaskState.UPSTREAM_FAILED
    assert summary.status is StatusCode.CANCELLED
    assert _group(summary, "were not run because the run was cancelled") == [
        "        - 1 Root()",
        "        - 1 Slow()",
    ]


def test_failure_outranks_cancellation() -> None:
    plan = plan_of(node("Root", ["Bad", "B", "C"]), node("Bad"), node("B"), node("C"))
    result = simulate(plan, fail={"Bad()"}, cancel_after=1)
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.status is StatusCode.FAILED
    assert summary.exit_code == max(RECOMMENDED.task_failed, RECOMMENDED.not_run)


def test_internal_error_uses_unhandled_exception() -> None:
    plan = plan_of(node("Root"))
    result = RunResult("r", plan, RunState(plan), error="RuntimeError: lost the broker\nmore")
    summary = summarize(result, plan, "r", RECOMMENDED)
    assert summary.exit_code == RECOMMENDED.unhandled_exception
    assert "The run stopped on an internal error: RuntimeError: lost the broker" in (
        summary.summary_text
    )


# -- exit codes -----------------------------------------------------------------------------------


def test_luigi_default_retcodes_give_zero_except_crashes() -> None:
    failing = plan_of(node("Root", ["Bad"]), node("Bad"))
    failed = summarize(simulate(failing, fail={"Bad()"}), failing, "r", LUIGI_DEFAULTS)
    assert failed.status is StatusCode.FAILED
    assert failed.exit_code == 0
    missing = plan_of(node("Root", ["Raw"]), node("Raw", external=True))
    assert summarize(None, missing, "r", LUIGI_DEFAULTS).exit_code == 0
    crashed = RunResult("r", failing, RunState(failing), error="boom")
    assert summarize(crashed, failing, "r", LUIGI_DEFAULTS).exit_code == 4


def test_exit_code_is_the_largest_applicable_code() -> None:
    plan = plan_of(
        node("Root", ["Raw", "Broken"]),
        node("Raw", external=True),
        node("Broken"),
        broken={"Broken": "ValueError: no"},
    )
    high_missing = dataclasses.replace(RECOMMENDED, missing_data=50)
    assert summarize(None, plan, "r", RECOMMENDED).exit_code == 35
    assert summarize(None, plan, "r", high_missing).exit_code == 50


def test_unfinished_root_falls_back_to_not_run() -> None:
    # Only not_run is non-zero: a failure maps to 0, but the root did not complete.
    codes = dataclasses.replace(LUIGI_DEFAULTS, not_run=7)
    plan = plan_of(node("Root", ["Bad"]), node("Bad"))
    summary = summarize(simulate(plan, fail={"Bad()"}), plan, "r", codes)
    assert summary.exit_code == 7
    ok = plan_of(node("Root"))
    assert summarize(simulate(ok), ok, "r", codes).exit_code == 0
