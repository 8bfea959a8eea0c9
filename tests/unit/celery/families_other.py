"""Families a listed module imports but that a worker must not run (not listed itself)."""

from __future__ import annotations

import dagcore


class Hidden(dagcore.Task):
    """Defined outside the listed modules: never registered."""

    task_namespace = "celeryunit"
    n = dagcore.IntParameter(default=0)
