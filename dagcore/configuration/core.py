"""The layered configuration object, :class:`DagcoreConfig`.

It merges layers from lowest to highest precedence (the loader supplies them: Luigi's files,
dagcore.toml, added files, the environment) and puts runtime overrides from :meth:`set` on top.
Lookups are plain dict reads on the merged view, because parameter defaults are looked up once
per parameter per task and a plan can hold hundreds of thousands of tasks.
"""

from __future__ import annotations

import configparser
import enum
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO, TypeVar, overload

from dagcore.configuration.values import (
    Converter,
    Entry,
    Layer,
    Sections,
    bounded_int,
    describe,
    normalize_option,
    to_bool,
    to_float,
    to_int,
    to_list,
)
from dagcore.errors import ConfigError

T = TypeVar("T")
D = TypeVar("D")


class _NoDefault(enum.Enum):
    TOKEN = enum.auto()


NO_DEFAULT = _NoDefault.TOKEN
"""Sentinel for "no default given": a missing option raises instead of returning a default."""


class NoSectionError(ConfigError, KeyError):
    """The configuration has no such section (and no default was given)."""

    def __init__(self, section: str, read_from: str) -> None:
        super().__init__(f"no section [{section}] in the configuration ({read_from})")
        self.section = section

    def __str__(self) -> str:
        # KeyError would show the message in quotes, as if it were the missing key.
        return str(self.args[0])


class DuplicateSectionError(ConfigError, configparser.DuplicateSectionError):
    """:meth:`DagcoreConfig.add_section` was asked for a section that already exists."""

    def __init__(self, section: str) -> None:
        configparser.DuplicateSectionError.__init__(self, section)

    def __str__(self) -> str:
        return f"section [{self.section}] already exists"


class NoOptionError(ConfigError, KeyError):
    """The section has no such option (and no default was given)."""

    def __init__(self, section: str, option: str, read_from: str) -> None:
        super().__init__(f"no option '{option}' in section [{section}] ({read_from})")
        self.section = section
        self.option = option

    def __str__(self) -> str:
        return str(self.args[0])


Loader = Callable[[], list[Layer]]


def _no_layers() -> list[Layer]:
    return []


