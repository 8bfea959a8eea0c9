"""A progress display for a running plan: a redrawn bar on a terminal, plain lines elsewhere.

On a terminal one line is redrawn in place (at most ten times a second) with a bar, the
done/running/failed/pending counts, the rate and an estimate of the time left. Elsewhere (a log
file, CI output) a plain line is written at most every two seconds and once at the end, so logs
stay readable.

Updates must stay cheap on a 300,000-task run, where the executor reports after every
transition. :meth:`Progress.update_counts` is O(1) and is what executors that keep counters
should call. :meth:`Progress.update` takes the whole :class:`~dagcore.plan.RunState` (the
``RunContext.on_progress`` callback); it only counts states when a redraw is due, and spaces
those counts out further when counting itself gets slow.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from dagcore.plan import TaskState

if TYPE_CHECKING:
    from dagcore.plan import RunState

__all__ = ["Progress", "ProgressCounts"]

TTY_INTERVAL = 0.1  # seconds between redraws on a terminal
PLAIN_INTERVAL = 2.0  # seconds between lines elsewhere
_SCAN_BUDGET = 0.02  # share of wall time update() may spend counting states
_BAR_WIDTH = 20


@dataclass(frozen=True, slots=True)
class ProgressCounts:
    """How many tasks are in each phase. Tasks in none of them were skipped.

    Parameters:
        done: finished successfully, or complete before the run started.
        running: running now.
        failed: failed for good.
        pending: waiting for requirements, a slot or a retry.
    """

    done: int = 0
    running: int = 0
    failed: int = 0
    pending: int = 0

    @classmethod
    def of(cls, state: RunState) -> ProgressCounts:
        """Count the states of a run (O(number of tasks))."""
        counts = Counter(state.state.values())
        return cls(
            done=counts[TaskState.DONE],
            running=counts[TaskState.RUNNING],
            failed=counts[TaskState.FAILED],
            pending=counts[TaskState.PENDING] + counts[TaskState.READY],
        )

    @property
    def finished(self) -> int:
        """Tasks that will not change any more (done or failed)."""
        return self.done + self.failed


class Progress:
    """Shows how far a run has got.

    Parameters:
        total: number of tasks in the plan (it may grow with dynamic requirements).
        stream: where to write; standard error by default.
        tty: redraw in place; None asks the stream whether it is a terminal.
        clock: a monotonic clock in seconds (tests pass a fake one).
        width: the terminal width; None asks the terminal (80 if it cannot tell).
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
    ) -> None:
        self.total = total
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.tty = _is_tty(self.stream) if tty is None else tty
        self.width = width if width is not None else shutil.get_terminal_size((80, 24)).columns
        self._clock = clock
        self._interval = TTY_INTERVAL if self.tty else PLAIN_INTERVAL
        self._lock = threading.Lock()
        self._counts = ProgressCounts()
        self._shown: ProgressCounts | None = None  # what the last line showed
        self._start: float | None = None
        self._start_finished = 0  # tasks finished before the first update (already complete)
        self._last_draw = clock()
        self._next_scan = float("-inf")
        self._state: RunState | None = None
        self._stale = False  # update() skipped a count since the last one
        self._closed = False
        self._drawn = False
        if self.tty:
            self._last_draw = float("-inf")  # a terminal shows the bar at once

    # -- feeding ----------------------------------------------------------------------------------

    def update_counts(self, done: int, running: int, failed: int, pending: int) -> None:
        """Record the current counts; redraw if it is time. O(1).

        Parameters:
            done: tasks finished successfully (including those complete before the run).
            running: tasks running now.
            failed: tasks that failed for good.
            pending: tasks not started yet (waiting for requirements, a slot or a retry).
        """
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            self._record(ProgressCounts(done, running, failed, pending), now)
            if now - self._last_draw >= self._interval:
                self._draw(now, final=False)

    def update(self, state: RunState) -> None:
        """Take the counts from a run state; usable directly as ``RunContext.on_progress``.

        States are only counted when a redraw is due, and never more than about 2% of the
        time, so calling this after every transition of a large run stays cheap.
        """
        with self._lock:
            if self._closed:
                return
            self._state = state
            now = self._clock()
            self.total = max(self.total, len(state.state))
            if now - self._last_draw < self._interval or now < self._next_scan:
                self._stale = True
                if self._start is None:
                    self._scan(state, now)  # the baseline (already complete tasks) counts
                return
            self._scan(state, now)
            self._draw(now, final=False)

    def close(self) -> None:
        """Show the final counts and end the line. Calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._stale and self._state is not None:
                self.total = max(self.total, len(self._state.state))
                self._scan(self._state, self._clock())
            if self._start is None:
                return  # never updated: there is nothing to report
            if not self.tty and self._drawn and self._shown == self._counts:
                return  # the last plain line already says it all
            self._draw(self._clock(), final=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _scan(self, state: RunState, now: float) -> None:
        started = time.perf_counter()
        counts = ProgressCounts.of(state)
        cost = time.perf_counter() - started
        self._next_scan = now + cost / _SCAN_BUDGET
        self._stale = False
        self._record(counts, now)

    def _record(self, counts: ProgressCounts, now: float) -> None:
        if self._start is None:
            self._start = now
            self._start_finished = counts.finished
        self._counts = counts
        self.total = max(self.total, counts.done + counts.running + counts.failed + counts.pending)

    def _draw(self, now: float, final: bool) -> None:
        self._last_draw = now
        self._shown = self._counts
        self._drawn = True
        if self.tty:
            line = self._bar_line(now, final)
            end = "\n" if final else ""
            self.stream.write(f"\r{line}\x1b[K{end}")
        else:
            self.stream.write(self._plain_line(now, final) + "\n")
        self.stream.flush()

    def _rate(self, now: float) -> float | None:
        """Tasks finished per second since the first update, None until measurable."""
        if self._start is None:
            return None
        elapsed = now - self._start
        finished = self._counts.finished - self._start_finished
        if elapsed <= 0 or finished <= 0:
            return None
        return finished / elapsed

    def _eta(self, now: float) -> float | None:
        rate = self._rate(now)
        if rate is None:
            return None
        left = self.total - self._counts.finished - self._skipped()
        return max(left, 0) / rate

    def _skipped(self) -> int:
        c = self._counts
        return max(self.total - c.done - c.running - c.failed - c.pending, 0)

    def _counts_text(self) -> list[str]:
        c = self._counts
        parts = [
            f"{c.done}/{self.total} done",
            f"{c.running} running",
            f"{c.failed} failed",
            f"{c.pending} pending",
        ]
        if self._skipped():
            parts.append(f"{self._skipped()} skipped")
        return parts

    def _bar_line(self, now: float, final: bool) -> str:
        c = self._counts
        share = (c.finished + self._skipped()) / self.total if self.total else 1.0
        filled = min(_BAR_WIDTH, int(share * _BAR_WIDTH))
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        parts = [f"dagcore: [{bar}]", *self._counts_text()]
        parts.extend(self._speed(now, final))
        line = "  ".join(parts)
        # A line wider than the terminal wraps, and "\r" then redraws only its last part.
        return line[: max(self.width - 1, 10)]

    def _plain_line(self, now: float, final: bool) -> str:
        parts = self._counts_text()
        parts.extend(self._speed(now, final))
        return "dagcore: " + ", ".join(parts)

    def _speed(self, now: float, final: bool) -> list[str]:
        rate = self._rate(now)
        if rate is None:
            return []
        out = [f"{rate:.1f} tasks/s"]
        eta = self._eta(now)
        if not final and eta is not None:
            out.append(f"ETA {_duration(eta)}")
        return out


def _duration(seconds: float) -> str:
    """``42s``, ``3m07s`` or ``2h05m``."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream is not a terminal
        return False
