"""A pipeline script run directly (``python mypipe.py``) submits to Celery as it runs locally.

Its tasks live in ``__main__``; they are submitted under the script's module name, which a
worker started with ``--module mypipe`` beside the script imports, with the same code
fingerprint check.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.celery.conftest import CeleryEnv, StartWorker

REPO = Path(__file__).resolve().parents[3]

SCRIPT = """
import sys

import dagcore


class Shout(dagcore.Task):
    word = dagcore.Parameter()

    def output(self):
        return dagcore.LocalTarget(f"out/{self.word}.txt")

    def run(self):
        with self.output().open("w") as out:
            out.write(self.word.upper())


class Both(dagcore.WrapperTask):
    def requires(self):
        return [Shout(word="alpha"), Shout(word="beta")]


if __name__ == "__main__":
    ok = dagcore.build([Both()], executor="celery", no_history=True)
    sys.exit(0 if ok else 1)
"""


def _run_script(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "mypipe.py"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _script_beside_a_worker(
    celery_env: CeleryEnv, start_worker: StartWorker, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Write ``mypipe.py`` and start a worker with ``--module mypipe`` beside it."""
    where = celery_env.directory
    (where / "mypipe.py").write_text(textwrap.dedent(SCRIPT))
    monkeypatch.setenv("PYTHONPATH", str(where))
    start_worker(["mypipe"], concurrency=1)
    return where


def test_a_script_run_directly_runs_on_workers_started_with_its_module(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = _script_beside_a_worker(celery_env, start_worker, monkeypatch)

    result = _run_script(where)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (where / "out/alpha.txt").read_text() == "ALPHA"
    assert (where / "out/beta.txt").read_text() == "BETA"


def test_a_script_changed_after_the_workers_started_is_refused_by_fingerprint(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = _script_beside_a_worker(celery_env, start_worker, monkeypatch)
    (where / "mypipe.py").write_text(textwrap.dedent(SCRIPT).replace("upper()", "lower()"))

    result = _run_script(where)

    assert result.returncode == 1  # build() returned False: the worker refused the messages
    assert not (where / "out/alpha.txt").exists()
    assert not (where / "out/beta.txt").exists()
