"""The :class:`Parameter` descriptor: how a task declares, parses and serialises its inputs.

A parameter is a class attribute of a :class:`~dagcore.task.Task`. Its value for a task instance
comes, in order, from the constructor's arguments, from the configuration (``[Family] name =``,
which the command line also writes to), from ``config_path``, and finally from ``default``.
``parse`` turns a string (command line, config file, a Celery message) into a value,
``serialize`` is its inverse, and ``normalize`` makes any accepted value canonical and hashable.
The strings are Luigi's, so task ids agree with Luigi's.

Typing: ``Parameter[T]`` is a descriptor whose instance access gives ``T``. Declare parameters as
``day: DateParameter = DateParameter()`` (or leave them unannotated, as Luigi code does) and a
type checker sees ``task.day`` as a ``datetime.date`` and ``Task(day=...)`` as taking one.
"""

from __future__ import annotations

import enum
import itertools
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Generic, Self, TypedDict, Unpack, overload

from typing_extensions import TypeVar

from dagcore.configuration import get_config
from dagcore.errors import (
    DuplicateParameterException,
    MissingParameterException,
    OptionalParameterTypeWarning,
    ParameterException,
    ParameterTypeError,
    ParameterValueError,
    UnconsumedParameterWarning,
    UnknownParameterException,
)

__all__ = [
    "DuplicateParameterException",
    "MissingParameterException",
    "OptionalParameterMixin",
    "OptionalParameterTypeWarning",
    "Parameter",
    "ParameterException",
    "ParameterKwargs",
    "ParameterVisibility",
    "UnconsumedParameterWarning",
    "UnknownParameterException",
    "iter_params",
]

# The default keeps ``name = Parameter()`` (no type argument, no default) a ``Parameter[str]``.
T = TypeVar("T", default=str)


class _NoValueType:
    """Marker for "no value given" (``None`` is a legitimate parameter value)."""

    _instance: _NoValueType | None = None

    def __new__(cls) -> _NoValueType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        # Unpickling must give back the singleton, or ``is _no_value`` checks would fail.
        return "_no_value"


_no_value: Final = _NoValueType()
_counter = itertools.count()


class ParameterVisibility(enum.IntEnum):
    """Who sees a parameter: PUBLIC everywhere, HIDDEN not in task ids, PRIVATE nowhere."""

    PUBLIC = 0
    HIDDEN = 1
    PRIVATE = 2

    @classmethod
    def has_value(cls, value: object) -> bool:
        """Return True if ``value`` is one of the visibilities."""
        return any(value == item.value for item in cls)

    def serialize(self) -> int:
        """Return the integer form used in task metadata."""
        return int(self.value)


class ParameterKwargs(TypedDict, total=False):
    """The keyword arguments every parameter class accepts besides ``default``."""

    is_global: bool
    significant: bool
    description: str | None
    config_path: dict[str, str] | None
    positional: bool
    always_in_help: bool
    batch_method: Callable[[Iterable[Any]], Any] | None
    visibility: ParameterVisibility


def describe(param: object) -> str:
    """Return ``IntParameter 'count'`` (or just the class name) for error messages."""
    name = getattr(param, "_name", None)
    kind = type(param).__name__
    return f"{kind} '{name}'" if name else kind


def bad_value(param: object, got: object, expected: str) -> ParameterValueError:
    """Return the error for a value ``param`` cannot accept, saying what it expected."""
    return ParameterValueError(f"{describe(param)}: expected {expected}, got {got!r}")


def bad_type(param: object, got: object, expected: str) -> ParameterTypeError:
    """Return the error for a Python value of the wrong type."""
    return ParameterTypeError(
        f"{describe(param)}: expected {expected}, got {type(got).__name__} {got!r}"
    )


def package_attribute(name: str, default: Any) -> Any:
    """``dagcore.parameter.<name>``, looked up at each call (``default`` before it exists).

    Luigi's parameters live in one module, and tests written for Luigi patch its globals
    (``luigi.parameter.warnings``, ``luigi.parameter._JSONSCHEMA_ENABLED``); reading them
    through the package keeps such patches effective.
    """
    return getattr(sys.modules.get("dagcore.parameter"), name, default)


def warnings_module() -> Any:
    """The :mod:`warnings` module as ``dagcore.parameter.warnings`` (see above).

    Luigi's tests assert the exact ``warn(message[, category])`` call, hence no ``stacklevel``
    in the calls made through it.
    """
    return package_attribute("warnings", warnings)


def _no_cmdline(task_name: str, param_name: str) -> Any:
    return None


_cmdline_lookup: Callable[[str, str], Any] = _no_cmdline


def set_cmdline_lookup(lookup: Callable[[str, str], Any]) -> None:
    """Where parameters find values given on a command line (``dagcore.cmdline_parser``).

    ``lookup(family, param_name)`` returns what the command line in effect gives that
    parameter; an empty or false result (a flag not given) means nothing.
    """
    global _cmdline_lookup
    _cmdline_lookup = lookup


