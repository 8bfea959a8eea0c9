"""An unmodified Luigi module (``import luigi``) runs on a Celery fleet through the alias."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.celery.conftest import CeleryEnv, StartWorker

REPO = Path(__file__).resolve().parents[3]

LUIGI_MODULE = """
import luigi


class Greet(luigi.Task):
    name = luigi.Parameter()

    def output(self):
        return luigi.LocalTarget(f"out/greet-{self.name}.txt")

    def run(self):
        with self.output().open("w") as out:
            out.write(f"hello {self.name} via {luigi.__name__}")


class All(luigi.WrapperTask):
    def requires(self):
        return [Greet(name=n) for n in ("ada", "grace")]
"""


def test_a_luigi_module_runs_on_workers_with_the_alias_switch(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = celery_env.directory
    (where / "luigi_pipe.py").write_text(textwrap.dedent(LUIGI_MODULE))
    monkeypatch.setenv("PYTHONPATH", str(where))
    monkeypatch.setenv("DAGCORE_LUIGI_ALIAS", "1")  # the workers' switch
    start_worker(["luigi_pipe"], concurrency=1)
    monkeypatch.delenv("DAGCORE_LUIGI_ALIAS")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(where)])}
    result = subprocess.run(
        [sys.executable, "-m", "dagcore", "run", "--luigi-alias", "--module", "luigi_pipe"]
        + ["All", "--executor", "celery", "--no-history"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (where / "out/greet-ada.txt").read_text() == "hello ada via dagcore"
    assert (where / "out/greet-grace.txt").read_text() == "hello grace via dagcore"
