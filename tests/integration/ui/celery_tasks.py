"""Tasks for watching a Celery run in ``dagcore ui``: outputs under ``$DAGCORE_TEST_OUT``.

``Gate`` runs until its ``release`` file appears; ``Broken`` fails with a traceback.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagcore


def _out(name: str) -> dagcore.LocalTarget:
    return dagcore.LocalTarget(str(Path(os.environ["DAGCORE_TEST_OUT"]) / name))


class Piece(dagcore.Task):
    n = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return _out(f"piece-{self.n}.txt")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(str(self.n))


class Gate(dagcore.Task):
    release = dagcore.Parameter()

    def requires(self) -> list[Piece]:
        return [Piece(n=n) for n in range(3)]

    def output(self) -> dagcore.LocalTarget:
        return _out("gate.txt")

    def run(self) -> None:
        deadline = time.monotonic() + 90
        while not Path(self.release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.output().open("w").close()


class Broken(dagcore.Task):
    def requires(self) -> Piece:
        return Piece(n=0)

    def output(self) -> dagcore.LocalTarget:
        return _out("broken.txt")

    def run(self) -> None:
        raise ValueError("celery side failure")
