"""Task families the worker-process tests start ``dagcore worker --module`` with."""

from __future__ import annotations

import dagcore
from tests.integration.celery.worker_process_other import Outsider


class Record(dagcore.Task):
    """The family most tests send messages to."""

    task_namespace = "wproc"
    key = dagcore.Parameter()

    def requires(self) -> Outsider:
        return Outsider()


class Other(dagcore.Task):
    """A second family of the same module."""

    task_namespace = "wproc"
