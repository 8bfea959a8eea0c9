"""Read a TOML configuration file (dagcore.toml or luigi.toml) into sections.

TOML tables nest, so ``[examples.etl.Transform]`` arrives as ``examples -> etl -> Transform``.
Each table is flattened into a section named by its dotted path, which is the task family's name;
the quoted form ``["examples.etl.Transform"]`` lands in the same section. A table is also kept as
a dict-valued key of its parent, because an inline table (``opts = {a = 1}``, the natural way to
write a ``DictParameter`` default) is indistinguishable from a sub-table once parsed.
Values keep their TOML type.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from dagcore.configuration.schema import warn_once
from dagcore.configuration.values import Entry, Sections, normalize_option
from dagcore.errors import ConfigError

# tomllib puts the position at the end of its message; Python 3.11 exposes no attributes for it.
_POSITION_RE = re.compile(r"^(?P<reason>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def read_toml(path: str) -> Sections:
    """Parse the TOML file at ``path``.

    Raises:
        ConfigError: the file cannot be read, is not valid TOML (the message gives the line), or
            spells one option twice (``a-b`` and ``a_b``).
    """
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_syntax_message(path, exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason}); save it as UTF-8") from None

    sections: Sections = {}
    for key, value in data.items():
        if isinstance(value, dict):
            _flatten(path, key, value, sections)
        else:
            warn_once(
                path,
                "",
                key,
                f"{path}: '{key}' is outside any [section] and was ignored; "
                "move it under the section it belongs to, e.g. [core].",
            )
    return sections


def _flatten(path: str, name: str, table: dict[str, Any], out: Sections) -> None:
    section = out.setdefault(name, {})
    spelled: dict[str, str] = {}
    for key, value in table.items():
        option = normalize_option(key)
        if option in spelled:
            raise ConfigError(
                f"{path} [{name}]: '{spelled[option]}' and '{key}' are the same option "
                "(dashes and underscores are interchangeable); keep one of them"
            )
        spelled[option] = key
        section[option] = Entry(value, path)
        if isinstance(value, dict):
            _flatten(path, f"{name}.{key}", value, out)


def _syntax_message(path: str, exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    match = _POSITION_RE.match(text)
    if match is None:
        return f"{path}: invalid TOML: {text}"
    return (
        f"{path}, line {match['line']}, column {match['column']}: invalid TOML: {match['reason']}"
    )
