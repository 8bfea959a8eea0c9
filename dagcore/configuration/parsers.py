"""The process-wide configuration object: :func:`get_config`, :func:`add_config_path`.

As in Luigi, the object is the instance of a parser class, chosen by name (``"cfg"``, ``"ini"``,
``"conf"`` or ``"toml"``) or by the ``LUIGI_CONFIG_PARSER`` environment variable (default
``cfg``). Both classes read the same sources, so the choice only changes how the object behaves
(see :mod:`~dagcore.configuration.cfg_parser` and :mod:`~dagcore.configuration.toml_parser`).
Code that assigns a parser class's ``_instance`` (Luigi's test helpers do) changes what
:func:`get_config` returns, for dagcore's own parameter lookups too.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from dagcore.configuration.base_parser import BaseParser
from dagcore.configuration.cfg_parser import LuigiConfigParser
from dagcore.configuration.core import DagcoreConfig
from dagcore.configuration.loader import forget_paths
from dagcore.configuration.schema import ConfigWarning, forget_warnings
from dagcore.configuration.toml_parser import LuigiTomlParser

__all__ = ["PARSERS", "add_config_path", "get_config", "reset_config"]

PARSERS: Mapping[str, type[BaseParser]] = {
    "cfg": LuigiConfigParser,
    "conf": LuigiConfigParser,
    "ini": LuigiConfigParser,
    "toml": LuigiTomlParser,
}
"""Parser names (also file extensions) and their classes."""

DEFAULT_PARSER = "cfg"


def _default_parser() -> str:
    name = os.environ.get("LUIGI_CONFIG_PARSER", DEFAULT_PARSER)
    if name not in PARSERS:
        warnings.warn(
            f"LUIGI_CONFIG_PARSER={name!r} is not a parser ({', '.join(PARSERS)}); "
            f"using {DEFAULT_PARSER!r}",
            ConfigWarning,
            stacklevel=3,
        )
        return DEFAULT_PARSER
    return name


def _parser_class(name: str) -> type[BaseParser]:
    try:
        parser_cls = PARSERS[name]
    except KeyError:
        raise ValueError(
            f"unknown configuration parser {name!r}; use one of {', '.join(PARSERS)}"
        ) from None
    if not parser_cls.enabled:
        raise ImportError(f"the {name!r} configuration parser is disabled ({parser_cls.__name__})")
    return parser_cls


def get_config(parser: str | None = None) -> DagcoreConfig:
    """Return the process-wide configuration, reading it on first use.

    Args:
        parser: ``"cfg"`` (also ``"ini"``, ``"conf"``) or ``"toml"``; by default the value of
            ``LUIGI_CONFIG_PARSER``, else ``"cfg"``.

    Raises:
        ImportError: that parser class is disabled (its ``enabled`` is False).
    """
    parser_cls = _parser_class(_default_parser() if parser is None else parser)
    current = parser_cls._instance
    return current if current is not None else parser_cls.instance()


def add_config_path(path: str | os.PathLike[str]) -> bool:
    """Read one more file, above dagcore.toml and below the environment, as Luigi's does.

    ``.toml`` files are TOML; anything else is read as an INI file. Configurations already
    loaded are reloaded at once.

    Returns:
        False, with a :class:`ConfigWarning`, if the file does not exist (Luigi's behaviour).

    Raises:
        ImportError: the parser for the file's extension is disabled.
    """
    text = os.fspath(path)
    if not os.path.isfile(text):
        warnings.warn(
            f"{text}: configuration file does not exist; not added", ConfigWarning, stacklevel=2
        )
        return False
    extension = os.path.splitext(text)[1][1:].lower()
    parser_cls = _parser_class(extension if extension in PARSERS else _default_parser())
    parser_cls.add_config_path(text)
    return True


def reset_config() -> None:
    """Forget the loaded configuration, added paths, overrides and already-given warnings.

    The next :func:`get_config` reads the files and the environment afresh. Tests call this
    before and after each test.
    """
    for parser_cls in set(PARSERS.values()):
        parser_cls._instance = None
    forget_paths()
    forget_warnings()
