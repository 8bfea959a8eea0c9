"""dagcore tasks for the summary tests; ``luigi_twins`` declares the same families for Luigi.

What a task does is scripted by label (its ``Family(param=value)`` form): labels in ``COMPLETE``
are complete before the run, labels in ``FAILING`` fail, ``CHILDREN[name]`` is what
``Group(name=name)`` requires.
"""

from __future__ import annotations

from typing import Any

from dagcore.parameter import DateParameter, IntParameter, Parameter
from dagcore.task import ExternalTask, Task

COMPLETE: set[str] = set()
FAILING: set[str] = set()
CHILDREN: dict[str, list[Any]] = {}


class Group(Task):
    name = Parameter()

    def requires(self) -> Any:
        return CHILDREN.get(self.name, [])


class Load(Task):
    i = IntParameter()


class Daily(Task):
    d = DateParameter()


class Pair(Task):
    x = IntParameter()
    i = IntParameter()


class Grid(Task):
    a = IntParameter()
    b = IntParameter()


class Wide(Task):
    a_rather_long_parameter_name_to_push_past = IntParameter()
    the_limit_luigi_sets_on_parameter_names = IntParameter()


class Solo(Task):
    pass


class Ext(ExternalTask):
    i = IntParameter(default=0)


class Fam0(Task):
    pass


class Fam1(Task):
    pass


class Fam2(Task):
    pass


class Fam3(Task):
    pass


class Fam4(Task):
    pass


class Fam5(Task):
    pass


class Fam6(Task):
    pass
