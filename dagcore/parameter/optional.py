"""The ``Optional...`` parameters: the same types as their plain classes, plus ``None``.

``None`` is written as the empty string, so ``--count ""`` (or ``count =`` in an INI file) means
no value. Each class is a ``Parameter[X | None]`` built from the plain class's conversion rules
and :class:`~dagcore.parameter.base.OptionalParameterMixin`; a value of another type than
``expected_type`` draws an :class:`~dagcore.errors.OptionalParameterTypeWarning`, as in Luigi.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from dagcore.freezing import FrozenDict
from dagcore.parameter.base import (
    OptionalParameterMixin,
    Parameter,
    ParameterKwargs,
    _NoValueType,
)
from dagcore.parameter.scalars import (
    ChoiceType,
    NumericalType,
    _BoolRules,
    _FloatRules,
    _IntRules,
    _NumericalRules,
    _PathRules,
    _SingleChoiceRules,
)
from dagcore.parameter.structured import _DictRules, _ListRules, _TupleRules

__all__ = [
    "OptionalBoolParameter",
    "OptionalChoiceParameter",
    "OptionalDictParameter",
    "OptionalFloatParameter",
    "OptionalIntParameter",
    "OptionalListParameter",
    "OptionalNumericalParameter",
    "OptionalParameter",
    "OptionalPathParameter",
    "OptionalStrParameter",
    "OptionalTupleParameter",
]


class OptionalParameter(OptionalParameterMixin, Parameter[str | None]):
    """A string or None."""

    expected_type = str


class OptionalStrParameter(OptionalParameterMixin, Parameter[str | None]):
    """A string or None."""

    expected_type = str


class OptionalIntParameter(OptionalParameterMixin, _IntRules, Parameter[int | None]):
    """An int or None."""

    expected_type = int


class OptionalFloatParameter(OptionalParameterMixin, _FloatRules, Parameter[float | None]):
    """A float or None."""

    expected_type = float


class OptionalBoolParameter(OptionalParameterMixin, _BoolRules, Parameter[bool | None]):
    """A bool or None (the default, as for every optional parameter)."""

    expected_type = bool

    def __init__(
        self,
        default: bool | None | _NoValueType = None,
        parsing: str | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, parsing, **kwargs)


class OptionalNumericalParameter(
    OptionalParameterMixin,
    _NumericalRules[NumericalType],
    Parameter[NumericalType | None],
):
    """A number of ``var_type`` in the permitted range, or None.

    Its ``expected_type`` is ``var_type`` (set by the shared rules).
    """


class OptionalChoiceParameter(
    OptionalParameterMixin, _SingleChoiceRules[ChoiceType], Parameter[ChoiceType | None]
):
    """One of ``choices``, or None."""

    def __init__(
        self,
        default: ChoiceType | None | _NoValueType = None,
        var_type: type[Any] = str,
        choices: Sequence[ChoiceType] | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, choices=choices, var_type=var_type, **kwargs)
        self.expected_type = var_type


class OptionalPathParameter(OptionalParameterMixin, _PathRules, Parameter[Path | None]):
    """A :class:`pathlib.Path` or None."""

    expected_type = (str, Path)

    def __init__(
        self,
        default: Path | str | None | _NoValueType = None,
        *,
        absolute: bool = False,
        exists: bool = False,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, absolute=absolute, exists=exists, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: str | os.PathLike[str] | None) -> None: ...


class OptionalDictParameter(OptionalParameterMixin, _DictRules, Parameter[FrozenDict | None]):
    """A JSON object (a FrozenDict) or None."""

    expected_type = FrozenDict

    def __init__(
        self,
        default: Mapping[Any, Any] | None | _NoValueType = None,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, schema=schema, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Mapping[Any, Any] | None) -> None: ...


class OptionalListParameter(OptionalParameterMixin, _ListRules, Parameter[tuple[Any, ...] | None]):
    """A JSON array (a tuple) or None."""

    expected_type = tuple

    def __init__(
        self,
        default: Sequence[Any] | None | _NoValueType = None,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, schema=schema, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Sequence[Any] | None) -> None: ...


class OptionalTupleParameter(
    OptionalParameterMixin, _TupleRules, Parameter[tuple[Any, ...] | None]
):
    """A tuple (JSON or Python literal) or None."""

    expected_type = tuple

    def __init__(
        self,
        default: Sequence[Any] | None | _NoValueType = None,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, schema=schema, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Sequence[Any] | None) -> None: ...
