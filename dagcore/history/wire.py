"""JSON wire helpers for history events: values to JSON, and typed reads back with errors
that name the event and field."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from dagcore.errors import HistoryError

__all__ = ["FieldReader", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Convert a field value to JSON types: ISO timestamps, enum values, lists, nested dicts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


_E = TypeVar("_E", bound=enum.StrEnum)


class FieldReader:
    """Reads typed fields out of a decoded dict, naming the event and field on bad input."""

    def __init__(self, kind: str, data: Mapping[str, Any]) -> None:
        self.kind = kind
        self.data = data

    def _get(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise HistoryError(f"history event {self.kind!r} is missing field {name!r}") from None

    def _bad(self, name: str, expected: str) -> HistoryError:
        value = self.data.get(name)
        return HistoryError(
            f"history event {self.kind!r}: field {name!r} should be {expected}, got {value!r}"
        )

    def text(self, name: str) -> str:
        """A required string."""
        value = self._get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def opt_text(self, name: str) -> str | None:
        """An optional string (missing or null gives ``None``)."""
        if self.data.get(name) is None:
            return None
        return self.text(name)

    def integer(self, name: str, default: int | None = None) -> int:
        """An integer, required unless ``default`` is given."""
        value = self.data.get(name, default) if default is not None else self._get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(name, "an integer")
        return value

    def opt_number(self, name: str) -> float | None:
        """An optional number."""
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self._bad(name, "a number")
        return float(value)

    def time(self, name: str) -> datetime:
        """A required ISO 8601 timestamp (the event checks it is timezone-aware), or seconds
        since the epoch as a number or a decimal string (UTC: what Redis scripts write)."""
        value = self._get(name)
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            pass
        try:
            if isinstance(value, bool):
                raise TypeError(name)
            return datetime.fromtimestamp(float(value), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            raise self._bad(name, "an ISO 8601 timestamp") from None

    def texts(self, name: str) -> tuple[str, ...]:
        """A list of strings, empty when missing."""
        value = self.data.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._bad(name, "a list of strings")
        return tuple(value)

    def mapping(self, name: str) -> dict[str, Any]:
        """An object, empty when missing."""
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self._bad(name, "an object")
        return dict(value)

    def choice(self, name: str, cls: type[_E]) -> _E:
        """A required member of the enum ``cls``, given by value."""
        value = self._get(name)
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise self._bad(name, f"one of {allowed}") from None
