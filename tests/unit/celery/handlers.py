"""Message handlers for the registry tests: they record their calls in this process."""

from __future__ import annotations

from typing import Any

CALLS: list[tuple[Any, str, dict[str, Any]]] = []
CONFIGURED: list[tuple[str, ...]] = []


def record(celery_task: Any, /, *, family: str, **kwargs: Any) -> str:
    """Remember the call; the return value is the task's result."""
    CALLS.append((celery_task, family, kwargs))
    return f"ran {family}"


def configure(modules: tuple[str, ...]) -> None:
    """Called by ``worker_app`` with the modules the worker may run families from."""
    CONFIGURED.append(modules)


NOT_CALLABLE = 42
