"""Copies of task classes: ``externalize`` (a class or task that never runs) and
``_task_wraps`` (a wrapper subclass that looks like the class it wraps).

Both are re-exported by :mod:`dagcore.task`, where Luigi keeps them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from dagcore.task_register import Register

__all__ = ["_task_wraps", "externalize"]

_C = TypeVar("_C", bound=type[Any])


def externalize(taskclass_or_taskobject: Any) -> Any:
    """Return a copy of a task class or instance that is never run (``run = None``).

    For a class, the copy is a subclass with the same family, hidden from the registry so
    lookups by name still find the original.
    """
    if isinstance(taskclass_or_taskobject, Register):  # a task class
        original = taskclass_or_taskobject
        namespace_attrs: dict[str, Any] = {
            "_visible_in_registry": False,
            "run": None,
            "__module__": original.__module__,
            "__qualname__": original.__qualname__,
            "__doc__": original.__doc__,
        }
        if "task_namespace" not in original.__dict__:
            namespace_attrs["task_namespace"] = original.get_task_namespace()
        metaclass: type[Any] = type(original)
        return metaclass(original.__name__, (original,), namespace_attrs)
    copied = copy.copy(taskclass_or_taskobject)
    copied.run = None
    return copied


def _task_wraps(task_class: type[Any]) -> Callable[[_C], _C]:
    """Decorator making a wrapper class look like ``task_class``: name, qualified name, module,
    docstring and namespace, so that it has the same family and pickles by name."""
    names = (*functools.WRAPPER_ASSIGNMENTS, "_namespace_at_class_time")

    def wrap(wrapper: _C) -> _C:
        for name in names:
            if name in ("__dict__", "__annotations__", "__type_params__"):
                continue
            if hasattr(task_class, name):
                setattr(wrapper, name, getattr(task_class, name))
        return wrapper

    return wrap
