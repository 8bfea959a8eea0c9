"""dagcore on the anchors' ETL DAG: N x (Extract -> Transform -> Load) -> Report.

Usage: python -m bench.dagcore_etl N WORKERS OUTDIR [EXECUTOR [limited]]
(``limited``: Transform under a ``max_running`` that is never reached.)
Prints the anchors' line format: ``dagcore n_tasks=... workers=... wall_s=... tasks_per_s=...``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import dagcore

OUT = os.environ.get("ETL_OUT", "/tmp/dagcore-etl")


class Extract(dagcore.Task):
    i = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{OUT}/e{self.i}")

    def run(self) -> None:
        with self.output().open("w") as f:
            f.write(str(self.i))


class Transform(dagcore.Task):
    i = dagcore.IntParameter()

    def requires(self) -> Extract:
        return Extract(i=self.i)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{OUT}/t{self.i}")

    def run(self) -> None:
        with self.input().open() as f, self.output().open("w") as g:
            g.write(f.read())


class LimitedTransform(Transform):
    """Transform under a semaphore that is never reached: what the semaphore costs."""

    max_running = 1_000_000


class Load(dagcore.Task):
    i = dagcore.IntParameter()
    limited = dagcore.BoolParameter(default=False)

    def requires(self) -> Transform:
        return LimitedTransform(i=self.i) if self.limited else Transform(i=self.i)

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{OUT}/l{self.i}")

    def run(self) -> None:
        with self.input().open() as f, self.output().open("w") as g:
            g.write(f.read())


class Report(dagcore.Task):
    n = dagcore.IntParameter()
    limited = dagcore.BoolParameter(default=False)

    def requires(self) -> Any:
        return [Load(i=i, limited=self.limited) for i in range(self.n)]

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{OUT}/report")

    def run(self) -> None:
        with self.output().open("w") as g:
            g.write(str(len(self.input())))


def main(argv: list[str]) -> int:
    n, workers, out = int(argv[0]), int(argv[1]), argv[2]
    executor = argv[3] if len(argv) > 3 else "local"
    limited = len(argv) > 4 and argv[4] == "limited"
    if out != OUT:
        raise SystemExit("set ETL_OUT to OUTDIR before importing (bench.run does)")
    os.makedirs(out, exist_ok=True)
    started = time.time()
    report = Report(n=n, limited=limited)
    ok = dagcore.build([report], workers=workers, executor=executor, log_level="WARNING")
    wall = time.time() - started
    print(
        f"dagcore-{executor} n_tasks={3 * n + 1} workers={workers} ok={ok} "
        f"wall_s={wall:.2f} tasks_per_s={(3 * n + 1) / wall:.1f}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
