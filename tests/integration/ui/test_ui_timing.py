"""Times ``dagcore ui`` on a 30,001-task run (printed, not asserted: timings vary by machine).

Targets on a 2-core machine: the run page's API under 2 s, a rendered page under 5 s. Run with
``-s`` to see the figures; ``make bench-ui`` prints the same and more.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from bench.ui import synthetic_run
from tests.integration.ui.browser import browser, chromium_path
from tests.unit.ui.server import running_ui


@pytest.mark.slow
@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")
def test_times_the_api_and_first_render_of_a_30001_task_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    run_id = synthetic_run(url, parts=30_000)
    with running_ui(url) as base, browser() as chromium:
        began = time.perf_counter()
        with urllib.request.urlopen(f"{base}/api/runs/{run_id}/graph", timeout=120) as answer:
            size = len(answer.read())
        api = time.perf_counter() - began
        page = chromium.new_page(viewport={"width": 1300, "height": 850})
        began = time.perf_counter()
        page.goto(f"{base}/runs/{run_id}")
        page.wait_for_selector("body[data-rendered='1']", timeout=120_000)
        render = time.perf_counter() - began
        assert page.locator("#cy").get_attribute("data-nodes") == "2"
    print(f"\n30,001 tasks: graph API {api:.2f}s ({size // 1024} KiB), rendered page {render:.2f}s")
