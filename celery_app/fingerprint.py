"""A short hash of the code that defines task families.

The submitter puts the fingerprint of its task modules into every message and the worker
compares it with its own, so a worker running different code than the submitter (a stale
deployment, a forgotten restart) is detected instead of silently producing other results.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path

from dagcore.errors import ModuleImportError

__all__ = ["FINGERPRINT_LENGTH", "code_fingerprint", "fingerprinted_files", "module_fingerprint"]

FINGERPRINT_LENGTH = 16
"""Hex digits kept: 64 bits tell deployments apart and keep messages small."""


def _ancestors(module: str) -> list[str]:
    """``a.b.c`` -> ``["a", "a.b", "a.b.c"]``: the packages whose ``__init__`` run on import."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _source_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise ModuleImportError(
            f"cannot fingerprint module {module}: {exc}; check the spelling and that it is "
            "importable here (PYTHONPATH, an installed package)"
        ) from exc
    if spec is None:
        raise ModuleImportError(
            f"cannot fingerprint module {module}: it is not importable here; check the "
            "spelling and PYTHONPATH"
        )
    if not spec.has_location or spec.origin is None:
        return None  # built-in, frozen or namespace package: there is no file of ours to hash
    path = Path(spec.origin)
    return path if path.is_file() else None


def fingerprinted_files(modules: Iterable[str]) -> dict[str, Path | None]:
    """Return each module that goes into the fingerprint, with its source file (or None).

    These are the given modules and every package above them, since a package's
    ``__init__`` runs when one of its modules is imported and can change what it defines.
    """
    names = sorted({name for module in modules for name in _ancestors(module.strip()) if name})
    return {name: _source_file(name) for name in names}


def code_fingerprint(modules: Iterable[str]) -> str:
    """Return a short, stable hash of the source of ``modules`` and of their packages.

    The hash covers module names and file contents, not paths or timestamps, so two machines
    with the same code agree whatever their install location; the order and repetition of
    ``modules`` do not matter. Line endings are normalised so a Windows checkout matches.
    Files are read on every call; callers that check many messages should keep the result.

    Args:
        modules: Dotted module names (imported as needed to locate them).

    Raises:
        ModuleImportError: A module cannot be found.
    """
    digest = hashlib.sha256()
    for name, path in fingerprinted_files(modules).items():
        data = b"" if path is None else path.read_bytes().replace(b"\r\n", b"\n")
        # Length-prefixed records: no two different inputs concatenate to the same bytes.
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


@functools.cache
def module_fingerprint(module: str) -> str:
    """The code fingerprint of one module, computed once per process.

    A worker computes it right after importing its modules (before the pool forks), so it
    describes the code the worker runs even if the files change on disk later.
    """
    return code_fingerprint([module])
