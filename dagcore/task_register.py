"""The metaclass of every task: family names, namespaces, the registry and the instance cache.

Creating a task twice with equal parameters returns the same object (as in Luigi), which keeps
graphs small and makes ``requires()`` cheap to call repeatedly. Families are looked up by name
when a task arrives as a string (command line, worker message).
"""

from __future__ import annotations

import abc
import difflib
import threading
from typing import TYPE_CHECKING, Any, ClassVar, dataclass_transform

from dagcore.errors import (
    TaskClassAmbigiousException,
    TaskClassException,
    TaskClassNotFoundException,
)
from dagcore.parameter.base import Parameter, iter_params

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = [
    "Register",
    "TaskClassAmbigiousException",
    "TaskClassException",
    "TaskClassNotFoundException",
    "auto_namespace",
    "load_task",
    "namespace",
]


class _SameAsModule:
    def __repr__(self) -> str:
        return "<same as python module>"


SAME_AS_PYTHON_MODULE: Any = _SameAsModule()
_NOT_USER_SPECIFIED = "*no namespace given*"
_namespaces: dict[str, Any] = {}


def namespace(namespace: str | None = None, scope: str = "") -> None:
    """Set the namespace of tasks defined from now on in modules under ``scope``.

    Call it at the top of a module with ``scope=__name__`` to affect only that module.
    """
    _namespaces[scope] = namespace or ""


def auto_namespace(scope: str = "") -> None:
    """Give tasks defined under ``scope`` their Python module as namespace."""
    _namespaces[scope] = SAME_AS_PYTHON_MODULE


def _module_scopes(module_name: str) -> list[str]:
    parts = module_name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), -1, -1)]


def _namespace_for(module_name: str) -> Any:
    for scope in _module_scopes(module_name):
        entry = _namespaces.get(scope)
        if entry:
            return entry
    return ""


class _Pending(threading.local):
    """Parameter values computed by ``Register.__call__`` and reused by ``Task.__init__``."""

    item: tuple[type, tuple[Any, ...], dict[str, Any], list[tuple[str, Any]]] | None = None


