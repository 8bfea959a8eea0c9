"""``LuigiConfigParser``: the configuration as Luigi's INI-style parser presents it.

It is the default parser (``get_config()`` returns its instance unless ``LUIGI_CONFIG_PARSER``
says ``toml``). Values given to :meth:`LuigiConfigParser.set` are expanded when they are read,
as ConfigParser expands them: ``%(name)s`` is another option of the same section (or of
``[DEFAULT]``), ``%%`` is a literal ``%``, and then ``${NAME}`` is the environment variable
``NAME``. Values read from files were expanded when the file was read.
"""

from __future__ import annotations

import os
import re
import warnings
from configparser import (
    MAX_INTERPOLATION_DEPTH,
    InterpolationDepthError,
    InterpolationError,
    InterpolationMissingOptionError,
    InterpolationSyntaxError,
)
from typing import Any

from dagcore.configuration.base_parser import BaseParser
from dagcore.configuration.values import Entry, normalize_option
from dagcore.errors import ConfigError

__all__ = ["InterpolationMissingEnvvarError", "LuigiConfigParser"]

_ENV_RE = re.compile(r"\$\{([^}]+)\}")
_REFERENCE_RE = re.compile(r"%\(([^)]+)\)s")


class InterpolationMissingEnvvarError(ConfigError, InterpolationError):
    """A value refers to an environment variable (``${NAME}``) that is not set."""

    def __init__(self, option: str, section: str, value: str, envvar: str) -> None:
        message = (
            f"[{section}] {option} = {value!r} refers to the environment variable {envvar}, "
            "which is not set; set it or change the value"
        )
        InterpolationError.__init__(self, option, section, message)
        self.envvar = envvar


class LuigiConfigParser(BaseParser):
    """The configuration with Luigi's ``LuigiConfigParser`` API (see the module docstring)."""

    def set(self, section: str, option: str, value: Any = None) -> None:
        """Set ``[section] option``; a string is expanded each time it is read.

        As in Luigi, the underscore spelling wins: once ``a_b`` is set, setting ``a-b`` does not
        change what ``get`` returns.
        """
        if "-" in option:
            current = super()._entry(section, option)
            if current is not None and current.key is not None and "-" not in current.key:
                return
        self._store(section, option, Entry(value, "set()", "override", expand=True, key=option))

    def _entry(self, section: str, option: str) -> Entry | None:
        entry = super()._entry(section, option)
        if entry is not None and entry.key is not None and "-" in entry.key:
            warnings.warn(
                f"Configuration [{section}] {entry.key} (with dashes) should be avoided. "
                f"Please use underscores: {normalize_option(entry.key)}.",
                DeprecationWarning,
                stacklevel=3,
            )
        return entry

    def _value(self, section: str, option: str, entry: Entry) -> Any:
        if not entry.expand or not isinstance(entry.value, str):
            return entry.value
        expanded = self._expand_references(section, option, entry.value, 1)
        return _expand_env(section, option, expanded)

    def _expand_references(self, section: str, option: str, value: str, depth: int) -> str:
        if depth > MAX_INTERPOLATION_DEPTH:
            raise InterpolationDepthError(option, section, value)
        parts: list[str] = []
        rest = value
        while (at := rest.find("%")) >= 0:
            parts.append(rest[:at])
            rest = rest[at:]
            if rest.startswith("%%"):
                parts.append("%")
                rest = rest[2:]
                continue
            match = _REFERENCE_RE.match(rest)
            if match is None:
                raise InterpolationSyntaxError(
                    option,
                    section,
                    f"'%' must be followed by '%' or '(name)s', found: {rest!r}",
                )
            parts.append(self._reference(section, option, value, match.group(1), depth))
            rest = rest[match.end() :]
        parts.append(rest)
        return "".join(parts)

    def _reference(self, section: str, option: str, raw: str, name: str, depth: int) -> str:
        for where in (section, "DEFAULT"):
            entry = self._entry(where, name)
            if entry is None:
                continue
            if entry.expand and isinstance(entry.value, str):
                key = normalize_option(name)
                return self._expand_references(where, key, entry.value, depth + 1)
            return str(entry.value)
        raise InterpolationMissingOptionError(option, section, raw, name)


def _expand_env(section: str, option: str, value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        try:
            return os.environ[name]
        except KeyError:
            raise InterpolationMissingEnvvarError(option, section, value, name) from None

    return _ENV_RE.sub(replace, value)
