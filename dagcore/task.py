"""Tasks: the unit of work, declared the Luigi way.

A task has parameters (class attributes), ``requires()`` (other tasks), ``output()`` (targets)
and ``run()``. It is complete when all its outputs exist. Its ``task_id`` is computed exactly as
Luigi computes it, so ids, logs and history line up with an existing Luigi deployment.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from dagcore.configuration import get_config
from dagcore.errors import (
    DuplicateParameterException,
    MissingParameterException,
    ParameterValueError,
    UnconsumedParameterWarning,
    UnknownParameterException,
)
from dagcore.event import Event, EventHandlers
from dagcore.parameter.base import Parameter, ParameterVisibility
from dagcore.task_bulk import BulkCompleteNotImplementedError, MixinNaiveBulkComplete
from dagcore.task_register import Register, auto_namespace, load_task, namespace
from dagcore.task_reporting import DEFAULT_REPORTER, REPORTER_ATTRIBUTES, TaskReporter
from dagcore.task_struct import DynamicRequirements, flatten, flatten_output, getpaths
from dagcore.task_wrap import _task_wraps as _task_wraps  # Luigi keeps it here
from dagcore.task_wrap import externalize

__all__ = [
    "BulkCompleteNotImplementedError",
    "Config",
    "DynamicRequirements",
    "Event",
    "ExternalTask",
    "MixinNaiveBulkComplete",
    "Task",
    "TaskReporter",
    "WrapperTask",
    "auto_namespace",
    "externalize",
    "flatten",
    "flatten_output",
    "getpaths",
    "load_task",
    "namespace",
    "task_id_str",
]

logger = logging.getLogger("dagcore")

TASK_ID_INCLUDE_PARAMS = 3
TASK_ID_TRUNCATE_PARAMS = 16
TASK_ID_TRUNCATE_HASH = 10
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")
TASK_ID_INVALID_CHAR_REGEX = _UNSAFE_ID_CHARS  # Luigi's name

_T = TypeVar("_T", bound="Task")
# One encoder, reused: json.dumps would build a new one per task id (300,000 in a big plan).
_ID_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def task_id_str(task_family: str, params: dict[str, str]) -> str:
    """Return Luigi's task id for a family and its serialised significant public parameters.

    The id is the family, a readable summary of the first parameters (sorted by name), and a
    short md5 of the whole parameter set.
    """
    canonical = _ID_ENCODER.encode(params)
    digest = hashlib.md5(canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
    names = sorted(params)[:TASK_ID_INCLUDE_PARAMS]
    summary = "_".join(params[name][:TASK_ID_TRUNCATE_PARAMS] for name in names)
    summary = _UNSAFE_ID_CHARS.sub("_", summary)
    return f"{task_family}_{summary}_{digest[:TASK_ID_TRUNCATE_HASH]}"


_warned_no_outputs: set[str] = set()


class _InstanceAttributes:
    """Annotations of Task's instance attributes.

    They live on a plain base class so that the ``dataclass_transform`` of the task metaclass
    does not mistake them for constructor fields. Class-level defaults keep instances small (a
    plan may hold 300,000 of them); reporters set instance values only on tasks that run.
    """

    task_id: str
    #: The family (``Class.task_family`` comes from the metaclass, ``task.task_family`` from a
    #: property of Task).
    task_family: str
    param_kwargs: dict[str, Any]
    _str_params: dict[str, str]
    _hash: int
    _reporter: TaskReporter = DEFAULT_REPORTER
    status_message: str | None = None
    progress_percentage: float | None = None
    tracking_url: str | None = None


def _main_module_name() -> str:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return str(spec.name)
    script = getattr(main, "__file__", None)
    if script:
        stem = str(os.path.splitext(os.path.basename(str(script)))[0])
        if stem.isidentifier():
            return stem
    return "__main__"


class Task(_InstanceAttributes, EventHandlers, metaclass=Register):
    """The base class of every task.

    Override ``requires()``, ``output()`` and ``run()``; declare parameters as class
    attributes. Scheduling attributes (``priority``, ``resources``, ``max_running``,
    ``retry_count``, ``retry_delay``, ``retry_backoff``, ``worker_timeout``,
    ``resource_class``, ``disabled``) are read by the executors. Luigi's scheduler knobs
    (``disable_window``, ``disable_hard_timeout``) are accepted and not used.
    """

    #: Higher runs first; dependencies inherit the highest priority of their dependents.
    priority = 0
    disabled = False
    #: Units of global resources held while running, e.g. ``{"db": 1}``.
    resources: ClassVar[dict[str, int]] = {}
    #: At most this many tasks of the family run at once, across all workers.
    max_running: ClassVar[int | None] = None
    #: Seconds after which ``run()`` is killed (None: no limit, or ``[worker] timeout``).
    worker_timeout: ClassVar[float | None] = None
    #: Extra attempts after a failure (None: the ``[core] retry_count`` default).
    retry_count: ClassVar[int | None] = None
    #: Seconds before a retry (None: the ``[core] retry_delay`` default).
    retry_delay: ClassVar[float | None] = None
    #: Multiplier applied to the delay after each failed attempt.
    retry_backoff: ClassVar[float] = 1.0
    #: Queue class on the Celery executor (None: derived from resources, else "default").
    resource_class: ClassVar[str | None] = None
    max_batch_size = float("inf")
    #: Who gets the failure e-mail besides ``[email] receiver``: one address, a comma-separated
    #: string or a list.
    owner_email: ClassVar[str | list[str] | None] = None
    accepts_messages = False
    #: Luigi's central-scheduler knobs: kept so ported classes load, not used by dagcore.
    disable_window: ClassVar[int | None] = None
    disable_hard_timeout: ClassVar[int | None] = None
    #: False for a Config whose parameters are given on the command line without a prefix.
    use_cmdline_section: ClassVar[bool] = True
    _visible_in_registry: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        values = Register.take_pending(cls, args, kwargs)
        if values is None:
            values = cls.get_param_values(cls.get_params(), args, kwargs)
        # One pass: set the values, warn on odd types, and serialise each value once (the
        # strings give the task id and are cached for to_str_params and the plan).
        serialized: dict[str, str] = {}
        id_params: dict[str, str] = {}
        for (name, param), (_, value) in zip(cls.get_params(), values, strict=True):
            setattr(self, name, value)
            param._warn_on_wrong_param_type(name, value)
            if param.visibility is ParameterVisibility.PRIVATE:
                continue
            text = param.serialize(value)
            serialized[name] = text
            if param.significant and param.visibility is ParameterVisibility.PUBLIC:
                id_params[name] = text
        self.param_kwargs = dict(values)
        self._str_params = serialized
        family = cls.get_task_family()
        self.task_id = task_id_str(family, id_params)
        self._hash = hash(self.task_id)
        conf = get_config()
        if conf.has_section(family):
            cls._warn_unconsumed(conf, family)

    @classmethod
    def _warn_unconsumed(cls, conf: Any, family: str) -> None:
        """Warn once per class and key about options of the family's section it does not take.

        Names in ``ignore_unconsumed`` (a class attribute) are exempt.
        """
        warned: set[str] | None = cls.__dict__.get("_unconsumed_params")
        if warned is None:
            warned = set()
            type.__setattr__(cls, "_unconsumed_params", warned)
        names, _ = Register.param_index(cls)
        ignored = getattr(cls, "ignore_unconsumed", ())
        for option, value in conf.items(family):
            key = option.replace("-", "_")
            if key in names or key in ignored or key in warned:
                continue
            warned.add(key)
            warnings.warn(
                f"The configuration contains the parameter '{key}' with value '{value}' that is "
                f"not consumed by the task '{family}'.",
                UnconsumedParameterWarning,
                stacklevel=4,
            )

    @property
    def disable_window_seconds(self) -> int | None:
        """Deprecated name of ``disable_window``."""
        warnings.warn(
            "disable_window_seconds is deprecated: use disable_window",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.disable_window

    @property
    def batchable(self) -> bool:
        """True if the task has batched parameters (never, on dagcore)."""
        return bool(self.batch_param_names())

    def _owner_list(self) -> list[str]:
        """``owner_email`` as a list of addresses."""
        owners = self.owner_email
        if owners is None:
            return []
        if isinstance(owners, str):
            return owners.split(",")
        return list(owners)

    # -- identity -------------------------------------------------------------------------------

    if not TYPE_CHECKING:  # typed on _InstanceAttributes, so that Class.task_family is a str

        @property
        def task_family(self) -> str:
            """The family of this task's class (Luigi has it on instances too)."""
            return type(self).get_task_family()

    @classmethod
    def get_task_family(cls) -> str:
        """The family name: ``namespace.ClassName`` or ``ClassName``."""
        return Register.get_task_family(cls)

    @classmethod
    def get_task_namespace(cls) -> str:
        """The namespace ('' if none)."""
        return Register.get_task_namespace(cls)

    @property
    def task_module(self) -> str:
        """The importable module that defines this task's class.

        For a module run as ``python -m pkg.mod`` the classes live in ``__main__``; other
        processes (pool or Celery workers) import it under its real name, ``pkg.mod``. For a
        script run directly (``python mypipe.py``) that name is the script's, ``mypipe``:
        what a worker started with ``--module mypipe`` beside the script imports.
        """
        module = type(self).__module__
        if module == "__main__":
            return _main_module_name()
        return module

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Task) and type(self) is type(other) and self.task_id == other.task_id
        )

    def __repr__(self) -> str:
        parts = []
        for name, param in self.get_params():
            if not param.significant:  # Luigi shows hidden and private ones too
                continue
            text = self._str_params.get(name)
            if text is None:
                text = param.serialize(self.param_kwargs[name])
            parts.append(f"{name}={text}")
        return f"{self.get_task_family()}({', '.join(parts)})"

    # -- parameters -----------------------------------------------------------------------------

    @classmethod
    def get_params(cls) -> list[tuple[str, Parameter[Any]]]:
        """``(name, parameter)`` pairs in declaration order."""
        cached: list[tuple[str, Parameter[Any]]] | None = cls.__dict__.get("_params_cache")
        return cached if cached is not None else Register.get_params(cls)

    @classmethod
    def get_param_names(cls, include_significant: bool = False) -> list[str]:
        """Names of the parameters (all of them if ``include_significant``, else significant)."""
        return [n for n, p in cls.get_params() if include_significant or p.significant]

    @classmethod
    def batch_param_names(cls) -> list[str]:
        """Batching is not supported; kept so ported code that asks works."""
        return []

    @classmethod
    def get_param_values(
        cls, params: list[tuple[str, Parameter[Any]]], args: Iterable[Any], kwargs: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        """Resolve arguments, config and defaults into normalised values, in declaration order.

        Raises:
            UnknownParameterException: an argument the task does not declare.
            DuplicateParameterException: a value given positionally and by name.
            MissingParameterException: a parameter with no value from anywhere.
        """
        result: dict[str, Any] = {}
        if params is cls.get_params():
            by_name, positional = Register.param_index(cls)
        else:
            by_name = dict(params)
            positional = [(n, p) for n, p in params if p.positional]
        args = tuple(args)
        if len(args) > len(positional):
            raise UnknownParameterException(
                f"{cls.get_task_family()}: takes at most {len(positional)} positional "
                f"parameters ({len(args)} given); pass the others by name"
            )
        for (name, param), value in zip(positional, args, strict=False):
            result[name] = param.normalize(value)
        for name, value in kwargs.items():
            if name in result:
                raise DuplicateParameterException(
                    f"{cls.get_task_family()}: parameter '{name}' was already set as a "
                    "positional parameter"
                )
            known = by_name.get(name)
            if known is None:
                raise UnknownParameterException(cls._unknown_message(name, by_name))
            result[name] = known.normalize(value)
        if len(result) == len(params):
            return [(name, _list_to_tuple(result[name])) for name, _ in params]
        family = cls.get_task_family()
        for name, param in params:
            if name not in result:
                try:
                    has_value = param.has_task_value(family, name)
                except Exception as exc:
                    raise ParameterValueError(
                        f"{family}[args={args}, kwargs={kwargs}]: Error when parsing the default "
                        f"value of '{name}': {exc}"
                    ) from exc
                if not has_value:
                    raise MissingParameterException(
                        f"{family}: requires the '{name}' parameter to be set; pass "
                        f"{name}=..., --{family}-{name.replace('_', '-')} on the command line, "
                        f"or '{name} = ...' under [{family}] in the config"
                    )
                result[name] = param.task_value(family, name)
        return [(name, _list_to_tuple(result[name])) for name, _ in params]

    @classmethod
    def _unknown_message(cls, name: str, known: dict[str, Parameter[Any]]) -> str:
        names = ", ".join(sorted(known)) or "none"
        return f"{cls.get_task_family()}: unknown parameter '{name}' (declared: {names})"

    def to_str_params(
        self, only_significant: bool = False, only_public: bool = False
    ) -> dict[str, str]:
        """Serialise the parameters (PRIVATE ones never appear)."""
        if not only_significant and not only_public:
            return dict(self._str_params)
        out: dict[str, str] = {}
        for name, param in self.get_params():
            if only_significant and not param.significant:
                continue
            if only_public and param.visibility != ParameterVisibility.PUBLIC:
                continue
            if name in self._str_params:
                out[name] = self._str_params[name]
        return out

    def _get_param_visibilities(self) -> dict[str, int]:
        """Parameter name -> serialised visibility, for every parameter that is not PRIVATE."""
        return {
            name: param.visibility.serialize()
            for name, param in self.get_params()
            if param.visibility is not ParameterVisibility.PRIVATE
        }

    def _warn_on_wrong_param_types(self) -> None:
        """Warn about each parameter value whose type does not fit its parameter."""
        for name, param in self.get_params():
            param._warn_on_wrong_param_type(name, self.param_kwargs[name])

    @classmethod
    def from_str_params(cls: type[_T], params_str: Mapping[str, Any]) -> _T:
        """Build a task from the strings :meth:`to_str_params` gave.

        A list of strings for one parameter goes through its ``_parse_list`` (batching).
        """
        kwargs: dict[str, Any] = {}
        for name, param in cls.get_params():
            if name in params_str:
                text = params_str[name]
                parse = param._parse_list if isinstance(text, list) else param.parse
                kwargs[name] = parse(text)
        return cls(**kwargs)

    def clone(self, cls: type[_T] | None = None, **kwargs: Any) -> _T:
        """A task of ``cls`` (default: this class) sharing this task's values.

        Each parameter of ``cls`` takes its value from ``kwargs``, else from the attribute of
        the same name on this task (a parameter, or any attribute or property), else its
        default.
        """
        target_cls: type[Any] = type(self) if cls is None else cls
        values: dict[str, Any] = {}
        own = self.param_kwargs
        for name, _ in target_cls.get_params():
            if name in kwargs:
                values[name] = kwargs[name]
            elif name in own:
                values[name] = own[name]
            elif hasattr(self, name):
                values[name] = getattr(self, name)
        return target_cls(**values)  # type: ignore[no-any-return]

    @property
    def param_args(self) -> tuple[Any, ...]:
        """Parameter values in declaration order (deprecated, as in Luigi: use param_kwargs)."""
        warnings.warn(
            "param_args is deprecated: use param_kwargs", DeprecationWarning, stacklevel=2
        )
        return tuple(self.param_kwargs[name] for name, _ in self.get_params())

    def initialized(self) -> bool:
        """True once ``__init__`` has run (some subclasses check this)."""
        return hasattr(self, "task_id")

    # -- graph ----------------------------------------------------------------------------------

    def requires(self) -> Any:
        """The tasks this one needs: a task, a list, a dict or any nesting of them."""
        return []

    def _requires(self) -> Any:
        return flatten(self.requires())

    def deps(self) -> list[Task]:
        """The required tasks as a flat list."""
        return flatten(self._requires())

    def output(self) -> Any:
        """The targets this task writes: a target, a list, a dict or any nesting of them."""
        return []

    def input(self) -> Any:
        """The outputs of the required tasks, in the shape ``requires()`` returned."""
        return getpaths(self.requires())

    def complete(self) -> bool:
        """True if every output exists. A task with no outputs is never complete."""
        outputs = flatten(self.output())
        if not outputs:
            family = self.get_task_family()
            if family not in _warned_no_outputs:
                _warned_no_outputs.add(family)
                logger.warning(
                    "%s has no outputs and no custom complete(): it will always run", family
                )
            return False
        return all(target.exists() for target in outputs)

    @classmethod
    def bulk_complete(cls, parameter_tuples: Iterable[Any]) -> Iterable[Any]:
        """Return the complete ones among many parameter values; override for speed.

        Raises:
            BulkCompleteNotImplementedError: by default (a NotImplementedError: the range tools
                then list the outputs or check one task at a time).
        """
        raise BulkCompleteNotImplementedError

    @property
    def running_resources(self) -> dict[str, int]:
        """The resources held right now (``decrease_running_resources`` lowers them)."""
        held: dict[str, int] | None = self.__dict__.get("_running_resources")
        if held is None:
            held = dict(self.process_resources())
            self.__dict__["_running_resources"] = held
        return held

    def process_resources(self) -> dict[str, int]:
        """The resources this instance holds while running (default: ``resources``)."""
        return dict(self.resources)

    # -- running --------------------------------------------------------------------------------

    def run(self) -> Any:
        """Do the work. May ``yield`` tasks (or lists of them) to require them dynamically."""

    def on_failure(self, exception: BaseException) -> str:
        """Called after ``run()`` raised; the returned text goes to history and the summary."""
        return "Runtime error:\n" + traceback.format_exc()

    def on_success(self) -> str | None:
        """Called after ``run()`` returned."""
        return None

    def set_status_message(self, message: str) -> None:
        """Publish a short status line for this running task."""
        self._reporter.status_message(self, message)

    def set_progress_percentage(self, percentage: float) -> None:
        """Publish progress (0-100) for this running task."""
        self._reporter.progress(self, percentage)

    def set_tracking_url(self, url: str) -> None:
        """Publish a URL where this running task can be followed."""
        self._reporter.tracking_url(self, url)

    def decrease_running_resources(self, decrease_resources: dict[str, int]) -> None:
        """Give back part of the resources this task holds while it keeps running."""
        self._reporter.decrease_resources(self, decrease_resources)

    @contextmanager
    def no_unpicklable_properties(self) -> Iterator[None]:
        """Set aside what a worker installed on this task so that it can be pickled.

        That is the executor's reporter and any reporting method replaced on the instance
        (:data:`REPORTER_ATTRIBUTES`); all are back when the block ends.
        """
        own = self.__dict__
        saved = {name: own.pop(name) for name in REPORTER_ATTRIBUTES if name in own}
        reporter = self._reporter
        self._reporter = DEFAULT_REPORTER
        try:
            yield
        finally:
            self._reporter = reporter
            self.__dict__.update(saved)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_reporter", None)
        state.pop("_hash", None)  # str hashes differ between processes: recomputed on load
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hash = hash(self.task_id)


class WrapperTask(Task):
    """A task that only groups others: complete when all its requirements are."""

    def complete(self) -> bool:
        return all(task.complete() for task in flatten(self.requires()))


class ExternalTask(Task):
    """A task produced outside the pipeline: never run, only checked for its outputs."""

    run = None  # type: ignore[assignment]


class Config(Task):
    """A bag of parameters read from the config section named after the class."""


def _list_to_tuple(value: Any) -> Any:
    if isinstance(value, list | set):
        return tuple(value)
    return value