@dataclass_transform(field_specifiers=(Parameter,), kw_only_default=True)
class Register(abc.ABCMeta):
    """Metaclass of :class:`~dagcore.task.Task`: registry, namespaces and instance cache.

    An :class:`abc.ABCMeta`, as in Luigi: a task class with abstract methods cannot be built.
    """

    _reg: ClassVar[list[type]] = []
    AMBIGUOUS_CLASS: ClassVar[object] = object()
    _families: ClassVar[dict[str, type] | None] = None
    _AMBIGUOUS: ClassVar[object] = AMBIGUOUS_CLASS
    _instance_cache: ClassVar[dict[Any, Any] | None] = {}
    _pending: ClassVar[_Pending] = _Pending()

    _namespace_at_class_time: Any
    _params_cache: list[tuple[str, Parameter[Any]]] | None

    def __new__(
        mcs, classname: str, bases: tuple[type, ...], classdict: dict[str, Any], **kwargs: Any
    ) -> Register:
        cls = super().__new__(mcs, classname, bases, classdict, **kwargs)
        cls._namespace_at_class_time = _namespace_for(cls.__module__)
        cls._params_cache = None
        Register._reg.append(cls)
        Register._families = None
        return cls

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        cache = Register._instance_cache
        if cache is None:
            return super().__call__(*args, **kwargs)
        params = cls.get_params()
        values = cls.get_param_values(params, args, kwargs)  # type: ignore[attr-defined]
        key = (cls, tuple(v for _, v in values))
        try:
            hit = cache.get(key)
        except TypeError:  # an unhashable value: no caching, as in Luigi
            return super().__call__(*args, **kwargs)
        if hit is None:
            Register._pending.item = (cls, args, kwargs, values)
            try:
                hit = super().__call__(*args, **kwargs)
            finally:
                Register._pending.item = None
            cache[key] = hit
        return hit

    @staticmethod
    def take_pending(
        cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[tuple[str, Any]] | None:
        """Return the values ``__call__`` just computed for exactly these arguments, if any."""
        item = Register._pending.item
        if item is None or item[0] is not cls:
            return None
        Register._pending.item = None
        if item[1] == args and item[2] == kwargs:
            return item[3]
        return None

    # -- instance cache -------------------------------------------------------------------------

    @classmethod
    def clear_instance_cache(mcs) -> None:
        """Forget every cached task instance."""
        Register._instance_cache = {}

    @classmethod
    def disable_instance_cache(mcs) -> None:
        """Make every instantiation build a new object."""
        Register._instance_cache = None

    # -- names ----------------------------------------------------------------------------------

    @property
    def task_family(cls) -> str:
        """The family name: ``namespace.ClassName`` or just ``ClassName``."""
        return cls.get_task_family()

    def get_task_namespace(cls) -> str:
        """The namespace of this class ('' if none)."""
        declared = getattr(cls, "task_namespace", _NOT_USER_SPECIFIED)
        if declared != _NOT_USER_SPECIFIED:
            return str(declared)
        if cls._namespace_at_class_time is SAME_AS_PYTHON_MODULE:
            return cls.__module__
        return str(cls._namespace_at_class_time)

    def get_task_family(cls) -> str:
        """The family name: ``namespace.ClassName`` or just ``ClassName`` (cached per class)."""
        cached: str | None = cls.__dict__.get("_family_cache")
        if cached is None:
            ns = cls.get_task_namespace()
            cached = f"{ns}.{cls.__name__}" if ns else cls.__name__
            type.__setattr__(cls, "_family_cache", cached)
        return cached

    # -- parameters -----------------------------------------------------------------------------

    def get_params(cls) -> list[tuple[str, Parameter[Any]]]:
        """Return ``(name, parameter)`` pairs in declaration order (cached per class)."""
        cached = cls.__dict__.get("_params_cache")
        if cached is None:
            cached = list(iter_params(cls))
            cls._params_cache = cached
        return cached

    def param_index(cls) -> tuple[dict[str, Parameter[Any]], list[tuple[str, Parameter[Any]]]]:
        """Parameters by name, and the positional ones in order (cached per class)."""
        cached = cls.__dict__.get("_param_index")
        if cached is None:
            params = cls.get_params()
            cached = (dict(params), [(n, p) for n, p in params if p.positional])
            type.__setattr__(cls, "_param_index", cached)
        return cached

    def __setattr__(cls, name: str, value: Any) -> None:
        # A parameter added after class creation must invalidate the parameter caches.
        super().__setattr__(name, value)
        if name in ("task_namespace", "__name__"):
            for klass in Register._reg:
                if issubclass(klass, cls) and "_family_cache" in klass.__dict__:
                    type.__delattr__(klass, "_family_cache")
            Register._families = None
        if isinstance(value, Parameter):
            for klass in Register._reg:
                if issubclass(klass, cls):
                    type.__setattr__(klass, "_params_cache", None)
                    type.__setattr__(klass, "_param_index", None)

    # -- registry -------------------------------------------------------------------------------

    @classmethod
    def _family_map(mcs) -> dict[str, type]:
        if Register._families is not None:
            return Register._families
        families: dict[str, Any] = {}
        for klass in Register._reg:
            if not getattr(klass, "_visible_in_registry", True):
                continue
            name = klass.get_task_family()  # type: ignore[attr-defined]
            seen = families.get(name)
            if seen is None or seen is Register._AMBIGUOUS:
                families.setdefault(name, klass)
                continue
            if issubclass(klass, seen):
                families[name] = klass  # a refinement (e.g. a decorator's wrapper) replaces it
            else:
                # As in Luigi, even a redefinition of the same class (a module run twice, a
                # notebook cell run again): get_task_cls(name, module) still finds the latest.
                families[name] = Register._AMBIGUOUS
        Register._families = families
        return families

    @classmethod
    def _get_reg(mcs) -> dict[str, Any]:
        """Family name -> class (``AMBIGUOUS_CLASS`` where unrelated classes share a name).

        With :meth:`_set_reg`, lets a test suite snapshot and restore the registry.
        """
        return dict(mcs._family_map())

    @classmethod
    def _set_reg(mcs, reg: dict[str, Any]) -> None:
        """Make the registry exactly the classes of ``reg`` (the complement of ``_get_reg``)."""
        Register._reg = [k for k in reg.values() if k is not Register.AMBIGUOUS_CLASS]
        Register._families = None

    @classmethod
    def get_all_params(mcs) -> list[tuple[str, bool, str, Parameter[Any]]]:
        """``(family, is_without_section, param_name, param)`` for every registered family."""
        found = []
        for family, klass in mcs._family_map().items():
            if klass is Register.AMBIGUOUS_CLASS:
                continue
            without_section = bool(getattr(klass, "use_cmdline_section", True) is False)
            for name, param in klass.get_params():  # type: ignore[attr-defined]
                found.append((family, without_section, name, param))
        return found

    @classmethod
    def get_task_cls(mcs, name: str, module: str | None = None) -> type[Task]:
        """Return the task class registered under ``name``.

        ``module`` (where the class is defined) settles a name that several unrelated classes
        share, e.g. two test modules that both define ``Leaf``.

        Raises:
            TaskClassNotFoundException: no class has that family; the message lists close names.
            TaskClassAmbigiousException: several unrelated classes share it.
        """
        klass = mcs._family_map().get(name)
        if klass is None:
            raise TaskClassNotFoundException(mcs._missing_message(name))
        if klass is Register._AMBIGUOUS and module is not None:
            matches = [
                k
                for k in Register._reg
                if k.__module__ == module
                and getattr(k, "_visible_in_registry", True)
                and k.get_task_family() == name  # type: ignore[attr-defined]
            ]
            if matches:
                return matches[-1]
        if klass is Register._AMBIGUOUS:
            raise TaskClassAmbigiousException(
                f"Task family {name!r} is defined by several unrelated classes; "
                "give them distinct names or namespaces"
            )
        return klass

    @classmethod
    def task_names(mcs) -> list[str]:
        """Sorted names of every registered, unambiguous family."""
        return sorted(n for n, k in mcs._family_map().items() if k is not Register._AMBIGUOUS)

    @classmethod
    def tasks_str(mcs) -> str:
        """The registered families as one comma-separated string (for messages)."""
        return ",".join(mcs.task_names())

    @classmethod
    def _missing_message(mcs, name: str) -> str:
        close = difflib.get_close_matches(name, mcs.task_names(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return (
            f"No task family {name!r} is registered.{hint} "
            "Check the spelling and that its module is imported (--module PKG.MOD)."
        )


def load_task(module: str | None, task_name: str, params_str: dict[str, str]) -> Task:
    """Import ``module`` (if given) and build ``task_name`` from string parameters."""
    if module is not None:
        __import__(module)
    task_cls = Register.get_task_cls(task_name, module)
    return task_cls.from_str_params(params_str)
