"""A submodule of a listed package."""

from __future__ import annotations

import dagcore


class Nested(dagcore.Task):
    """Defined in a submodule of the listed package."""

    task_namespace = "celeryunit.pkg"
