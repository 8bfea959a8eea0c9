"""The families of ``tasks`` declared for Luigi, to compare summaries with Luigi's own."""

from __future__ import annotations

from typing import Any

import luigi

COMPLETE: set[str] = set()
FAILING: set[str] = set()
RAN: set[str] = set()
CHILDREN: dict[str, list[Any]] = {}


class _Scripted(luigi.Task):
    def complete(self) -> bool:
        return str(self) in COMPLETE or str(self) in RAN

    def run(self) -> None:
        if str(self) in FAILING:
            raise ValueError(f"boom {self}")
        RAN.add(str(self))


class Group(_Scripted):
    name = luigi.Parameter()

    def requires(self) -> Any:
        return CHILDREN.get(self.name, [])


class Load(_Scripted):
    i = luigi.IntParameter()


class Daily(_Scripted):
    d = luigi.DateParameter()


class Pair(_Scripted):
    x = luigi.IntParameter()
    i = luigi.IntParameter()


class Grid(_Scripted):
    a = luigi.IntParameter()
    b = luigi.IntParameter()


class Wide(_Scripted):
    a_rather_long_parameter_name_to_push_past = luigi.IntParameter()
    the_limit_luigi_sets_on_parameter_names = luigi.IntParameter()


class Solo(_Scripted):
    pass


class Ext(luigi.ExternalTask):
    i = luigi.IntParameter(default=0)

    def complete(self) -> bool:
        return str(self) in COMPLETE


class Fam0(_Scripted):
    pass


class Fam1(_Scripted):
    pass


class Fam2(_Scripted):
    pass


class Fam3(_Scripted):
    pass


class Fam4(_Scripted):
    pass


class Fam5(_Scripted):
    pass


class Fam6(_Scripted):
    pass
