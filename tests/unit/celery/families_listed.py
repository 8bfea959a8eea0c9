"""Families of a module given to ``register_families`` in the unit tests."""

from __future__ import annotations

import dagcore
from tests.unit.celery.families_other import Hidden


class Extract(dagcore.Task):
    """A namespaced family: its Celery task must carry the full family name."""

    task_namespace = "celeryunit"
    day = dagcore.Parameter()


class Load(dagcore.Task):
    """Requires a family from another module, which is loaded but not listed."""

    task_namespace = "celeryunit"
    day = dagcore.Parameter()

    def requires(self) -> Hidden:
        return Hidden()
