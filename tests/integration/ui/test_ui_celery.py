"""``dagcore ui`` during a real Celery run (Redis, ``dagcore worker`` processes, SQLite history)."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dagcore
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.ui import celery_tasks as c
from tests.integration.ui.browser import browser, chromium_path
from tests.integration.ui.test_ui_browser import NODE_JS
from tests.unit.ui.server import running_ui

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed"),
]
FLOWER = "http://flower.example:5555"


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def page() -> Iterator[Any]:
    with browser() as chromium:
        opened = chromium.new_page(viewport={"width": 1300, "height": 850})
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        yield opened
        assert not errors, errors


def test_celery_run_watched_live(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    page: Any,
) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", url)
    celery_env.configure(f'[celery]\nflower_url = "{FLOWER}"\n')
    start_worker(["tests.integration.ui.celery_tasks"], concurrency=2)
    release = tmp_path / "release"
    gate = c.Gate(release=str(release))
    results: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: results.update(
            ok=dagcore.build([gate, c.Broken()], executor="celery", detailed_summary=True)
        )
    )
    thread.start()
    try:
        with running_ui(url) as base:
            deadline = time.monotonic() + 60
            runs: list[Any] = []
            while not runs:
                assert time.monotonic() < deadline, "the run did not appear in the history"
                time.sleep(0.2)
                runs = _json(base + "/api/runs")
            assert runs[0]["executor"] == "celery"
            page.goto(f"{base}/runs/{runs[0]['run_id']}")
            page.wait_for_selector("body[data-rendered='1']")
            page.wait_for_function(
                f"() => ({NODE_JS})({json.dumps(gate.task_id)})?.status === 'RUNNING'",
                timeout=60_000,
            )
            broken = c.Broken().task_id
            page.wait_for_function(
                f"() => ({NODE_JS})({json.dumps(broken)})?.status === 'FAILED'", timeout=60_000
            )
            release.touch()
            page.wait_for_function(
                f"() => ({NODE_JS})({json.dumps(gate.task_id)})?.status === 'SUCCESS'",
                timeout=60_000,
            )
            page.wait_for_selector("#run-status[data-status=FAILED]", timeout=60_000)
            node = page.evaluate(NODE_JS, broken)
            page.mouse.click(node["x"], node["y"])
            page.wait_for_url("**/task?**")
            page.wait_for_selector("pre.traceback")
            assert "celery side failure" in page.inner_text("pre.traceback")
            flower = page.locator("a", has_text="open in Flower").first
            assert flower.get_attribute("href").startswith(FLOWER + "/task/")
            graph = _json(f"{base}/api/runs/{runs[0]['run_id']}/graph")
            assert len(graph["edges"]) == 4  # the plan's edges came through the Redis stream
            detail = _json(f"{base}/api/task?run={runs[0]['run_id']}&task={broken}")
            (attempt,) = detail["attempts"]
            assert (
                attempt["celery_id"] and attempt["worker"] != f"{os.uname().nodename}:{os.getpid()}"
            )
            assert attempt["celery_id"] in page.inner_text(".attempt")
    finally:
        release.touch()
        thread.join(120)
    assert results.get("ok") is not None
