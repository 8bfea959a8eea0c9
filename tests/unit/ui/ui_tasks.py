"""A small pipeline with every kind of outcome, for the UI's tests.

``Report`` needs ``Clean(part)`` for each part, each of which needs ``Extract(part)``;
``Broken`` fails with a traceback, ``Flaky`` succeeds on its second attempt and ``Gate`` waits
until a file appears (so a test can watch a run while it is running).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dagcore


class Extract(dagcore.Task):
    part = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/raw-{self.part}.txt")

    def run(self) -> None:
        with self.output().open("w") as out:
            out.write(f"raw {self.part}\n")


class Clean(dagcore.Task):
    part = dagcore.IntParameter()

    def requires(self) -> Extract:
        return Extract(part=self.part)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"out/clean-{self.part}.txt")

    def run(self) -> None:
        self.set_status_message(f"cleaning part {self.part}")
        self.set_progress_percentage(100)
        with self.input().open() as src, self.output().open("w") as out:
            out.write(src.read().upper())


class Report(dagcore.Task):
    parts = dagcore.IntParameter(default=3)

    def requires(self) -> list[Clean]:
        return [Clean(part=i) for i in range(self.parts)]

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/report.txt")

    def run(self) -> None:
        with self.output().open("w") as out:
            for item in self.input():
                with item.open() as src:
                    out.write(src.read())


class Broken(dagcore.Task):
    def requires(self) -> Extract:
        return Extract(part=0)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/broken.txt")

    def run(self) -> None:
        raise ValueError("bad row 42 in raw-0")


class AfterBroken(dagcore.Task):
    def requires(self) -> Broken:
        return Broken()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/after-broken.txt")

    def run(self) -> None:
        self.output().open("w").close()


class Flaky(dagcore.Task):
    retry_count = 2
    retry_delay = 0.1

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/flaky.txt")

    def run(self) -> None:
        marker = Path("out/flaky.tried")
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise RuntimeError("first attempt fails")
        self.output().open("w").close()


class Gate(dagcore.Task):
    """Succeeds once ``release`` exists (at most 60 s later)."""

    release = dagcore.Parameter()

    def requires(self) -> Any:
        return Report(parts=2)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget("out/gate.txt")

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not Path(self.release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.output().open("w").close()
