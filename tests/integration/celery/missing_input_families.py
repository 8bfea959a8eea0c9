"""Task families with a missing external input and a broken requires(), for Celery workers."""

from __future__ import annotations

from typing import Any

import dagcore
from tests.integration.celery.graph_families import out, ran


class NotThere(dagcore.ExternalTask):
    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/not-there")


class NeedsNotThere(dagcore.Task):
    def requires(self) -> NotThere:
        return NotThere()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/needs-not-there")

    def run(self) -> None:
        ran(self)
        self.output().open("w").close()


class BrokenRequires(dagcore.Task):
    def requires(self) -> Any:
        raise KeyError("no such partition")


class Fine(dagcore.Task):
    n = dagcore.IntParameter()

    def output(self) -> dagcore.LocalTarget:
        return dagcore.LocalTarget(f"{out()}/fine-{self.n}")

    def run(self) -> None:
        ran(self)
        self.output().open("w").close()


class Mixed(dagcore.WrapperTask):
    def requires(self) -> Any:
        return [NeedsNotThere(), BrokenRequires(), Fine(n=1), Fine(n=2)]
