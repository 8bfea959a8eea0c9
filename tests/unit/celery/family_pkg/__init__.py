"""A listed package: families of its submodules count as its own."""

from __future__ import annotations

from tests.unit.celery.family_pkg.sub import Nested

__all__ = ["Nested"]
