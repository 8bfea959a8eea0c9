"""The JSON API of ``dagcore ui`` over the history of a real local run."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import dagcore
from dagcore.errors import ConfigError
from dagcore.history.store import DEFAULT_HISTORY_URL
from tests.unit.ui import ui_tasks as t
from tests.unit.ui.server import running_ui


def _get(url: str, login: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def run_id() -> str:
    summary = dagcore.build(
        [t.Report(), t.AfterBroken(), t.Flaky()], workers=2, detailed_summary=True
    )
    return str(summary.run_id)


@pytest.fixture
def base(run_id: str) -> Iterator[str]:
    with running_ui(DEFAULT_HISTORY_URL) as url:
        yield url


def test_runs_list_and_filters(base: str, run_id: str) -> None:
    runs = _get(base + "/api/runs")
    assert [(run["run_id"], run["status"]) for run in runs] == [(run_id, "FAILED")]
    run = runs[0]
    assert run["executor"] == "local" and run["duration_seconds"] >= 0
    assert run["root_families"] == ["AfterBroken", "Flaky", "Report"]
    assert run["task_counts"]["FAILED"] == 1 and run["total_tasks"] == 10
    assert _get(base + "/api/runs?status=failed")
    assert _get(base + "/api/runs?family=Flaky")
    assert _get(base + "/api/runs?status=SUCCESS") == []
    assert _get(base + "/api/runs?family=Clean") == []
    assert _get(base + "/api/runs?executor=celery") == []
    assert _get(base + "/api/runs?since=2000-01-01T00:00:00Z")
    assert _get(base + "/api/runs?until=2000-01-01T00:00:00") == []
    with pytest.raises(urllib.error.HTTPError) as bad:
        _get(base + "/api/runs?since=yesterday")
    assert bad.value.code == 400
    bad.value.close()


def test_run_detail_has_tasks_and_attempts(base: str, run_id: str) -> None:
    detail = _get(f"{base}/api/runs/{run_id[:10]}")
    assert detail["run"]["run_id"] == run_id
    statuses = {task["family"]: task["status"] for task in detail["tasks"]}
    assert statuses["Broken"] == "FAILED" and statuses["AfterBroken"] == "UPSTREAM_FAILED"
    flaky = [a for a in detail["attempts"] if a["task_id"] == t.Flaky().task_id]
    assert [a["status"] for a in flaky] == ["FAILED", "SUCCESS"]
    first = _get(f"{base}/api/runs/{run_id}?limit=4")
    second = _get(f"{base}/api/runs/{run_id}?limit=4&offset={first['next_offset']}")
    assert len(first["tasks"]) == 4 and first["next_offset"] == 4
    assert {a["task_id"] for a in first["attempts"]} <= {x["task_id"] for x in first["tasks"]}
    last = _get(f"{base}/api/runs/{run_id}?limit=4&offset=8")
    assert len(last["tasks"]) == 2 and last["next_offset"] is None
    paged = [x["task_id"] for page in (first, second, last) for x in page["tasks"]]
    assert paged == [x["task_id"] for x in detail["tasks"]]
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(f"{base}/api/runs/nosuchrun")
    assert missing.value.code == 404
    missing.value.close()


def test_graph_carries_the_plan_edges_and_delta_follows_a_cursor(base: str, run_id: str) -> None:
    graph = _get(f"{base}/api/runs/{run_id}/graph")
    ids = [row[0] for row in graph["tasks"]]
    edges = {(ids[a], ids[b]) for a, b in graph["edges"]}
    assert (t.Extract(part=1).task_id, t.Clean(part=1).task_id) in edges
    assert (t.Clean(part=2).task_id, t.Report().task_id) in edges
    assert (t.Broken().task_id, t.AfterBroken().task_id) in edges
    assert len(edges) == 8
    labels = {row[4] for row in graph["tasks"]}
    assert "Clean(part=2)" in labels and "Report(parts=3)" in labels
    full = _get(f"{base}/api/runs/{run_id}/delta")
    assert len(full["tasks"]) == 10
    cursor = graph["cursor"]
    later = _get(f"{base}/api/runs/{run_id}/delta?since={quote(cursor)}")
    assert later["status"] == "FAILED" and 1 <= len(later["tasks"]) < 10


def test_task_page_data_timeline_and_lineage(base: str, run_id: str) -> None:
    task = _get(f"{base}/api/task?run={run_id}&task={quote(t.Broken().task_id)}")
    (attempt,) = task["attempts"]
    assert attempt["error_type"] == "ValueError" and "bad row 42" in attempt["traceback"]
    assert attempt["log"] is None and attempt["flower_url"] is None
    assert attempt["reads"] == [Path("out/raw-0.txt").resolve().as_uri()]
    assert task["upstream"] == [t.Extract(part=0).task_id]
    assert task["downstream"] == [t.AfterBroken().task_id]
    clean = _get(f"{base}/api/task?run={run_id}&task={quote(t.Clean(part=1).task_id)}")
    assert clean["attempts"][0]["status_message"] == "cleaning part 1"
    assert clean["attempts"][0]["progress"] == 100
    timeline = _get(f"{base}/api/runs/{run_id}/timeline")
    assert len(timeline["bars"]) == 10  # nine attempts plus Flaky's retry
    assert [bar[1] for bar in timeline["bars"] if timeline["tasks"][bar[0]] == "Flaky__99914b932b"]
    report = Path("out/report.txt").resolve().as_uri()
    lineage = _get(f"{base}/api/lineage?uri={quote(report)}")
    tasks = {node["task_id"] for node in lineage["nodes"] if node["kind"] == "task"}
    assert t.Extract(part=2).task_id in tasks and t.Report().task_id in tasks
    assert len(lineage["edges"]) == 13


def test_login_required_when_configured(run_id: str) -> None:
    with running_ui(DEFAULT_HISTORY_URL, {"DAGCORE_UI_BASIC_AUTH": "ann:secret"}) as base:
        for path in ("/", "/api/runs", "/static/run.js", f"/runs/{run_id}"):
            with pytest.raises(urllib.error.HTTPError) as denied:
                urllib.request.urlopen(base + path, timeout=30)
            assert denied.value.code == 401
            assert denied.value.headers["WWW-Authenticate"].startswith("Basic")
            denied.value.close()
        with pytest.raises(urllib.error.HTTPError) as wrong:
            _get(base + "/api/runs", "ann:wrong")
        wrong.value.close()
        assert _get(base + "/api/runs", "ann:secret")[0]["run_id"] == run_id
        with urllib.request.urlopen(base + "/healthz", timeout=30) as health:
            assert health.read() == b"ok"  # probes need no login


def test_non_loopback_address_without_login_is_refused() -> None:
    from dagcore.ui.main import main

    assert main(["--address", "0.0.0.0", "--port", "1"]) == 2
    with pytest.raises(ConfigError):
        import asyncio

        from dagcore.ui.main import serve

        asyncio.run(serve("0.0.0.0", 1, DEFAULT_HISTORY_URL, {}, None))
