"""Parameters holding one scalar: strings, numbers, booleans, choices, enums and paths.

Each type's conversions live in a ``_...Rules`` mixin shared by the plain class and its
``Optional...`` variant (see :mod:`dagcore.parameter.optional`). Behaviour and strings follow
Luigi, including its quirks (``IntParameter.normalize`` does not convert, ``BoolParameter``
normalises anything it cannot read to ``None``); only error messages differ, to say what was
expected.
"""

from __future__ import annotations

import enum
import operator
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Unpack

from typing_extensions import TypeVar

from dagcore.errors import ParameterException, ParameterValueError
from dagcore.parameter.base import (
    ConversionMixin,
    ConversionMixinWithInit,
    Parameter,
    ParameterKwargs,
    _no_value,
    _NoValueType,
    bad_type,
    bad_value,
    describe,
)

__all__ = [
    "BoolParameter",
    "ChoiceParameter",
    "ChoiceType",
    "EnumParameter",
    "EnumParameterType",
    "FloatParameter",
    "IntParameter",
    "NumericalParameter",
    "NumericalType",
    "PathParameter",
    "StrParameter",
]

NumericalType = TypeVar("NumericalType", int, float)
ChoiceType = TypeVar("ChoiceType", default=str)
EnumParameterType = TypeVar("EnumParameterType", bound=enum.Enum)


def _is_real_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- str ------------------------------------------------------------------------------------------


class StrParameter(Parameter[str]):
    """A parameter whose value is a ``str`` (the same as :class:`Parameter`, typed)."""

    def parse(self, x: str) -> str:
        return str(x)

    def _coerce_typed(self, value: Any) -> str:
        # ``name = 5`` in TOML for a string parameter means the string "5".
        return str(value)


# -- int and float --------------------------------------------------------------------------------


