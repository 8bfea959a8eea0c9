"""Helpers between tasks: ``@inherits``, ``@requires``, ``@copies``, ``@delegates``, ``previous``.

The decorators save repeating a parent's parameters in every downstream task::

    @requires(Extract)
    class Transform(dagcore.Task):
        def run(self): ...  # self.input() is Extract's output; Transform has Extract's params

:func:`previous` and :func:`get_previous_completed` step a dated task back in time.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, TypeVar, cast

from dagcore.parameter import (
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
)
from dagcore.task import Task, flatten

__all__ = [
    "common_params",
    "copies",
    "delegates",
    "get_previous_completed",
    "inherits",
    "previous",
    "requires",
]

logger = logging.getLogger("dagcore")

_TaskT = TypeVar("_TaskT", bound=type[Task])
_T = TypeVar("_T", bound=Task)


class inherits:  # noqa: N801 - Luigi's spelling, kept for ported code
    """Give the decorated task every parameter of the given tasks it does not declare itself.

    Adds ``clone_parent()`` (first positional task) and ``clone_parents()`` (all of them, a
    list, or a dict for keyword tasks) building the parents from the child's values.
    """

    def __init__(self, *tasks_to_inherit: type[Task], **kw_tasks_to_inherit: type[Task]) -> None:
        if not tasks_to_inherit and not kw_tasks_to_inherit:
            raise TypeError("@inherits needs at least one task class")
        if tasks_to_inherit and kw_tasks_to_inherit:
            raise TypeError("@inherits takes task classes either positionally or by name, not both")
        self.tasks_to_inherit = tasks_to_inherit
        self.kw_tasks_to_inherit = kw_tasks_to_inherit

    def _parents(self) -> list[type[Task]]:
        return list(self.tasks_to_inherit) or list(self.kw_tasks_to_inherit.values())

    def __call__(self, task_that_inherits: _TaskT) -> _TaskT:
        for parent in self._parents():
            for name, param in parent.get_params():
                if not hasattr(task_that_inherits, name):
                    setattr(task_that_inherits, name, param)
        positional = self.tasks_to_inherit
        named = self.kw_tasks_to_inherit
        if positional:

            def clone_parent(self_: Task, **kwargs: Any) -> Task:
                return self_.clone(cls=positional[0], **kwargs)

            def clone_parents(self_: Task, **kwargs: Any) -> Any:
                return [self_.clone(cls=parent, **kwargs) for parent in positional]

            task_that_inherits.clone_parent = clone_parent
        else:

            def clone_parents(self_: Task, **kwargs: Any) -> Any:
                return {key: self_.clone(cls=parent, **kwargs) for key, parent in named.items()}

        task_that_inherits.clone_parents = clone_parents
        return task_that_inherits


class requires:  # noqa: N801 - Luigi's spelling
    """``@inherits`` plus a ``requires()`` returning the parent (one) or parents (several)."""

    def __init__(self, *tasks_to_require: type[Task], **kw_tasks_to_require: type[Task]) -> None:
        self.inherit = inherits(*tasks_to_require, **kw_tasks_to_require)
        self.single = len(tasks_to_require) == 1

    def __call__(self, task_that_requires: _TaskT) -> _TaskT:
        task_that_requires = self.inherit(task_that_requires)
        single = self.single

        def requires_(self_: Any) -> Any:
            return self_.clone_parent() if single else self_.clone_parents()

        task_that_requires.requires = requires_  # type: ignore[method-assign,assignment]
        return task_that_requires


class copies:  # noqa: N801 - Luigi's spelling
    """``@requires(task)`` plus a ``run()`` that copies the parent's output line by line."""

    def __init__(self, task_to_copy: type[Task]) -> None:
        self.require = requires(task_to_copy)

    def __call__(self, task_that_copies: _TaskT) -> _TaskT:
        task_that_copies = self.require(task_that_copies)

        def run(self_: Task) -> None:
            source, dest = self_.input(), self_.output()
            with source.open("r") as reader, dest.open("w") as writer:
                for line in reader:
                    writer.write(line)

        task_that_copies.run = run  # type: ignore[method-assign,assignment]
        return task_that_copies


