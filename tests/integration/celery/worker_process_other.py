"""Families the worker's module imports but that the worker must not run (module not listed)."""

from __future__ import annotations

import dagcore


class Outsider(dagcore.Task):
    """Loaded into the worker as a dependency, never registered as a Celery task."""

    task_namespace = "wproc"
