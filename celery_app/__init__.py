"""Celery integration of dagcore (comes with the Celery executor).

``celery -A celery_app worker`` finds ``celery_app.app``: the Celery app configured from
dagcore's settings, with the families of ``[worker] modules`` registered (see
:func:`celery_app.app.default_app`). ``dagcore worker`` is the friendlier way to start one.

Once the submodule :mod:`celery_app.app` has been imported, Python binds the package
attribute ``app`` to that module; ``celery`` stays the app (Celery's lookup tries ``app``,
skips it when it is a module, then tries ``celery``).

Importing this package reads no configuration, imports no task module and connects to nothing:
``app`` is built on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["app", "celery"]


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        # Imported on demand: importing the package (for celery_app.executor, say) must not
        # load Celery's app machinery or read the configuration.
        return importlib.import_module("celery_app.app").default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
