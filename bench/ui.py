"""Times ``dagcore ui`` on a 30,001-task run: the run page's API and its first render.

A synthetic run is written straight into a fresh SQLite history (one ``Combine`` task needing
30,000 ``Part`` tasks, spread over 8 workers, a few failed and retried), then the server is
started and timed with plain HTTP and with Debian's chromium through Playwright::

    .venv/bin/python -m bench.ui [--tasks 30000] [--dir DIR]

Targets on a 2-core machine: the API under 2 s, a rendered page under 5 s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagcore.history.events import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    HistoryEvent,
    PlannedTask,
    RunFinished,
    RunStarted,
    RunStatus,
    TasksPlanned,
    TaskStatus,
    TaskStatusChanged,
)
from dagcore.history.store import SqlHistoryStore

__all__ = ["main", "synthetic_run"]


def _part_events(run_id: str, n: int, start: datetime, fails: bool) -> list[HistoryEvent]:
    """One part: a first attempt, failed for a few (retried once, and failed again if
    ``fails``), then its final status."""
    task_id = f"Part_{n}_{n:010x}"
    began = start + timedelta(milliseconds=n * 3)
    worker = f"worker-{n % 8}"
    ended = began + timedelta(milliseconds=20)
    retried = fails or n % 5000 == 7
    events: list[HistoryEvent] = [
        AttemptStarted(run_id, task_id, 1, "bench-host", worker, None, began),
        AttemptFinished(
            run_id,
            task_id,
            1,
            ended,
            AttemptStatus.FAILED if retried else AttemptStatus.SUCCESS,
            error_type="RuntimeError" if retried else None,
            error_message=f"part {n} failed" if retried else None,
            traceback=f"Traceback (most recent call last):\nRuntimeError: part {n} failed"
            if retried
            else None,
        ),
    ]
    if retried:
        ended += timedelta(milliseconds=20)
        events.append(AttemptStarted(run_id, task_id, 2, "bench-host", worker, None, ended))
        events.append(
            AttemptFinished(
                run_id,
                task_id,
                2,
                ended,
                AttemptStatus.FAILED if fails else AttemptStatus.SUCCESS,
                error_type="RuntimeError" if fails else None,
                error_message=f"part {n} failed again" if fails else None,
                traceback=f"Traceback (most recent call last):\nRuntimeError: part {n} failed again"
                if fails
                else None,
            )
        )
    status = TaskStatus.FAILED if fails else TaskStatus.SUCCESS
    events.append(TaskStatusChanged(run_id, task_id, status, ended + timedelta(milliseconds=1)))
    return events


def synthetic_run(
    url: str, parts: int = 30_000, failed_every: int = 10_000, run_id: str = "bench" + "0" * 27
) -> str:
    """Write a finished run of ``parts`` + 1 tasks into the history at ``url``; its id.

    Every ``failed_every``-th part (from the fourth) fails, so ``Combine`` is upstream-failed.
    """
    start = datetime(2026, 1, 1, tzinfo=UTC)
    combine = "Combine__0000000000"
    part_ids = [f"Part_{n}_{n:010x}" for n in range(parts)]
    planned = [
        PlannedTask(pid, "Part", "bench.ui", {"n": str(n)}) for n, pid in enumerate(part_ids)
    ]
    planned.append(PlannedTask(combine, "Combine", "bench.ui", {}, deps=part_ids))
    events: list[HistoryEvent] = [
        RunStarted(run_id, start, "bench", "bench-host", "bench", ["Combine()"], "local"),
        TasksPlanned(run_id, planned, planned_at=start),
    ]
    failed = 0
    for n in range(parts):
        fails = n % failed_every == 3
        failed += fails
        events.extend(_part_events(run_id, n, start, fails))
    end = start + timedelta(milliseconds=parts * 3 + 100)
    if failed:
        events += [
            TaskStatusChanged(run_id, combine, TaskStatus.UPSTREAM_FAILED, end),
            RunFinished(run_id, end, RunStatus.FAILED, 30),
        ]
    else:
        events += [
            AttemptStarted(run_id, combine, 1, "bench-host", "worker-0", None, end),
            AttemptFinished(run_id, combine, 1, end, AttemptStatus.SUCCESS),
            TaskStatusChanged(run_id, combine, TaskStatus.SUCCESS, end),
            RunFinished(run_id, end, RunStatus.SUCCESS_WITH_RETRY, 0),
        ]
    store = SqlHistoryStore(url)
    try:
        for at in range(0, len(events), 20_000):
            store.apply(events[at : at + 20_000])
    finally:
        store.close()
    return run_id


def _time_api(base: str, run_id: str) -> dict[str, float]:
    out = {}
    for name in ("graph", "summary", "?limit=1000", ""):
        path = f"{base}/api/runs/{run_id}" + (f"/{name}" if name.isalpha() else name)
        began = time.perf_counter()
        with urllib.request.urlopen(path, timeout=120) as response:
            body = response.read()
        elapsed = time.perf_counter() - began
        out[f"api {name or 'detail (everything)'} ({len(body) // 1024} KiB)"] = elapsed
        json.loads(body)
    return out


def _time_page(base: str, run_id: str, shot: Path | None) -> float:
    from tests.integration.ui.browser import browser

    with browser() as chromium:
        page = chromium.new_page(viewport={"width": 1300, "height": 850})
        began = time.perf_counter()
        page.goto(f"{base}/runs/{run_id}")
        page.wait_for_selector("body[data-rendered='1']", timeout=120_000)
        elapsed = time.perf_counter() - began
        if shot is not None:
            page.screenshot(path=str(shot))
        return elapsed


def main(argv: list[str] | None = None) -> int:
    """Build the run, serve it, print the timings."""
    from tests.unit.ui.server import running_ui

    parser = argparse.ArgumentParser(prog="python -m bench.ui")
    parser.add_argument("--tasks", type=int, default=30_000, help="parts (one more task joins)")
    parser.add_argument("--dir", type=Path, default=None, help="where the history goes")
    parser.add_argument("--screenshot", type=Path, default=None, help="save the rendered page")
    args = parser.parse_args(argv)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="dagcore-ui-bench-"))
    url = f"sqlite:///{folder / 'history.db'}"
    began = time.perf_counter()
    run_id = synthetic_run(url, args.tasks)
    print(f"wrote a run of {args.tasks + 1} tasks in {time.perf_counter() - began:.1f}s")
    with running_ui(url) as base:
        for name, seconds in _time_api(base, run_id).items():
            print(f"{name:40s} {seconds:6.2f}s")
        print(f"{'page rendered':40s} {_time_page(base, run_id, args.screenshot):6.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
