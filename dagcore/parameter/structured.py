"""Parameters holding structures: JSON dicts and lists, tuples, lists of choices or enum
members, and task classes.

Values are frozen so tasks stay hashable: mappings become :class:`~dagcore.freezing.FrozenDict`
and lists become tuples, at every depth. The JSON strings are exactly Luigi's
(``json.dumps`` defaults: ``", "`` and ``": "`` separators, non-ASCII escaped), so task ids match.
A JSON ``schema`` (a dict, or a ``jsonschema`` validator object) is checked by ``normalize``.
"""

from __future__ import annotations

import ast
import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from typing_extensions import TypeVar

# task_register imports parameter.base, and TaskParameter needs the registry when it parses;
# importing the module (not its names) lets either side be imported first.
from dagcore import task_register
from dagcore.errors import ParameterException, ParameterTypeError, ParameterValueError
from dagcore.freezing import FrozenDict, freeze, unfreeze
from dagcore.parameter.base import (
    ConversionMixinWithInit,
    Parameter,
    ParameterKwargs,
    _no_value,
    _NoValueType,
    bad_type,
    bad_value,
    package_attribute,
    warnings_module,
)
from dagcore.parameter.scalars import ChoiceType, EnumParameterType, _ChoiceRules

try:
    import jsonschema
except ImportError:  # pragma: no cover - the "schema" extra is not installed
    jsonschema = None  # type: ignore[assignment]

_JSONSCHEMA_ENABLED = jsonschema is not None
"""Whether schemas are checked (Luigi's ``_JSONSCHEMA_ENABLED``)."""

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = [
    "ChoiceListParameter",
    "DictParameter",
    "DictT",
    "EnumListParameter",
    "ListParameter",
    "ListT",
    "TaskParameter",
    "TaskType",
    "TupleParameter",
]

TaskType = TypeVar("TaskType", bound="Task", default="Task")
# Luigi's names for the value types of DictParameter and ListParameter, kept for imports.
DictT = TypeVar("DictT", bound=Mapping[Any, Any], default=FrozenDict)
ListT = TypeVar("ListT", bound=tuple[Any, ...], default=tuple[Any, ...])