class _IntRules(ConversionMixin):
    def parse(self, x: str) -> int:
        try:
            return int(x)
        except (TypeError, ValueError):
            raise bad_value(self, x, "an integer, e.g. 42") from None

    def _coerce_typed(self, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad_type(self, value, "an integer")

    def next_in_enumeration(self, value: int) -> int | None:
        return value + 1


class IntParameter(_IntRules, Parameter[int]):
    """A parameter whose value is an ``int``, written in decimal."""


class _FloatRules(ConversionMixin):
    def parse(self, x: str) -> float:
        try:
            return float(x)
        except (TypeError, ValueError):
            raise bad_value(self, x, "a number, e.g. 1.5") from None

    def _coerce_typed(self, value: Any) -> float:
        if _is_real_number(value):
            return float(value)
        raise bad_type(self, value, "a number")


class FloatParameter(_FloatRules, Parameter[float]):
    """A parameter whose value is a ``float``."""


# -- bool -----------------------------------------------------------------------------------------


class _BoolRules(ConversionMixinWithInit):
    IMPLICIT_PARSING: ClassVar[str] = "implicit"
    EXPLICIT_PARSING: ClassVar[str] = "explicit"
    #: Used by parameters created without ``parsing=``; set it on the class to change them all.
    parsing: str = IMPLICIT_PARSING

    def __init__(
        self,
        default: Any = _no_value,
        parsing: str | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        chosen = type(self).parsing if parsing is None else parsing
        if chosen not in (self.IMPLICIT_PARSING, self.EXPLICIT_PARSING):
            raise ParameterException(
                f"{type(self).__name__}: unknown parsing {chosen!r}; use "
                "BoolParameter.IMPLICIT_PARSING or BoolParameter.EXPLICIT_PARSING"
            )
        self.parsing = chosen
        super().__init__(default=default, **kwargs)
        if self._default is _no_value:
            # A flag that is not given is off.
            self._default = False

    def parse(self, x: Any) -> bool:
        text = str(x).lower()
        if text == "true":
            return True
        if text == "false":
            return False
        raise bad_value(self, x, "true or false (any case)")

    def normalize(self, x: Any) -> Any:
        # Luigi's rule: anything that does not read as true/false becomes None. ``self.parse``
        # (not ``_BoolRules.parse``) so the optional variant passes non-strings through.
        try:
            return self.parse(x)
        except ValueError:
            return None

    def _parser_kwargs(self, param_name: str, task_name: str | None = None) -> dict[str, Any]:
        dest = f"{task_name}_{param_name}" if task_name else param_name
        if self.parsing == self.IMPLICIT_PARSING:
            return {"action": "store_true", "dest": dest}
        # Explicit: ``--flag true|false``; a bare ``--flag`` still means True.
        return {"action": "store", "dest": dest, "nargs": "?", "const": True}


class BoolParameter(_BoolRules, Parameter[bool]):
    """A parameter whose value is a ``bool``; it defaults to False.

    With ``parsing=BoolParameter.IMPLICIT_PARSING`` (the default) the command-line flag takes no
    value (``--flag`` means True); with ``EXPLICIT_PARSING`` it takes ``true`` or ``false``.
    """

    def __init__(
        self,
        default: bool | _NoValueType = _no_value,
        parsing: str | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, parsing, **kwargs)


# -- numbers in a range ---------------------------------------------------------------------------


class _NumericalRules(ConversionMixinWithInit, Generic[NumericalType]):
    _var_type: Callable[[Any], NumericalType]

    def __init__(
        self,
        default: Any = _no_value,
        *,
        var_type: type[NumericalType] | None = None,
        min_value: NumericalType | None = None,
        max_value: NumericalType | None = None,
        left_op: Callable[[Any, Any], bool] = operator.le,
        right_op: Callable[[Any, Any], bool] = operator.lt,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        if var_type is None or min_value is None or max_value is None:
            given = {"var_type": var_type, "min_value": min_value, "max_value": max_value}
            missing = ", ".join(name for name, value in given.items() if value is None)
            raise ParameterException(
                f"{type(self).__name__}: {missing} must be given, e.g. "
                "NumericalParameter(var_type=int, min_value=0, max_value=10)"
            )
        self._var_type = var_type
        # Read by the optional variant's type warning.
        self.expected_type: type | tuple[type, ...] = var_type
        self._min_value: NumericalType = min_value
        self._max_value: NumericalType = max_value
        self._left_op: Callable[[Any, Any], bool] = left_op
        self._right_op: Callable[[Any, Any], bool] = right_op
        left = "[" if left_op is operator.le else "("
        right = ")" if right_op is operator.lt else "]"
        self._permitted_range = f"{var_type.__name__} in {left}{min_value}, {max_value}{right}"
        super().__init__(default=default, **kwargs)
        prefix = f"{self.description} " if self.description else ""
        self.description = f"{prefix}permitted values: {self._permitted_range}"

    def _in_range(self, value: NumericalType) -> bool:
        return self._left_op(self._min_value, value) and self._right_op(value, self._max_value)

    def parse(self, x: str) -> NumericalType:
        try:
            value = self._var_type(x)
        except (TypeError, ValueError):
            raise bad_value(self, x, self._permitted_range) from None
        if not self._in_range(value):
            raise bad_value(self, x, self._permitted_range)
        return value

    def _coerce_typed(self, value: Any) -> NumericalType:
        if not _is_real_number(value):
            raise bad_type(self, value, self._permitted_range)
        converted = self._var_type(value)
        if converted != value:
            raise bad_type(self, value, self._permitted_range)  # 1.5 for an int parameter
        if not self._in_range(converted):
            raise bad_value(self, value, self._permitted_range)
        return converted


class NumericalParameter(_NumericalRules[NumericalType], Parameter[NumericalType]):
    """A number of ``var_type`` within ``min_value`` and ``max_value``.

    ``left_op`` and ``right_op`` (``operator.le`` / ``operator.lt`` by default) say whether each
    bound is included. Like Luigi, only strings (``parse``) are range-checked.
    """


# -- one of a set of choices ----------------------------------------------------------------------


class InvalidChoicesError(ParameterException, AssertionError):
    """A choice is not of the declared ``var_type``.

    Luigi checks this with an ``assert``, so the error is an :class:`AssertionError` too.
    """


class _ChoiceRules(ConversionMixinWithInit, Generic[ChoiceType]):
    _var_type: Callable[[Any], ChoiceType]

    def __init__(
        self,
        default: Any = _no_value,
        *,
        choices: Sequence[ChoiceType] | None = None,
        var_type: type[Any] = str,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        if choices is None:
            raise ParameterException(
                f"{type(self).__name__}: choices must be given, e.g. choices=['a', 'b']"
            )
        ordered = list(dict.fromkeys(choices))
        wrong = [c for c in ordered if type(c) is not var_type]
        if wrong:
            raise InvalidChoicesError(
                f"{type(self).__name__}: every choice must be a {var_type.__name__} "
                f"(var_type), got {wrong!r}"
            )
        self._choices: set[ChoiceType] = set(ordered)
        self._ordered_choices: tuple[ChoiceType, ...] = tuple(ordered)
        self._var_type = var_type
        super().__init__(default=default, **kwargs)
        prefix = f"{self.description} " if self.description else ""
        listed = ", ".join(str(c) for c in ordered)
        self.description = f"{prefix}Choices: {{{listed}}}"

    def _choice_list(self) -> str:
        return ", ".join(repr(c) for c in self._ordered_choices)

    def _convert(self, x: Any) -> ChoiceType:
        try:
            return self._var_type(x)
        except (TypeError, ValueError):
            raise bad_value(
                self,
                x,
                f"a {getattr(self._var_type, '__name__', 'value')} among: {self._choice_list()}",
            ) from None

    def _check_choice(self, x: Any) -> ChoiceType:
        try:
            known = x in self._choices
        except TypeError:
            raise bad_type(self, x, f"one of: {self._choice_list()}") from None
        if not known:
            raise bad_value(self, x, f"one of: {self._choice_list()}")
        return x  # type: ignore[no-any-return]


class _SingleChoiceRules(_ChoiceRules[ChoiceType]):
    def parse(self, x: str) -> ChoiceType:
        # ``self.normalize`` so the optional variant's None handling applies, as in Luigi.
        return self.normalize(self._convert(x))  # type: ignore[no-any-return]

    def normalize(self, x: Any) -> Any:
        return self._check_choice(x)

    def _coerce_typed(self, value: Any) -> Any:
        return self.normalize(self._convert(value))


class ChoiceParameter(_SingleChoiceRules[ChoiceType], Parameter[ChoiceType]):
    """A value among ``choices``; strings are converted with ``var_type`` (default ``str``)."""

    def __init__(
        self,
        default: ChoiceType | _NoValueType = _no_value,
        *,
        choices: Sequence[ChoiceType] | None = None,
        var_type: type[Any] = str,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, choices=choices, var_type=var_type, **kwargs)


# -- enums ----------------------------------------------------------------------------------------


class EnumParameter(Parameter[EnumParameterType]):
    """A member of ``enum``, written as its name (``Model.Honda`` is ``Honda``)."""

    def __init__(
        self,
        default: EnumParameterType | _NoValueType = _no_value,
        *,
        enum: type[EnumParameterType] | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        if enum is None:
            raise ParameterException(f"{type(self).__name__}: the enum= class must be given")
        self._enum = enum
        super().__init__(default=default, **kwargs)

    def parse(self, x: str) -> EnumParameterType:
        try:
            return self._enum[x]
        except KeyError:
            names = ", ".join(self._enum.__members__)
            raise bad_value(self, x, f"a member name of {self._enum.__name__}: {names}") from None

    def serialize(self, x: EnumParameterType) -> str:
        return x.name

    def _coerce_typed(self, value: Any) -> EnumParameterType:
        if isinstance(value, str):
            return self.parse(value)
        raise bad_type(self, value, f"a member name of {self._enum.__name__}")


# -- paths ----------------------------------------------------------------------------------------


class _PathRules(ConversionMixinWithInit):
    def __init__(
        self,
        default: Any = _no_value,
        *,
        absolute: bool = False,
        exists: bool = False,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default=default, **kwargs)
        self.absolute = absolute
        self.exists = exists

    def parse(self, x: str) -> Path:
        # Luigi returns the string and converts in normalize; returning the Path at once keeps
        # parse's result the documented type, and a task built from it is the same.
        return self._to_path(x)

    def normalize(self, x: Any) -> Any:
        return self._to_path(x)

    def _to_path(self, x: Any) -> Path:
        try:
            path = Path(x)
        except TypeError:
            raise bad_type(self, x, "a path (str or os.PathLike)") from None
        if self.absolute:
            path = path.absolute()
        if self.exists and not path.exists():
            raise ParameterValueError(
                f"{describe(self)}: The path {path} does not exist; it must be an existing "
                "path, so create it first"
            )
        return path


class PathParameter(_PathRules, Parameter[Path]):
    """A :class:`pathlib.Path`; ``absolute=True`` makes it absolute, ``exists=True`` checks it."""

    def __init__(
        self,
        default: Path | str | _NoValueType = _no_value,
        *,
        absolute: bool = False,
        exists: bool = False,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, absolute=absolute, exists=exists, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: str | os.PathLike[str]) -> None: ...
