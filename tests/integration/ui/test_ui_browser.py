"""``dagcore ui`` driven in Debian's chromium (Playwright) after and during real local runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import dagcore
from dagcore.history.store import DEFAULT_HISTORY_URL
from tests.integration.ui.browser import browser, chromium_path
from tests.unit.ui import ui_tasks as t
from tests.unit.ui.server import running_ui

pytestmark = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (make test installs it)"
)
REPO = Path(__file__).resolve().parents[3]
SHOTS = os.environ.get("DAGCORE_UI_SCREENSHOTS")  # a folder: keep screenshots to look at

# The task a node of the run page's graph shows, its status and where it is on screen.
NODE_JS = """(taskId) => {
  const node = state.cy.nodes().filter((n) => n.data("task") === taskId)[0];
  if (!node) return null;
  const box = document.getElementById("cy").getBoundingClientRect();
  const at = node.renderedPosition();
  return { status: node.data("status"), color: node.data("color"),
           x: box.left + at.x, y: box.top + at.y };
}"""


# A node by id: its label, status and where it is on screen.
GROUP_JS = """(id) => {
  const node = state.cy.getElementById(id);
  const box = document.getElementById("cy").getBoundingClientRect();
  const at = node.renderedPosition();
  return { label: node.data("label"), status: node.data("status"),
           x: box.left + at.x, y: box.top + at.y };
}"""


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as launched:
        yield launched


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1300, "height": 850})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


def test_finished_run_list_graph_failed_task_timeline_and_lineage(page: Any) -> None:
    summary = dagcore.build([t.Report(), t.AfterBroken(), t.Flaky()], workers=2)
    assert summary is False  # Broken fails
    with running_ui(DEFAULT_HISTORY_URL) as base:
        page.goto(base + "/")
        row = page.locator("#runs tbody tr")
        row.first.wait_for()
        assert row.count() == 1 and "FAILED" in row.first.inner_text()
        _shot(page, "runs")
        row.first.locator("a").click()
        page.wait_for_selector("body[data-rendered='1']")
        broken = page.evaluate(NODE_JS, t.Broken().task_id)
        assert broken["status"] == "FAILED" and broken["color"] == "#e53935"
        after = page.evaluate(NODE_JS, t.AfterBroken().task_id)
        assert after["status"] == "UPSTREAM_FAILED"
        assert page.evaluate(NODE_JS, t.Report().task_id)["status"] == "SUCCESS"
        assert page.locator("#cy").get_attribute("data-nodes") == "10"
        _shot(page, "run-graph")

        page.click(".tabs button[data-tab=timeline]")
        page.wait_for_selector("#timeline rect.bar")
        assert page.locator("#timeline rect.bar").count() == 10
        retry = page.locator("#timeline rect.bar.retry")
        assert retry.count() == 1 and retry.get_attribute("data-task") == t.Flaky().task_id
        assert page.locator("#timeline rect.bar[data-status=FAILED]").count() == 2
        _shot(page, "run-timeline")
        page.click(".tabs button[data-tab=graph]")

        page.mouse.click(broken["x"], broken["y"])
        page.wait_for_url("**/task?**")
        page.wait_for_selector("pre.traceback")
        assert "ValueError: bad row 42 in raw-0" in page.inner_text("pre.traceback")
        assert page.inner_text(".log-missing") == "No log recorded for this attempt."
        assert "Broken()" in page.inner_text("#task-title")
        _shot(page, "task-failed")

        page.click("text=" + Path("out/raw-0.txt").resolve().as_uri())
        page.wait_for_selector("body[data-rendered='1']")
        assert page.locator("#cy").get_attribute("data-nodes") == "2"  # raw-0 and Extract(0)
        report = Path("out/report.txt").resolve().as_uri()
        page.goto(base + "/lineage?uri=" + quote(report))
        page.wait_for_selector("body[data-rendered='1']")
        assert page.locator("#cy").get_attribute("data-nodes") == "14"  # 7 targets, 7 attempts
        _shot(page, "lineage")


def test_pages_and_api_need_the_login(page: Any) -> None:
    dagcore.build([t.Extract(part=0)])
    with running_ui(DEFAULT_HISTORY_URL, {"DAGCORE_UI_BASIC_AUTH": "ann:secret"}) as base:
        # Without a login, chromium shows its credentials prompt (an error headless).
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):
            page.goto(base + "/")
        for path in ("/", "/api/runs", "/static/common.js"):
            answer = page.context.request.get(base + path)
            assert answer.status == 401, path
            assert answer.headers["www-authenticate"].startswith("Basic")
        context = page.context.browser.new_context(
            http_credentials={"username": "ann", "password": "secret"}
        )
        try:
            logged_in = context.new_page()
            assert logged_in.goto(base + "/").status == 200
            logged_in.locator("#runs tbody tr").first.wait_for()
        finally:
            context.close()


def _start_gated_run(release: Path) -> subprocess.Popen[bytes]:
    code = (
        "import dagcore\n"
        "from tests.unit.ui import ui_tasks as t\n"
        f"dagcore.build([t.Gate(release={str(release)!r})], workers=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_graph_colours_change_live_while_the_run_goes_on(page: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    gate = t.Gate(release=str(release)).task_id
    child = _start_gated_run(release)
    try:
        with running_ui(DEFAULT_HISTORY_URL) as base:
            deadline = time.monotonic() + 60
            runs: list[Any] = []
            while not runs and time.monotonic() < deadline:
                time.sleep(0.1)
                runs = _json(base + "/api/runs") if Path(".dagcore/history.db").exists() else []
            assert runs, "the run did not appear"
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(f"{base}/runs/{runs[0]['run_id']}")
            page.wait_for_selector("body[data-rendered='1']")
            page.wait_for_function(
                f"() => ({NODE_JS})({json.dumps(gate)})?.status === 'RUNNING'", timeout=60_000
            )
            assert page.evaluate(NODE_JS, gate)["color"] == "#1e88e5"
            _shot(page, "live-running")
            release.touch()
            page.wait_for_function(
                f"() => ({NODE_JS})({json.dumps(gate)})?.status === 'SUCCESS'", timeout=60_000
            )
            assert page.evaluate(NODE_JS, gate)["color"] == "#43a047"
            page.wait_for_selector("#run-status[data-status=SUCCESS]", timeout=30_000)
            _shot(page, "live-done")
            graphs = [url for url in requests if url.endswith("/graph")]
            deltas = [url for url in requests if "/delta" in url]
            assert len(graphs) == 1 and deltas  # updates come as deltas, not reloads
    finally:
        release.touch()
        assert child.wait(60) == 0


def test_large_run_is_grouped_by_family_and_expands_by_status(page: Any) -> None:
    from bench.ui import synthetic_run

    run_id = synthetic_run(DEFAULT_HISTORY_URL, parts=400, failed_every=200)
    with running_ui(DEFAULT_HISTORY_URL) as base:
        page.goto(f"{base}/runs/{run_id}")
        page.wait_for_selector("body[data-rendered='1']")
        assert page.locator("#cy").get_attribute("data-nodes") == "2"  # Part ×400, Combine
        group = page.evaluate(GROUP_JS, "f:Part")
        assert group["label"].startswith("Part ×400") and group["status"] == "FAILED"
        _shot(page, "large-grouped")
        page.mouse.click(group["x"], group["y"])
        # 398 done parts stay one group; the two failed ones show as themselves.
        page.wait_for_function("() => state.cy.nodes().length === 4")
        assert page.evaluate(GROUP_JS, "s:Part:SUCCESS")["label"] == "Part: done ×398"
        failed = page.evaluate(NODE_JS, "Part_3_0000000003")
        assert failed["status"] == "FAILED"
        _shot(page, "large-expanded")
        page.mouse.click(failed["x"], failed["y"])
        page.wait_for_url("**/task?**")
        page.wait_for_selector("pre.traceback")
        assert page.locator(".attempt").count() == 2
        assert "part 3 failed again" in page.inner_text("#attempt-2 pre.traceback")


def test_a_rerun_shows_complete_tasks_as_skipped_and_the_list_filters(page: Any) -> None:
    assert dagcore.build([t.Report(parts=2)])
    assert dagcore.build([t.Report(parts=2), t.Extract(part=7)])  # Report is complete
    with running_ui(DEFAULT_HISTORY_URL) as base:
        page.goto(base + "/?family=Extract")
        page.locator("#runs tbody tr").first.wait_for()
        assert page.locator("#runs tbody tr").count() == 1
        page.select_option("select[name=status]", "SUCCESS")
        page.fill("input[name=family]", "")
        page.click("#filters button[type=submit]")
        page.wait_for_function("() => document.querySelectorAll('#runs tbody tr').length === 2")
        page.locator("#runs tbody tr a").first.click()  # the newest run
        page.wait_for_selector("body[data-rendered='1']")
        report = page.evaluate(NODE_JS, t.Report(parts=2).task_id)
        assert report["status"] == "DONE" and report["color"] == "#a5d6a7"
        assert page.evaluate(NODE_JS, t.Extract(part=7).task_id)["status"] == "SUCCESS"
        _shot(page, "rerun-skipped")
