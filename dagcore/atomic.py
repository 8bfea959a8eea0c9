"""The commit-on-clean-exit rule every atomic writer follows.

A writer commits on ``close()``. Leaving a ``with`` block normally closes (commits); leaving it
with an exception aborts, and so does garbage collection of a writer nobody closed: an unclosed
writer is an interrupted one and must never become a file.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

__all__ = ["CommitOnCleanExit"]


class CommitOnCleanExit:
    """Mixin for writers with ``close()`` (commit) and ``abort()`` (discard).

    Put it first among the bases so its ``__exit__`` and ``__del__`` replace the io classes'
    (which would close, and so commit, in both cases).
    """

    def abort(self) -> None:
        """Close without committing anything."""
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            cast(Any, self).close()
        else:
            self.abort()

    def __del__(self) -> None:
        # A finalizer must not raise (a failed __init__ leaves a half-built object here).
        try:
            self.abort()
        except Exception:
            pass
