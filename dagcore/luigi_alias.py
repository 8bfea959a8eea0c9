"""``import luigi`` resolving to dagcore: the zero-edit migration path.

Once :func:`install` has run, ``import luigi`` gives the ``dagcore`` package itself and every
``luigi.X`` gives the module ``dagcore.X`` (the same object, so ``luigi.Task is dagcore.Task``
and a class registered through one name is found through the other). Modules are aliased, never
loaded twice.

The switch is any of: ``[core] luigi_alias = true``, ``DAGCORE_LUIGI_ALIAS=1``, the
``--luigi-alias`` flag of ``dagcore``; ``python -m dagcore.luigi_alias script.py ARGS`` runs a
script that imports luigi; with ``DAGCORE_LUIGI_ALIAS=1`` set, pytest loads it through the
``pytest11`` entry point (a Luigi project's own tests run on dagcore).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = [
    "ENV_VAR",
    "enabled_by_environment",
    "install",
    "install_if_configured",
    "installed",
    "main",
    "uninstall",
]

ENV_VAR = "DAGCORE_LUIGI_ALIAS"
ALIAS = "luigi"
TARGET = "dagcore"
_TRUE = frozenset({"1", "true", "yes", "on"})


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system the already-imported dagcore module."""

    def __init__(self, target: ModuleType) -> None:
        self.target = target
        self.spec = target.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return self.target

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamps the alias spec on the module; the module keeps its own.
        module.__spec__ = self.spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Maps ``luigi`` and ``luigi.*`` onto ``dagcore`` and ``dagcore.*``."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real_name = TARGET + fullname[len(ALIAS) :]
        try:
            module = importlib.import_module(real_name)
        except ModuleNotFoundError as exc:
            if exc.name != real_name:
                raise
            # Never fall through to a real Luigi installed beside dagcore: mixing the two
            # would register tasks in two unrelated registries.
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: dagcore, which `luigi` stands for here, has "
                f"no {real_name!r}",
                name=fullname,
            ) from None
        is_package = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=is_package)


_FINDER = _AliasFinder()
_displaced: dict[str, ModuleType] = {}


def installed() -> bool:
    return _FINDER in sys.meta_path


def install() -> None:
    """Make ``luigi`` an alias of ``dagcore`` in this interpreter (and the processes it forks).

    A real Luigi already imported is dropped from ``sys.modules`` first.
    """
    if installed():
        return
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        module = sys.modules[name]
        if not getattr(module, "__name__", "").startswith(TARGET):
            _displaced[name] = sys.modules.pop(name)
    sys.meta_path.insert(0, _FINDER)
    os.environ[ENV_VAR] = "1"  # spawned children and Celery's pool see the same switch


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == ALIAS or n.startswith(ALIAS + ".")]:
        del sys.modules[name]
    sys.modules.update(_displaced)  # a real Luigi imported before comes back as it was
    _displaced.clear()
    os.environ.pop(ENV_VAR, None)


def enabled_by_environment() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() in _TRUE


def install_if_configured() -> bool:
    """Install the alias when the environment or ``[core] luigi_alias`` asks for it.

    Called before a process imports task modules (the ``dagcore`` command, Celery workers).
    """
    wanted = enabled_by_environment()
    if not wanted:
        from dagcore.configuration import get_config

        wanted = bool(get_config().getboolean("core", "luigi_alias", False))
    if wanted:
        install()
    return wanted


def pytest_load_initial_conftests() -> None:
    """pytest hook (``pytest11`` entry point): alias before any test module is imported."""
    if enabled_by_environment():
        install()


if enabled_by_environment() and __name__ != "__main__":
    # Loaded as a pytest plugin or imported early: honour the switch at once.
    install()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dagcore.luigi_alias script.py ARGS``: run a Luigi script on dagcore."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m dagcore.luigi_alias SCRIPT.py [ARGS...] | -m MODULE [ARGS...]")
        return 0 if args else 2
    install()
    if args[0] == "-m" and len(args) > 1:
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
