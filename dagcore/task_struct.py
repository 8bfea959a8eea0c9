"""Walking the nested structures that ``requires()`` and ``output()`` return.

A task may return one task or target, or any nesting of lists, tuples and dicts of them.
:func:`flatten` lists the leaves, :func:`getpaths` maps tasks to their outputs keeping the shape,
:func:`flatten_output` finds the outputs behind output-less (wrapper) tasks, and
:class:`DynamicRequirements` is what ``run()`` may yield. All of them are re-exported by
:mod:`dagcore.task`, their home in Luigi.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dagcore.task_register import Register

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = ["DynamicRequirements", "flatten", "flatten_output", "getpaths", "is_task"]


def is_task(obj: object) -> bool:
    """True for a task instance (every task class is built by the :class:`Register` metaclass).

    Cheaper than ``isinstance(obj, Task)`` and usable where ``Task`` cannot be imported.
    """
    return isinstance(type(obj), Register)


def _iter_flat(struct: Any) -> Iterator[Any]:
    if struct is None:
        return
    if isinstance(struct, dict):
        for value in struct.values():
            yield from _iter_flat(value)
        return
    if isinstance(struct, str | bytes):
        yield struct
        return
    try:
        items = iter(struct)
    except TypeError:
        yield struct
        return
    for item in items:
        yield from _iter_flat(item)


def flatten(struct: Any) -> list[Any]:
    """Flatten tasks or targets nested in lists, tuples and dicts (dict values) into a list.

    ``None`` gives ``[]``; a string is one leaf; any other iterable is walked.
    """
    if is_task(struct):  # hot paths: one requirement, or a flat list of them
        return [struct]
    if isinstance(struct, list | tuple) and all(is_task(item) for item in struct):
        return list(struct)
    return list(_iter_flat(struct))


def flatten_output(task: Task) -> list[Any]:
    """The outputs of ``task``, or, for a task without outputs, those of its requirements.

    Output-less tasks (wrappers) are looked through transitively, breadth first; a task reached
    along several paths (a diamond of wrappers) contributes its outputs once.
    """
    with_outputs: dict[Task, None] = {}  # an ordered set
    expanded: set[Task] = set()
    queue = deque([task])
    while queue:
        current = queue.popleft()
        if flatten(current.output()):
            with_outputs.setdefault(current, None)
        elif current not in expanded:
            expanded.add(current)
            queue.extend(flatten(current.requires()))
    return flatten([found.output() for found in with_outputs])


def getpaths(struct: Any) -> Any:
    """Map tasks nested in lists, tuples and dicts to their outputs, keeping the shape.

    Raises:
        TypeError: ``struct`` is neither a task nor a structure of them (e.g. ``None``).
    """
    if is_task(struct):
        return struct.output()
    if isinstance(struct, dict):
        return type(struct)((key, getpaths(value)) for key, value in struct.items())
    if isinstance(struct, list | tuple):
        return type(struct)(getpaths(item) for item in struct)
    try:
        return [getpaths(item) for item in struct]
    except TypeError as exc:
        raise TypeError(f"Cannot map {struct!r} to tasks: expected a task, list or dict") from exc


class DynamicRequirements:
    """Requirements yielded from ``run()``, optionally with a faster completeness check.

    Parameters:
        requirements: a task or any nesting of tasks.
        custom_complete: ``f(complete_fn) -> bool`` deciding whether all are complete, e.g.
            with one listing instead of a ``complete()`` call per task.
    """

    def __init__(
        self,
        requirements: Any,
        custom_complete: Callable[[Callable[[Task], bool]], bool] | None = None,
    ) -> None:
        self.requirements = requirements
        self.custom_complete = custom_complete

    @cached_property
    def flat_requirements(self) -> list[Task]:
        """The requirements as a flat list (computed once)."""
        return flatten(self.requirements)

    @cached_property
    def paths(self) -> Any:
        """The outputs of the requirements, in the shape of ``requirements`` (computed once)."""
        return getpaths(self.requirements)

    def complete(self, complete_fn: Callable[[Task], bool] | None = None) -> bool:
        """True if every requirement is complete (as ``complete_fn`` judges, if given)."""
        check: Callable[[Task], bool] = complete_fn or (lambda task: task.complete())
        if self.custom_complete is not None:
            return self.custom_complete(check)
        return all(check(task) for task in self.flat_requirements)