def common_params(task_instance: Task, task_cls: type[Task]) -> dict[str, Any]:
    """The parameter values of ``task_instance`` that ``task_cls`` also declares.

    Raises:
        TypeError: ``task_cls`` is not a task class (e.g. the arguments were swapped).
    """
    if not isinstance(task_cls, type) or not issubclass(task_cls, Task):
        raise TypeError(
            f"common_params(task_instance, task_cls): task_cls must be a task class, got "
            f"{task_cls!r}"
        )
    if not isinstance(task_instance, Task):
        raise TypeError(
            f"common_params(task_instance, task_cls): task_instance must be a task, got "
            f"{task_instance!r}"
        )
    names = {name for name, _ in task_cls.get_params()}
    return {k: v for k, v in task_instance.param_kwargs.items() if k in names}


def delegates(task_that_delegates: _TaskT) -> _TaskT:
    """Let a task use helper tasks (its ``subtasks()``) as plain objects inside ``run()``.

    The subtasks are never scheduled: their requirements become the decorated task's
    (``deps()``), and their ``run()`` methods are called, in order, before its own.

    Raises:
        AttributeError: the class has no ``subtasks`` method.
    """
    if not hasattr(task_that_delegates, "subtasks"):
        raise AttributeError(
            f"{task_that_delegates.__name__}: @delegates needs a subtasks() method returning "
            "the tasks to delegate to"
        )
    own_run = task_that_delegates.run

    def deps(self_: Any) -> list[Task]:
        subtasks = flatten(self_.subtasks())
        return flatten(self_.requires()) + flatten([sub.deps() for sub in subtasks])

    def run(self_: Any) -> Any:
        for sub in flatten(self_.subtasks()):
            sub.run()
        return own_run(self_)

    task_that_delegates.deps = deps  # type: ignore[method-assign,assignment]
    task_that_delegates.run = run  # type: ignore[method-assign,assignment]
    return task_that_delegates


# The step back for each kind of time parameter (a Month or Year steps back one day and is
# normalised to the start of the previous month or year).
_STEPS: tuple[tuple[type, datetime.timedelta], ...] = (
    (DateParameter, datetime.timedelta(days=1)),
    (DateSecondParameter, datetime.timedelta(seconds=1)),
    (DateMinuteParameter, datetime.timedelta(minutes=1)),
    (DateHourParameter, datetime.timedelta(hours=1)),
)


def previous(task: _T) -> _T:
    """The task of the same family one step earlier in time, other parameters unchanged.

    The task must have exactly one time parameter (a date, date-hour, date-minute,
    date-second or date-interval parameter); it is stepped back by a day, an hour, a minute,
    a second or one interval.

    Raises:
        NotImplementedError: the task has no time parameter, or several.
    """
    stepped: dict[str, Any] = {}
    for name, param in task.get_params():
        value = getattr(task, name)
        if isinstance(param, DateIntervalParameter):
            stepped[name] = value.prev()
            continue
        for kind, step in _STEPS:
            if isinstance(param, kind):
                stepped[name] = value - step
                break
    if not stepped:
        raise NotImplementedError(
            f"{task.get_task_family()} has no date parameter: cannot tell its previous task"
        )
    if len(stepped) > 1:
        raise NotImplementedError(
            f"{task.get_task_family()} has several date parameters ({', '.join(stepped)}): "
            "cannot tell which one to step back"
        )
    return cast("_T", task.clone(**stepped))


def get_previous_completed(task: _T, max_steps: int = 10) -> _T | None:
    """The nearest earlier task (see :func:`previous`) that is complete, within ``max_steps``.

    Returns None if none of the ``max_steps`` previous tasks is complete.
    """
    candidate = task
    for _ in range(max_steps):
        candidate = previous(candidate)
        logger.debug("Checking if %s is complete", candidate)
        if candidate.complete():
            return candidate
    return None