class _FrozenJSONEncoder(json.JSONEncoder):
    """Writes frozen mappings as JSON objects (tuples are arrays already)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, Mapping):
            return dict(o)
        return super().default(o)


def _dumps(param: object, value: Any) -> str:
    try:
        return json.dumps(value, cls=_FrozenJSONEncoder)
    except (TypeError, ValueError) as exc:
        raise bad_type(param, value, f"a JSON-serialisable value ({exc})") from None


def _loads(param: object, text: str, expected: str) -> Any:
    # As Luigi: JSON objects become frozen mappings, arrays stay lists until ``normalize``.
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except (TypeError, ValueError) as exc:
        raise bad_value(param, text, f"{expected} ({exc})") from None


# -- JSON dicts and lists -------------------------------------------------------------------------

if jsonschema is not None:

    class SchemaValidationError(ParameterValueError, jsonschema.ValidationError):
        """A value does not match a parameter's JSON schema.

        It is jsonschema's ``ValidationError`` too (what Luigi raises), with the schema path of
        the failure; its message names the parameter and the place in the value.
        """

        def __init__(self, message: str, cause: jsonschema.ValidationError) -> None:
            jsonschema.ValidationError.__init__(
                self, message, path=cause.relative_path, schema_path=cause.relative_schema_path
            )


def _object_pairs(pairs: list[tuple[Any, Any]]) -> FrozenDict:
    return FrozenDict(pairs)


class _SchemaRules(ConversionMixinWithInit):
    """An optional JSON schema, checked on the plain (unfrozen) value."""

    def __init__(
        self,
        default: Any = _no_value,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        if schema is not None and not package_attribute("_JSONSCHEMA_ENABLED", _JSONSCHEMA_ENABLED):
            warnings_module().warn(
                "The 'jsonschema' package is not installed so the parameter can not be validated "
                f"even though a schema is given ({type(self).__name__}; "
                "pip install 'dagcore[schema]')"
            )
            schema = None
        self.schema = schema
        super().__init__(default=default, **kwargs)

    def normalize(self, x: Any) -> Any:
        if self.schema is not None:
            x = self._validate(unfreeze(x))
        return freeze(x)

    def _validate(self, plain: Any) -> Any:
        try:
            if isinstance(self.schema, Mapping):
                jsonschema.validate(instance=plain, schema=self.schema)
            else:
                # A validator object; it may fill in defaults, so keep what it validated.
                self.schema.validate(plain)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the value"
            problem = bad_value(
                self, plain, f"a value matching the schema; at {where}: {exc.message}"
            )
            raise SchemaValidationError(str(problem), exc) from None
        return plain


class _DictRules(_SchemaRules):
    def parse(self, x: str) -> Any:
        # Typed (TOML) configuration gives a table, not a string.
        if not isinstance(x, str):
            return x
        return _loads(self, x, 'a JSON object, e.g. {"role": "web"}')

    def serialize(self, x: Any) -> str:
        return _dumps(self, x)


class DictParameter(_DictRules, Parameter[FrozenDict]):
    """A JSON object, held as a :class:`~dagcore.freezing.FrozenDict` (key order kept).

    Parameters:
        schema: a JSON schema dict, or a ``jsonschema`` validator, checked by ``normalize``.
    """

    def __init__(
        self,
        default: Mapping[Any, Any] | _NoValueType = _no_value,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, schema=schema, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Mapping[Any, Any]) -> None: ...


class _ListRules(_SchemaRules):
    def parse(self, x: str) -> Any:
        loaded = _loads(self, x, "a JSON array, e.g. [1, 2]")
        if loaded is None:
            return None
        try:
            return list(loaded)
        except TypeError:
            raise bad_value(self, x, "a JSON array, e.g. [1, 2]") from None

    def serialize(self, x: Any) -> str:
        return _dumps(self, x)


class ListParameter(_ListRules, Parameter[tuple[Any, ...]]):
    """A JSON array, held as a tuple (nested lists become tuples, objects FrozenDicts).

    Parameters:
        schema: a JSON schema dict, or a ``jsonschema`` validator, checked by ``normalize``.
    """

    def __init__(
        self,
        default: Sequence[Any] | _NoValueType = _no_value,
        *,
        schema: Any = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, schema=schema, **kwargs)

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Sequence[Any]) -> None: ...


class TupleSyntaxError(ParameterValueError, SyntaxError):
    """A tuple written neither as JSON nor as a valid Python literal.

    A :class:`SyntaxError` too, which is what Luigi lets through from ``ast.literal_eval``.
    """

    def __init__(self, message: str) -> None:
        SyntaxError.__init__(self, message)

    def __str__(self) -> str:
        return str(self.msg)


class _TupleRules(_ListRules):
    _EXPECTED: ClassVar[str] = "a JSON array or a Python tuple literal, e.g. [[1, 2], [3, 4]]"

    def parse(self, x: str) -> Any:
        # Tuples arrive as JSON (what serialize writes) or as Python literals, e.g. "((1,2),(3,4))"
        # from a config file. Like Luigi, JSON items that are arrays become tuples, strings stay.
        try:
            items = json.loads(x, object_pairs_hook=_object_pairs)
            return tuple(i if isinstance(i, str) else tuple(i) for i in items)
        except (TypeError, ValueError):
            pass
        try:
            literal = ast.literal_eval(x)
        except SyntaxError:
            raise TupleSyntaxError(str(bad_value(self, x, self._EXPECTED))) from None
        except (ValueError, TypeError, MemoryError, RecursionError):
            raise bad_value(self, x, self._EXPECTED) from None
        if isinstance(literal, str):
            # '("abcd")' is a string, not a tuple of its letters.
            raise bad_value(self, x, self._EXPECTED)
        try:
            return tuple(literal)
        except TypeError:
            raise bad_value(self, x, self._EXPECTED) from None


class TupleParameter(_TupleRules, ListParameter):
    """A tuple (or tuple of tuples), read from JSON (``[[1, 2], [3, 4]]``) or a Python literal
    (``((1, 2), (3, 4))``) and written as JSON."""


# -- lists of choices and enum members ------------------------------------------------------------


class ChoiceListParameter(_ChoiceRules[ChoiceType], Parameter[tuple[ChoiceType, ...]]):
    """A comma-separated list of values among ``choices`` (order kept, duplicates allowed).

    Unlike Luigi, non-string choices serialise (``1,2``) instead of raising ``TypeError``.
    """

    _sep: ClassVar[str] = ","

    def __init__(
        self,
        default: Sequence[ChoiceType] | _NoValueType = _no_value,
        var_type: type[Any] = str,
        choices: Sequence[ChoiceType] | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        super().__init__(default, choices=choices, var_type=var_type, **kwargs)

    def parse(self, x: str) -> tuple[ChoiceType, ...]:
        parts = x.split(self._sep) if x else []
        return self.normalize([self._convert(part) for part in parts])

    def normalize(self, x: Any) -> tuple[ChoiceType, ...]:
        try:
            items = iter(x)
        except TypeError:
            raise bad_type(self, x, "a list of choices") from None
        return tuple(self._check_choice(item) for item in items)

    def serialize(self, x: Iterable[ChoiceType]) -> str:
        return self._sep.join(str(item) for item in x)

    def _coerce_typed(self, value: Any) -> tuple[ChoiceType, ...]:
        if isinstance(value, list):
            return self.normalize([self._convert(item) for item in value])
        raise bad_type(self, value, "a list of choices")

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Iterable[ChoiceType]) -> None: ...


class EnumListParameter(Parameter[tuple[EnumParameterType, ...]]):
    """Comma-separated member names of ``enum`` (``Honda,Volvo``), held as a tuple of members."""

    _sep: ClassVar[str] = ","

    def __init__(
        self,
        default: Sequence[EnumParameterType] | _NoValueType = _no_value,
        *,
        enum: type[EnumParameterType] | None = None,
        **kwargs: Unpack[ParameterKwargs],
    ) -> None:
        if enum is None:
            raise ParameterException(f"{type(self).__name__}: the enum= class must be given")
        self._enum = enum
        # Like Luigi, a list default is accepted; normalize leaves it as given.
        given: Any = default
        super().__init__(default=given, **kwargs)

    def _member(self, name: str, index: int) -> EnumParameterType:
        try:
            return self._enum[name]
        except KeyError:
            names = ", ".join(self._enum.__members__)
            raise bad_value(
                self,
                name,
                f"a member name of {self._enum.__name__} ({names}) at item {index}",
            ) from None

    def parse(self, x: str) -> tuple[EnumParameterType, ...]:
        parts = x.split(self._sep) if x else []
        return tuple(self._member(part, i) for i, part in enumerate(parts))

    def serialize(self, x: Iterable[enum.Enum]) -> str:
        return self._sep.join(member.name for member in x)

    def _coerce_typed(self, value: Any) -> tuple[EnumParameterType, ...]:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(self._member(item, i) for i, item in enumerate(value))
        raise bad_type(self, value, f"a list of {self._enum.__name__} member names")

    if TYPE_CHECKING:

        def __set__(self, instance: object, value: Sequence[EnumParameterType]) -> None: ...


# -- task classes ---------------------------------------------------------------------------------


class NotATaskClassError(ParameterTypeError, AttributeError):
    """A TaskParameter was given something other than a task class (a family name, say).

    An :class:`AttributeError` too, which is what Luigi raises for it.
    """


class TaskParameter(Parameter[type[TaskType]]):
    """A task class, written as its family name (``my_namespace.MyTask``)."""

    def parse(self, x: str) -> type[TaskType]:
        return task_register.Register.get_task_cls(x)  # type: ignore[return-value]

    def serialize(self, x: type[TaskType]) -> str:
        try:
            return x.get_task_family()
        except AttributeError:
            raise NotATaskClassError(str(bad_type(self, x, "a task class"))) from None
