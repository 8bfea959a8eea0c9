"""``dagcore history --json | head``: a reader that goes away is not an error message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SEED = """
import dagcore

class Leaf(dagcore.Task):
    i = dagcore.IntParameter()

    def run(self):
        pass

summary = dagcore.build([Leaf(i=k) for k in range(1500)], workers=1, detailed_summary=True)
print(summary.run_id)
"""


def test_history_json_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["DAGCORE_HISTORY_URL"] = f"sqlite:///{tmp_path / 'history.db'}"
    env.pop("DAGCORE_CONFIG_PATH", None)
    seeded = subprocess.run(
        [sys.executable, "-c", SEED],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    run_id = seeded.stdout.strip().splitlines()[-1]
    reader = subprocess.Popen(
        [sys.executable, "-m", "dagcore", "history", "--run", run_id, "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.read(10)  # the head of the document, then the reader goes away
    reader.stdout.close()
    errors = reader.stderr.read().decode()
    reader.stderr.close()
    assert reader.wait(timeout=120) == 141
    assert "Traceback" not in errors
    assert "BrokenPipe" not in errors