class Parameter(Generic[T]):
    """A task input whose value is given, read from config, or defaulted.

    Parameters:
        default: value used when neither the arguments nor the config give one.
        is_global: deprecated in Luigi; makes the parameter non-positional, with a warning.
        significant: False keeps the parameter out of the task id.
        description: shown by ``--help``.
        config_path: ``{"section": ..., "name": ...}``, a second place to look in the config.
        positional: False forbids giving the value positionally.
        always_in_help: accepted for Luigi compatibility.
        batch_method: combines several parsed values into one (Luigi's batching).
        visibility: PUBLIC, HIDDEN (not in the task id) or PRIVATE (not serialised at all).
    """

    _counter: int
    _name: str | None = None

    def __init__(
        self,
        default: T | _NoValueType = _no_value,
        is_global: bool = False,
        significant: bool = True,
        description: str | None = None,
        config_path: dict[str, str] | None = None,
        positional: bool = True,
        always_in_help: bool = False,
        batch_method: Callable[[Iterable[Any]], Any] | None = None,
        visibility: ParameterVisibility = ParameterVisibility.PUBLIC,
    ) -> None:
        self._default: Any = default
        self._batch_method = batch_method
        if is_global:
            warnings.warn(
                "is_global support is removed. Assuming positional=False. "
                "Use a Config class for values shared by several tasks.",
                DeprecationWarning,
                stacklevel=2,
            )
            positional = False
        self.significant = significant
        self.positional = positional
        self.visibility = (
            visibility if ParameterVisibility.has_value(visibility) else ParameterVisibility.PUBLIC
        )
        self.description = description
        self.always_in_help = always_in_help
        if config_path is not None and ("section" not in config_path or "name" not in config_path):
            raise ParameterException(
                f"config_path must be a dict with 'section' and 'name' keys, got {config_path!r}"
            )
        self._config_path = config_path
        # Declaration order: positional arguments follow it.
        self._counter = next(_counter)

    # -- descriptor protocol: lets type checkers see ``task.param`` as the value type ----------

    def __set_name__(self, owner: type, name: str) -> None:
        # Only used to name the parameter in error messages; a reused object keeps its first name.
        if self._name is None:
            self._name = name

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: Any) -> T: ...

    def __get__(self, instance: object | None, owner: Any) -> Any:
        # Instances store their values in ``__dict__``, which shadows this non-data descriptor,
        # so we only get here for class access (or before __init__ has run).
        return self

    if TYPE_CHECKING:
        # Declared for type checkers only: it makes ``Task(name=value)`` and ``task.name = value``
        # check ``value``. At run time the parameter stays a non-data descriptor, so reading a
        # task's value is a plain instance-dict lookup.
        def __set__(self, instance: object, value: T) -> None: ...

    # -- value lookup ---------------------------------------------------------------------------

    def _value_from_config(self, section: str, name: str) -> Any:
        conf = get_config()
        if not conf.has_option(section, name):
            return _no_value
        raw = conf.get(section, name)
        try:
            if isinstance(raw, str):
                return self.parse(raw)
            return self._coerce_typed(raw)
        except (ParameterException, ValueError, TypeError) as exc:
            # Say where the bad value came from; keep the kind of error.
            kind = type(exc) if isinstance(exc, ParameterException) else ParameterValueError
            raise kind(f"{conf.describe(section, name)}: {exc}") from exc

    def _coerce_typed(self, value: Any) -> Any:
        """Turn a typed config value (TOML) into a parameter value."""
        return self.normalize(value)

    def _lookup(self, task_name: str | None, param_name: str | None) -> Any:
        if task_name is not None and param_name is not None:
            raw = _cmdline_lookup(task_name, param_name)
            if raw:
                return self.parse(raw)
            value = self._value_from_config(task_name, param_name)
            if value is not _no_value:
                return value
        if self._config_path is not None:
            section, name = self._config_path["section"], self._config_path["name"]
            value = self._value_from_config(section, name)
            if value is not _no_value:
                if task_name is not None and param_name is not None:
                    warnings.warn(
                        f"The use of the configuration [{section}] {name} is deprecated. "
                        f"Please use [{task_name}] {param_name}",
                        DeprecationWarning,
                        stacklevel=2,
                    )
                return value
        return self._default

    def has_task_value(self, task_name: str, param_name: str) -> bool:
        """Return True if the config or the default gives this parameter a value."""
        return self._lookup(task_name, param_name) is not _no_value

    def task_value(self, task_name: str, param_name: str) -> T:
        """Return the normalised value from config or default.

        Raises:
            MissingParameterException: neither config nor default gives a value.
        """
        value = self._lookup(task_name, param_name)
        if value is _no_value:
            raise MissingParameterException(
                f"{task_name}: no value for parameter '{param_name}'; pass it as an argument, "
                f"set --{task_name}-{param_name.replace('_', '-')}, or add "
                f"'{param_name} = ...' under [{task_name}] in the config"
            )
        return self.normalize(value)

    @property
    def has_default(self) -> bool:
        """True if a default was declared (config is not consulted)."""
        return self._default is not _no_value

    @property
    def default(self) -> Any:
        """The declared default (``_no_value`` if none)."""
        return self._default

    # -- conversions ----------------------------------------------------------------------------

    def parse(self, x: str) -> T:
        """Return the value a string stands for (the inverse of :meth:`serialize`)."""
        return x  # type: ignore[return-value]

    def serialize(self, x: T) -> str:
        """Return the string form of a value, as it appears in task ids and messages."""
        return str(x)

    def normalize(self, x: Any) -> T:
        """Return the canonical, hashable form of an accepted value."""
        return x  # type: ignore[no-any-return]

    def next_in_enumeration(self, value: T) -> T | None:
        """Return the value after ``value`` for range tools, or None if not enumerable."""
        return None

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        """Warn (do not fail) when a plain Parameter gets a value that is not a string."""
        if type(self) is Parameter and not isinstance(param_value, str):
            warnings_module().warn(
                f'Parameter "{param_name}" with value "{param_value}" is not of type string.'
            )

    # -- batching and command-line helpers (Luigi's internal API, kept for ported code) --------

    def _is_batchable(self) -> bool:
        return self._batch_method is not None

    def _parse_list(self, xs: Iterable[str]) -> Any:
        """Parse several strings and combine them with ``batch_method``."""
        if self._batch_method is None:
            raise NotImplementedError(f"{describe(self)} has no batch_method")
        values = [self.parse(x) for x in xs]
        if not values:
            raise ValueError(f"{describe(self)}: an empty list of values cannot be batched")
        return self._batch_method(values)

    @staticmethod
    def _parser_global_dest(param_name: str, task_name: str) -> str:
        return f"{task_name}_{param_name}"

    def _parser_kwargs(self, param_name: str, task_name: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``argparse.add_argument`` of this parameter."""
        dest = self._parser_global_dest(param_name, task_name) if task_name else param_name
        return {"action": "store", "dest": dest}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(default={self._default!r})"


class OptionalParameterMixin:
    """Makes a parameter accept ``None``, written as the empty string; ``None`` is the default.

    Put it first among the bases, before the class that does the non-None conversions:
    ``class OptionalIntParameter(OptionalParameterMixin, _IntRules, Parameter[int | None])``, or,
    as in Luigi, ``class OptionalDateParameter(OptionalParameterMixin, DateParameter)``.
    Subclasses set ``expected_type`` so a value of another type draws a warning, as in Luigi.

    Its methods return ``Any`` (as Luigi's do), so the recipe above type-checks with any base;
    task attributes are still typed by the ``Parameter[X | None]`` base.
    """

    expected_type: type | tuple[type, ...] = type(None)

    def __init__(self, default: Any = None, *args: Any, **kwargs: Any) -> None:
        # As in Luigi, an optional parameter declared without a default defaults to None.
        super().__init__(default, *args, **kwargs)  # type: ignore[call-arg]

    def serialize(self, x: Any) -> str:
        if x is None:
            return ""
        return super().serialize(x)  # type: ignore[misc,no-any-return]

    def parse(self, x: Any) -> Any:
        # Non-strings arrive from typed (TOML) configuration and are already values.
        if not isinstance(x, str):
            return x
        if not x:
            return None
        return super().parse(x)  # type: ignore[misc]

    def normalize(self, x: Any) -> Any:
        if x is None:
            return None
        return super().normalize(x)  # type: ignore[misc]

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        if param_value is None or isinstance(param_value, self.expected_type):
            return
        if isinstance(self.expected_type, tuple):
            names = ", ".join(f'"{t.__name__}"' for t in self.expected_type)
            expected = f"any type in [{names}]"
        else:
            expected = f'type "{self.expected_type.__name__}"'
        warnings_module().warn(
            f'{type(self).__name__} "{param_name}" with value "{param_value}" is not of '
            f"{expected} or None.",
            OptionalParameterTypeWarning,
        )

    def next_in_enumeration(self, value: Any) -> Any:
        return None


class ConversionMixin:
    """Base of the classes that hold one parameter type's conversions.

    ``IntParameter`` and ``OptionalIntParameter`` share ``_IntRules``; only the value type given to
    :class:`Parameter` differs (``int`` or ``int | None``), which keeps both honest for type
    checkers while Luigi's behaviour lives in one place.
    """


if TYPE_CHECKING:

    class _ParameterInit(ConversionMixin):
        """What a mixin's ``super().__init__`` reaches at run time: :meth:`Parameter.__init__`."""

        description: str | None
        _default: Any

        def __init__(self, default: Any = ..., **kwargs: Unpack[ParameterKwargs]) -> None: ...

else:
    _ParameterInit = ConversionMixin


class ConversionMixinWithInit(_ParameterInit):
    """A :class:`ConversionMixin` taking constructor arguments of its own (bounds, choices...).

    Its ``__init__`` keeps what it needs and passes the rest on to :class:`Parameter`.
    """


def iter_params(cls: type) -> Iterator[tuple[str, Parameter[Any]]]:
    """Yield ``(name, parameter)`` for every parameter of a class, in declaration order."""
    found: list[tuple[str, Parameter[Any]]] = []
    for name in dir(cls):
        attr = getattr(cls, name)
        if isinstance(attr, Parameter):
            found.append((name, attr))
    found.sort(key=lambda item: item[1]._counter)
    yield from found
