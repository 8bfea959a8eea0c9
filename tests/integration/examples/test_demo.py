"""``make demo``'s pipeline, as a new user meets it: fresh directories, several times in a row.

Two ``Load``s used to create the example warehouse table at once and one of them failed about
one time in four; each fresh run here must succeed, and a second run must find all complete.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DAGCORE_CONFIG_PATH", None)
    env.pop("DAGCORE_HISTORY_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "examples.etl"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_demo_passes_every_time_from_a_fresh_directory(tmp_path: Path) -> None:
    for attempt in range(6):
        where = tmp_path / f"fresh-{attempt}"
        where.mkdir()
        result = _demo(where)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "This progress looks :)" in result.stdout
        with sqlite3.connect(where / "data" / "warehouse.db") as db:
            days = db.execute("SELECT COUNT(DISTINCT date) FROM daily_revenue").fetchone()[0]
            rows = db.execute("SELECT COUNT(*) FROM daily_revenue").fetchone()[0]
        assert days == 7
        assert rows == 7 * 5  # five products a day, each day loaded exactly once


def test_a_second_demo_run_finds_everything_complete(tmp_path: Path) -> None:
    assert _demo(tmp_path).returncode == 0
    again = _demo(tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "complete ones were encountered" in again.stdout
    assert "Did not run any tasks" in again.stdout
