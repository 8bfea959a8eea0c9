"""Config entries, option-name normalisation and the converters behind the typed getters.

Every value the configuration holds is an :class:`Entry`: the raw value (a string from an INI file
or the environment, or a typed TOML value) plus where it came from, so any error about it can
name the file, section and key. A converter turns a raw value into a typed one or raises
:class:`ValueError` whose message says what was expected ("expected an integer"); the caller adds
the location and the offending value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Converter = Callable[[Any], T]
"""Turns a raw config value into a typed one; raises ValueError("expected ...") if it cannot."""

SourceKind = Literal["file", "env", "override"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One configured value and where it was set.

    Attributes:
        value: The raw value: ``str`` from INI files and the environment, any TOML type otherwise.
        source: The file path, the environment variable name, or ``"set()"`` for overrides.
        kind: Which of those ``source`` is.
        expand: True if ``value`` still holds ``%(name)s`` / ``${VAR}`` references, to be
            expanded when it is read (values given to Luigi's parser with ``set``).
        key: The option name as an INI file or ``set`` spelled it (None for TOML and the
            environment, where dashes are simply another spelling); Luigi's parser warns when
            it was written with dashes.
    """

    value: Any
    source: str
    kind: SourceKind = "file"
    expand: bool = False
    key: str | None = None


Sections = dict[str, dict[str, Entry]]
"""Section name -> normalised option name -> entry."""


@dataclass(frozen=True, slots=True)
class Layer:
    """Everything one source contributed, before it is merged with the other sources.

    Attributes:
        origin: The file path, or ``"environment"``.
        sections: The entries it sets.
    """

    origin: str
    sections: Sections


def normalize_option(name: str) -> str:
    """Return the canonical spelling of an option name.

    Dashes and underscores are interchangeable (Luigi accepts both), so ``param-name`` and
    ``param_name`` are the same key. Case is kept, as Luigi keeps it.
    """
    return name.strip().replace("-", "_")


def describe(section: str, option: str, entry: Entry | None) -> str:
    """Say where ``[section] option`` was set, for the start of an error or warning message."""
    if entry is None:
        return f"[{section}] {option}"
    if entry.kind == "env":
        return f"environment variable {entry.source} ([{section}] {option})"
    if entry.kind == "override":
        return f"[{section}] {option} (set at runtime)"
    return f"{entry.source} [{section}] {option}"


# -- converters ---------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def to_bool(raw: Any) -> bool:
    """Accept TOML booleans, 0/1 and true/false, yes/no, on/off, 1/0 in any case."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("expected a boolean (true/false, yes/no, on/off or 1/0)")


def to_int(raw: Any) -> int:
    """Accept TOML integers and integer strings; booleans and floats are refused."""
    # bool is an int subclass, but `workers = true` is a mistake, not 1.
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        try:
            return int(raw.strip(), 10)
        except ValueError:
            pass
    raise ValueError("expected an integer")


def to_float(raw: Any) -> float:
    """Accept TOML numbers and numeric strings; the result must be finite."""
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise ValueError("expected a number")
    return value


def to_str(raw: Any) -> str:
    """Accept strings only; a number where text is expected is usually a misplaced key."""
    if isinstance(raw, str):
        return raw
    raise ValueError("expected a string")


def to_list(raw: Any) -> list[Any]:
    """Accept TOML arrays, JSON arrays in a string, or comma-separated strings.

    The string forms exist because INI files and environment variables cannot hold arrays.
    """
    if isinstance(raw, list | tuple):
        return list(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, list):
                return parsed
            raise ValueError("expected a list (a JSON array or comma-separated names)")
        return [part.strip() for part in text.split(",") if part.strip()]
    raise ValueError("expected a list")


def to_str_list(raw: Any) -> list[str]:
    """Like :func:`to_list`, with non-empty strings as items."""
    items = to_list(raw)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise ValueError("expected a list of names")
    return [item.strip() for item in items]


_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_MEMORY_UNITS = {
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
}


def to_memory_bytes(raw: Any) -> int:
    """Parse a memory size into bytes.

    A bare number means mebibytes, the unit Docker and Kubernetes users write without a suffix
    (``memory = 2048``). Strings take a unit: ``"512MiB"``, ``"2GiB"``, ``"1.5G"`` (decimal),
    ``"4Gi"`` (Kubernetes style).
    """
    error = 'expected a size such as "2GiB", "512MiB" or a number of MiB'
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        if raw < 0 or not math.isfinite(raw):
            raise ValueError(error)
        return int(raw * MIB)
    if not isinstance(raw, str):
        raise ValueError(error)
    match = _MEMORY_RE.match(raw)
    if match is None:
        raise ValueError(error)
    number, unit = match.groups()
    factor = _MEMORY_UNITS.get(unit.lower(), None) if unit else MIB
    if factor is None:
        raise ValueError(error)
    return int(float(number) * factor)


def bounded_int(minimum: int | None = None, maximum: int | None = None) -> Converter[int]:
    """Return a converter for integers in ``[minimum, maximum]`` (either bound optional)."""
    expected = _describe_range("integer", minimum, maximum)

    def convert(raw: Any) -> int:
        try:
            value = to_int(raw)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(f"expected {expected}")
        return value

    return convert


def bounded_float(minimum: float | None = None, maximum: float | None = None) -> Converter[float]:
    """Return a converter for numbers in ``[minimum, maximum]`` (either bound optional)."""
    expected = _describe_range("number", minimum, maximum)

    def convert(raw: Any) -> float:
        try:
            value = to_float(raw)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(f"expected {expected}")
        return value

    return convert


def one_of(*choices: str) -> Converter[str]:
    """Return a converter accepting one of ``choices``, ignoring case, giving the canonical one."""
    by_folded = {choice.casefold(): choice for choice in choices}
    expected = "one of " + ", ".join(repr(choice) for choice in choices)

    def convert(raw: Any) -> str:
        if isinstance(raw, str) and raw.strip().casefold() in by_folded:
            return by_folded[raw.strip().casefold()]
        raise ValueError(f"expected {expected}")

    return convert


def _describe_range(noun: str, minimum: float | None, maximum: float | None) -> str:
    article = "an" if noun[0] in "aeiou" else "a"
    if minimum is not None and maximum is not None:
        return f"{article} {noun} between {minimum} and {maximum}"
    if minimum == 0:
        return f"a non-negative {noun}"
    if minimum == 1 and noun == "integer":
        return "a positive integer"
    if minimum is not None:
        return f"{article} {noun} >= {minimum}"
    if maximum is not None:
        return f"{article} {noun} <= {maximum}"
    return f"{article} {noun}"
