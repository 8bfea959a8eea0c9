"""Decorators that share parameters between tasks: ``@inherits``, ``@requires``, ``@copies``.

They save repeating a parent's parameters in every downstream task::

    @requires(Extract)
    class Transform(dagcore.Task):
        def run(self): ...  # self.input() is Extract's output; Transform has Extract's params
"""

from __future__ import annotations

from typing import Any, TypeVar

from dagcore.task import Task

__all__ = ["common_params", "copies", "inherits", "requires"]

_TaskT = TypeVar("_TaskT", bound=type[Task])


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
    """The parameter values of ``task_instance`` that ``task_cls`` also declares."""
    names = {name for name, _ in task_cls.get_params()}
    return {k: v for k, v in task_instance.param_kwargs.items() if k in names}
