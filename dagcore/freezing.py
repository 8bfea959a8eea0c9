"""Immutable, hashable copies of parameter values.

Task instances are cached by their parameter values, so every value must be hashable: lists
become tuples and mappings become :class:`FrozenDict`. ``unfreeze`` turns them back into plain
JSON-friendly structures for serialisation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class FrozenOrderedDict(Mapping[Any, Any]):
    """A read-only mapping that keeps insertion order and can be hashed (Luigi's class name).

    ``FrozenDict`` is the same class.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data: dict[Any, Any] = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            # Order-insensitive, like dict equality.
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._data == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __reduce__(self) -> tuple[type[FrozenOrderedDict], tuple[dict[Any, Any]]]:
        # Pickle the items only: a cached hash of str keys is wrong in a process with another
        # hash seed (a worker started with "spawn").
        return (FrozenOrderedDict, (self._data,))

    def get_wrapped(self) -> dict[Any, Any]:
        """Return the underlying dict (do not mutate it)."""
        return self._data


FrozenDict = FrozenOrderedDict
"""dagcore's name for :class:`FrozenOrderedDict`."""


def freeze(value: Any) -> Any:
    """Return a hashable copy of ``value``: mappings to FrozenDict, lists and tuples to tuples."""
    if isinstance(value, Mapping):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value


def unfreeze(value: Any) -> Any:
    """Return plain dicts and lists for a value made by :func:`freeze`."""
    if isinstance(value, Mapping):
        return {k: unfreeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unfreeze(v) for v in value]
    return value


# Luigi's names (``luigi.freezing``), so ported imports keep working.
recursively_freeze = freeze
recursively_unfreeze = unfreeze
