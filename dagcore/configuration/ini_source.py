"""Read a Luigi-style INI file (luigi.cfg, client.cfg) into sections.

The file is read the way Luigi reads it, so a ported ``luigi.cfg`` means the same thing: option
names keep their case, ``%(name)s`` refers to another option of the section or of ``[DEFAULT]``,
and ``${NAME}`` is replaced by the environment variable ``NAME``. Every value is a string.
``[DEFAULT]`` only feeds interpolation; its keys are not copied into every section, because in
dagcore each section is a task family and a blanket default would leak into all of them.
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import os
import re
from typing import Any

from dagcore.configuration.values import Entry, Sections, normalize_option
from dagcore.errors import ConfigError

_ENV_RE = re.compile(r"\$\{([^}]+)\}")

# A section name nobody writes, so that the raw parser treats [DEFAULT] as an ordinary section
# and reports only the keys each section really sets.
_NO_DEFAULT_SECTION = "\x00dagcore-no-default"


class _CaseKeepingParser(configparser.ConfigParser):
    """ConfigParser that keeps option names as written, as Luigi's parser does."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


class _Interpolation(configparser.BasicInterpolation):
    """``%(name)s`` as ConfigParser does it, then ``${NAME}`` from the environment."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def before_get(self, parser: Any, section: str, option: str, value: str, defaults: Any) -> str:
        value = super().before_get(parser, section, option, value, defaults)
        return _ENV_RE.sub(lambda match: self._env(match, section, option), value)

    def _env(self, match: re.Match[str], section: str, option: str) -> str:
        name = match.group(1)
        try:
            return os.environ[name]
        except KeyError:
            raise ConfigError(
                f"{self._path} [{section}] {option}: refers to environment variable "
                f"${{{name}}}, which is not set; set it or remove the reference"
            ) from None


def read_ini(path: str) -> Sections:
    """Parse the INI file at ``path``.

    Raises:
        ConfigError: the file cannot be read or parsed (the message gives the line), a value
            refers to a missing option or environment variable, or one option is spelled twice.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason}); save it as UTF-8") from None

    raw = _CaseKeepingParser(interpolation=None, default_section=_NO_DEFAULT_SECTION)
    values = _CaseKeepingParser(interpolation=_Interpolation(path))
    try:
        raw.read_string(text, source=path)
        values.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigError(_parse_message(path, exc)) from None

    sections: Sections = {}
    for name in raw.sections():
        if name == values.default_section:
            continue
        sections[name] = _read_section(path, name, raw.options(name), values)
    return sections


def _read_section(
    path: str, name: str, keys: list[str], values: configparser.ConfigParser
) -> dict[str, Entry]:
    section: dict[str, Entry] = {}
    spelled: dict[str, str] = {}
    for key in keys:
        option = normalize_option(key)
        if option in spelled:
            raise ConfigError(
                f"{path} [{name}]: '{spelled[option]}' and '{key}' are the same option "
                "(dashes and underscores are interchangeable); keep one of them"
            )
        spelled[option] = key
        try:
            value = values.get(name, key)
        except configparser.InterpolationError as exc:
            raise ConfigError(
                f"{path} [{name}] {key}: cannot expand the value: {exc.message}; write a "
                "literal % as %%"
            ) from None
        section[option] = Entry(value, path, key=key)
    return section


def _parse_message(path: str, exc: configparser.Error) -> str:
    if isinstance(exc, configparser.DuplicateOptionError | configparser.DuplicateSectionError):
        what = (
            f"option '{exc.option}' in section [{exc.section}]"
            if isinstance(exc, configparser.DuplicateOptionError)
            else f"section [{exc.section}]"
        )
        return f"{path}, line {exc.lineno}: {what} is set twice; keep one"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return (
            f"{path}, line {exc.lineno}: {exc.line.strip()!r} comes before any [section] "
            "header; put it under a section"
        )
    if isinstance(exc, configparser.ParsingError):
        lineno, line = exc.errors[0]
        # ConfigParser stores the offending line as its repr(); undo that for the message.
        with contextlib.suppress(ValueError, SyntaxError):
            line = ast.literal_eval(line)
        return f"{path}, line {lineno}: cannot parse {str(line).strip()!r}; expected 'key = value'"
    return f"{path}: invalid INI file: {exc.message}"
