"""One Celery task per dagcore family, named after the family, for the modules a worker was given.

A worker runs only families defined in the modules it was told to import (``--module`` or
``[worker] modules``): a message naming any other family finds no Celery task and is rejected
by Celery's unregistered-task path (logged, acknowledged, the worker keeps running). Families
that happen to be loaded from elsewhere, as dependencies of those modules, are not registered.

Registering each family under its own name is what lets Flower list ``examples.etl.Transform``
with readable keyword arguments instead of one generic task.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import Any, Protocol

from celery import Celery, signals

from celery_app.fingerprint import module_fingerprint
from dagcore import luigi_alias
from dagcore.errors import ConfigError, ExecutionError, ModuleImportError
from dagcore.task_register import Register

__all__ = [
    "DEFAULT_HANDLER",
    "FamilyHandler",
    "UnknownFamilyCallback",
    "families_in",
    "import_modules",
    "load_handler",
    "register_families",
]

logger = logging.getLogger(__name__)

_RESERVED_PREFIX = "celery."


class FamilyHandler(Protocol):
    """What runs a message: the Celery task (bound), the family name and the message kwargs."""

    def __call__(self, celery_task: Any, /, *, family: str, **kwargs: Any) -> Any:
        """Run the task the message describes; the return value only shows up in logs."""


UnknownFamilyCallback = Callable[[str, dict[str, Any]], None]
"""Called with the family name and the message kwargs when a message names an unknown family."""

DEFAULT_HANDLER = "celery_app.tasks:handle_message"
"""The message handler of the Celery executor (claim, run, finish)."""


def load_handler(spec: str) -> tuple[ModuleType, FamilyHandler]:
    """Import ``MODULE:FUNCTION`` and return the module and the function.

    Raises:
        ConfigError: ``spec`` is not of the form ``MODULE:FUNCTION``.
        ExecutionError: the module or the function does not exist (for
            :data:`DEFAULT_HANDLER`: the Celery executor is missing from this installation).
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"handler {spec!r}: expected MODULE:FUNCTION")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the handler module exists; one of its own imports is missing
        raise ExecutionError(
            f"the message handler module {module_name} cannot be found ({exc}); install "
            "dagcore[celery] with the Celery executor, or name another handler"
        ) from exc
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ExecutionError(
            f"{module_name} has no function {attribute}; a worker needs it to run messages"
        )
    return module, handler


def import_modules(modules: Iterable[str]) -> list[str]:
    """Import ``modules`` and return their names, without duplicates, in order.

    Raises:
        ModuleImportError: a module cannot be imported; the message names it.
    """
    names: list[str] = []
    luigi_alias.install_if_configured()  # `import luigi` in the modules resolves to dagcore
    for raw in modules:
        name = raw.strip()
        if not name or name in names:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ModuleImportError(
                f"cannot import --module {name}: {exc}; check the spelling and that it is "
                "importable by the worker (PYTHONPATH, an installed package)"
            ) from exc
        names.append(name)
    # Fingerprint what was imported now, not when the first message arrives: a file edited
    # after the worker started must not pass for the code the worker runs.
    for module in sorted({k.__module__ for k in Register._reg} | set(names)):
        if _defined_in(module, names):
            module_fingerprint(module)
    return names