class DagcoreConfig:
    """dagcore's configuration: Luigi's ``get``/``getint``/... API over layered sources.

    Option names are normalised (``param-name`` is ``param_name``); section names are
    case-sensitive, because they are task family names. Values are raw: strings from INI files
    and the environment, typed values from TOML. The typed getters convert them and raise
    :class:`~dagcore.errors.ConfigError` naming the file, section and key when they cannot.
    """

    def __init__(self, loader: Loader | None = None) -> None:
        """Load the configuration.

        Args:
            loader: Returns the layers, lowest precedence first; called again by :meth:`reload`.
                Without one the configuration starts empty (handy in tests, with :meth:`set`).
        """
        self._loader: Loader = loader if loader is not None else _no_layers
        self._lock = threading.Lock()
        self._overrides: Sections = {}
        self._layers: list[Layer] = []
        self._merged: Sections = {}
        self.reload()

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read every source. Overrides made with :meth:`set` are kept."""
        layers = self._loader()
        with self._lock:
            merged: Sections = {}
            for sections in [*(layer.sections for layer in layers), self._overrides]:
                for name, options in sections.items():
                    merged.setdefault(name, {}).update(options)
            self._layers, self._merged = layers, merged

    @property
    def origins(self) -> list[str]:
        """Where the configuration was read from, lowest precedence first."""
        return [layer.origin for layer in self._layers]

    def set(self, section: str, option: str, value: Any) -> None:
        """Override ``[section] option`` in this process (tests, command-line flags).

        Overrides win over every file and the environment and survive :meth:`reload`; they are
        cleared by :func:`~dagcore.configuration.reset_config`.
        """
        self._store(section, option, Entry(value, "set()", "override", key=option))

    def replace_all(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        """Make ``sections`` the whole configuration: what was read or set before is forgotten.

        The values count as :meth:`set` overrides (a later :meth:`reload` keeps them on top of
        the sources it reads again).
        """
        overrides: Sections = {
            name: {
                normalize_option(option): Entry(value, "set()", "override", key=option)
                for option, value in options.items()
            }
            for name, options in sections.items()
        }
        with self._lock:
            self._layers = []
            self._overrides = overrides
            self._merged = {name: dict(options) for name, options in overrides.items()}

    def write(self, fp: TextIO) -> None:
        """Write every section as INI text (``[section]`` then ``option = value`` lines)."""
        for section in self.sections():
            fp.write(f"[{section}]\n")
            for option, value in self.items(section):
                fp.write(f"{option} = {value}\n")
            fp.write("\n")

    def add_section(self, section: str) -> None:
        """Make ``section`` exist (empty) without setting any option in it.

        Raises:
            DuplicateSectionError: the section already exists.
        """
        with self._lock:
            if section in self._merged:
                raise DuplicateSectionError(section)
            self._overrides.setdefault(section, {})
            self._merged.setdefault(section, {})

    def _store(self, section: str, option: str, entry: Entry) -> None:
        key = normalize_option(option)
        with self._lock:
            self._overrides.setdefault(section, {})[key] = entry
            self._merged.setdefault(section, {})[key] = entry

    # -- raw access -------------------------------------------------------------------------

    def has_section(self, section: str) -> bool:
        """Return True if any source defines ``section``."""
        return section in self._merged

    def has_option(self, section: str, option: str) -> bool:
        """Return True if ``[section] option`` is set (``-`` and ``_`` are equivalent)."""
        return self._entry(section, option) is not None

    def sections(self) -> list[str]:
        """Return every section name, in the order the sources introduced them."""
        return list(self._merged)

    def items(self, section: str) -> list[tuple[str, Any]]:
        """Return ``(option, raw value)`` pairs of ``section``.

        Raises:
            NoSectionError: no source defines ``section``.
        """
        options = self._merged.get(section)
        if options is None:
            raise NoSectionError(section, self._read_from())
        return [(option, self._value(section, option, entry)) for option, entry in options.items()]

    def options(self, section: str) -> list[str]:
        """Return the option names of ``section``.

        Raises:
            NoSectionError: no source defines ``section``.
        """
        return [option for option, _ in self.items(section)]

    def defaults(self) -> dict[str, Any]:
        """Return the ``[DEFAULT]`` options given with :meth:`set` (ConfigParser's API).

        ``[DEFAULT]`` of an INI file only feeds ``%(name)s`` references while the file is read,
        so it is not here.
        """
        return dict(self.items("DEFAULT")) if self.has_section("DEFAULT") else {}

    def remove_option(self, section: str, option: str) -> bool:
        """Forget ``[section] option`` until the next :meth:`reload`; False if it was not set.

        Raises:
            NoSectionError: no source defines ``section``.
        """
        key = normalize_option(option)
        with self._lock:
            options = self._merged.get(section)
            if options is None:
                raise NoSectionError(section, self._read_from())
            self._overrides.get(section, {}).pop(key, None)
            return options.pop(key, None) is not None

    def remove_section(self, section: str) -> bool:
        """Forget ``section`` until the next :meth:`reload`; False if it did not exist."""
        with self._lock:
            self._overrides.pop(section, None)
            return self._merged.pop(section, None) is not None

    def get(self, section: str, option: str, default: Any = NO_DEFAULT) -> Any:
        """Return the raw value of ``[section] option``, or ``default`` if it is not set.

        Raises:
            NoSectionError: the section is missing and no default was given.
            NoOptionError: the option is missing and no default was given.
        """
        entry = self._entry(section, option)
        if entry is not None:
            return self._value(section, normalize_option(option), entry)
        if default is not NO_DEFAULT:
            return default
        raise self._missing(section, option)

    def source(self, section: str, option: str) -> str:
        """Return the file path or environment variable that set ``[section] option``.

        Raises:
            NoSectionError, NoOptionError: the option is not set.
        """
        entry = self._entry(section, option)
        if entry is None:
            raise self._missing(section, option)
        return entry.source

    def describe(self, section: str, option: str) -> str:
        """Return where ``[section] option`` is set, for the start of an error message.

        For example ``dagcore.toml [resources] gpu`` or
        ``environment variable DAGCORE__CORE__WORKERS ([core] workers)``.
        """
        return describe(section, normalize_option(option), self._entry(section, option))

    # -- typed access -----------------------------------------------------------------------

    @overload
    def getparsed(self, section: str, option: str, convert: Converter[T]) -> T: ...

    @overload
    def getparsed(self, section: str, option: str, convert: Converter[T], default: D) -> T | D: ...

    def getparsed(
        self, section: str, option: str, convert: Converter[Any], default: Any = NO_DEFAULT
    ) -> Any:
        """Return ``convert(raw value)``, or ``default`` (unconverted) if the option is not set.

        Raises:
            ConfigError: ``convert`` rejected the value; the message names file, section, key.
            NoSectionError, NoOptionError: the option is not set and no default was given.
        """
        entry = self._entry(section, option)
        if entry is None:
            if default is not NO_DEFAULT:
                return default
            raise self._missing(section, option)
        value = self._value(section, normalize_option(option), entry)
        try:
            return convert(value)
        except ValueError as exc:
            where = describe(section, normalize_option(option), entry)
            raise ConfigError(f"{where}: {exc}, got {entry.value!r}") from None

    @overload
    def getint(self, section: str, option: str) -> int: ...

    @overload
    def getint(self, section: str, option: str, default: D) -> int | D: ...

    def getint(self, section: str, option: str, default: Any = NO_DEFAULT) -> Any:
        """Return ``[section] option`` as an integer (see :meth:`getparsed`)."""
        return self.getparsed(section, option, to_int, default)

    @overload
    def getfloat(self, section: str, option: str) -> float: ...

    @overload
    def getfloat(self, section: str, option: str, default: D) -> float | D: ...

    def getfloat(self, section: str, option: str, default: Any = NO_DEFAULT) -> Any:
        """Return ``[section] option`` as a float (see :meth:`getparsed`)."""
        return self.getparsed(section, option, to_float, default)

    @overload
    def getboolean(self, section: str, option: str) -> bool: ...

    @overload
    def getboolean(self, section: str, option: str, default: D) -> bool | D: ...

    def getboolean(self, section: str, option: str, default: Any = NO_DEFAULT) -> Any:
        """Return ``[section] option`` as a bool: true/false, yes/no, on/off, 1/0 or TOML bools."""
        return self.getparsed(section, option, to_bool, default)

    @overload
    def getlist(self, section: str, option: str) -> list[Any]: ...

    @overload
    def getlist(self, section: str, option: str, default: D) -> list[Any] | D: ...

    def getlist(self, section: str, option: str, default: Any = NO_DEFAULT) -> Any:
        """Return a TOML array, a JSON array string or a comma-separated string as a list."""
        return self.getparsed(section, option, to_list, default)

    def getintdict(self, section: str, *, minimum: int | None = None) -> dict[str, int]:
        """Return every option of ``section`` as an integer (``{}`` if the section is missing).

        Args:
            section: For example ``"resources"``.
            minimum: If given, smaller values are a :class:`~dagcore.errors.ConfigError`.
        """
        convert = bounded_int(minimum)
        return {
            option: self.getparsed(section, option, convert)
            for option in self._merged.get(section, {})
        }

    # -- helpers ----------------------------------------------------------------------------

    def _value(self, section: str, option: str, entry: Entry) -> Any:
        """The value ``entry`` stands for; subclasses expand references here."""
        return entry.value

    def _entry(self, section: str, option: str) -> Entry | None:
        options = self._merged.get(section)
        if options is None:
            return None
        return options.get(normalize_option(option))

    def _missing(self, section: str, option: str) -> ConfigError:
        if section not in self._merged:
            return NoSectionError(section, self._read_from())
        return NoOptionError(section, normalize_option(option), self._read_from())

    def _read_from(self) -> str:
        origins = self.origins
        if not origins:
            return "no configuration file or environment setting was found"
        return "read from " + ", ".join(origins)
