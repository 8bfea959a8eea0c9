"""A ``dagcore worker`` subprocess for tests: started, watched line by line, stopped.

Used through the ``start_worker`` fixture of this directory's conftest.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
READY = re.compile(r"(\S+@\S+) ready\.")
START_TIMEOUT = 60.0


def worker_command() -> list[str]:
    """``python -m dagcore worker`` once the entry point is installed, else the module itself."""
    if any(ep.name == "worker" for ep in entry_points(group="dagcore.commands")):
        return [sys.executable, "-m", "dagcore", "worker"]
    return [sys.executable, "-m", "celery_app.worker"]


class WorkerProcess:
    """One running worker and everything it printed (stdout and stderr, merged)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.argv = list(argv)
        self.nodename = ""
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own process group, so teardown can end the prefork children with it.
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self._lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def output(self) -> str:
        """Everything printed so far."""
        with self._changed:
            return "\n".join(self._lines)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = START_TIMEOUT) -> str:
        """Return the first line matching ``pattern``, waiting for it up to ``timeout`` s.

        Raises:
            AssertionError: the worker exited or the time ran out; the message has the output.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self._lines:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                exited = self.process.poll() is not None and not self._reader.is_alive()
                if exited or remaining <= 0:
                    state = f"exited with {self.process.returncode}" if exited else "timed out"
                    raise AssertionError(
                        f"worker {state} before printing {regex.pattern!r}; output:\n"
                        + "\n".join(self._lines)
                    )
                self._changed.wait(min(remaining, 0.5))

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """Wait for Celery's ``NAME@HOST ready.`` line and remember the node name."""
        line = self.wait_for(READY, timeout)
        match = READY.search(line)
        assert match is not None
        self.nodename = match.group(1)
        return line

    def running(self) -> bool:
        """True while the main process has not exited."""
        return self.process.poll() is None

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit on its own; return its exit code."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """SIGKILL the worker and its prefork children at once (a crashed host)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Warm shutdown (SIGTERM), then SIGKILL of its process group if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            # Only this worker's own group (its pid): stray prefork children go with it.
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        code = self.process.wait(10)
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code