def _defined_in(module: str, allowed: Sequence[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed)


def families_in(modules: Sequence[str]) -> dict[str, type]:
    """Return family name -> task class for the visible families defined in ``modules``.

    A class counts when its ``__module__`` is one of ``modules`` or a submodule of one. Of two
    classes with the same family the one defined last wins, as for dagcore's own lookups.
    """
    found: dict[str, type] = {}
    for klass in Register._reg:
        if not getattr(klass, "_visible_in_registry", True):
            continue
        if not _defined_in(klass.__module__, modules):
            continue
        family: str = klass.get_task_family()  # type: ignore[attr-defined]
        previous = found.get(family)
        if previous is not None and previous.__module__ != klass.__module__:
            logger.warning(
                "family %s is defined in both %s and %s; messages name the module, so the "
                "handler can tell them apart, but consider distinct names or namespaces",
                family,
                previous.__module__,
                klass.__module__,
            )
        found[family] = klass
    return found


def _make_body(handler: FamilyHandler, family: str) -> Callable[..., Any]:
    def run(celery_task: Any, *args: Any, **kwargs: Any) -> Any:
        if args or "family" in kwargs:
            # Publishers send keyword arguments only, and the family is the task's own name;
            # anything else is a malformed message, refused before it reaches the handler.
            raise TypeError(
                f"dagcore task {family}: expected keyword arguments without 'family', got "
                f"{len(args)} positional argument(s) and keys {sorted(kwargs)}"
            )
        return handler(celery_task, family=family, **kwargs)

    run.__name__ = family.rsplit(".", 1)[-1]
    run.__qualname__ = family
    return run


def register_families(
    app: Celery,
    modules: Iterable[str],
    handler: FamilyHandler,
    on_unknown: UnknownFamilyCallback | None = None,
) -> dict[str, type]:
    """Import ``modules`` and register a Celery task for every family defined in them.

    Each task is named after its family, bound (the handler gets the Celery task, whose
    ``request`` holds the delivery details) and acknowledged late. Registering the same
    family twice keeps the first registration.

    A message naming a family that is not registered here is logged by Celery and dropped;
    this function also logs which ``--module`` the message asked for, and calls ``on_unknown``
    (e.g. to fail the task in its run, so the submitter does not wait for it forever).

    Args:
        app: The worker's Celery app.
        modules: Modules to import; only families defined in them (or their submodules) are
            registered.
        handler: Runs a message: ``handler(celery_task, family=..., **message_kwargs)``.
        on_unknown: Optional callback for messages naming an unknown family.

    Returns:
        The registered families: family name -> task class.

    Raises:
        ModuleImportError: a module cannot be imported.
        ConfigError: a family name is reserved by Celery (starts with ``celery.``).
    """
    names = import_modules(modules)
    families = families_in(names)
    for family, klass in families.items():
        if family.startswith(_RESERVED_PREFIX):
            raise ConfigError(
                f"task family {family} (in {klass.__module__}) starts with {_RESERVED_PREFIX!r}, "
                "which Celery reserves for its own tasks; give it another namespace"
            )
        body = _make_body(handler, family)
        body.__module__ = klass.__module__
        app.task(body, name=family, bind=True, acks_late=True, shared=False, lazy=False)
    _watch_unknown(app, names, on_unknown)
    logger.info(
        "registered %d families from %s: %s",
        len(families),
        ", ".join(names) or "no modules",
        ", ".join(sorted(families)) or "none",
    )
    return families


def _watch_unknown(
    app: Celery, modules: Sequence[str], on_unknown: UnknownFamilyCallback | None
) -> None:
    def receiver(sender: Any = None, name: str = "", message: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return  # another app's worker in this process
        kwargs = _message_kwargs(message)
        wanted = kwargs.get("module")
        logger.error(
            "received a message for family %r, which this worker does not run (modules: %s); "
            "start a worker with --module %s for it",
            name,
            ", ".join(modules) or "none",
            wanted if isinstance(wanted, str) and wanted else "<the family's module>",
        )
        if on_unknown is not None:
            try:
                on_unknown(name, kwargs)
            except Exception:
                # The consumer calls this; raising would only stop it from taking messages.
                logger.exception("handling the unknown family %r failed", name)

    # weak=False: the receiver is a closure only the signal holds; it must outlive this call.
    signals.task_unknown.connect(receiver, weak=False)


def _message_kwargs(message: Any) -> dict[str, Any]:
    try:
        decoded = message.decode()
    except Exception:
        return {}  # an undecodable body was already logged by Celery; nothing to add
    # Protocol 2 bodies are (args, kwargs, embed).
    if isinstance(decoded, list | tuple) and len(decoded) >= 2 and isinstance(decoded[1], dict):
        return dict(decoded[1])
    return {}
