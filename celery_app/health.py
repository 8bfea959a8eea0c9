"""Worker liveness for orchestrators: a heartbeat file the worker touches, and the check.

A running ``dagcore worker`` touches a heartbeat file (``[worker] heartbeat_file``, or
``--heartbeat-file``) every ``[worker] heartbeat_interval`` seconds from a thread of its main
process, started when Celery reports the worker ready and stopped when it has shut down (a warm
shutdown keeps it going while running tasks finish; the file is then removed). Before each touch
it checks that it can still reach the broker: Celery's consumer holds a connection (except during
a warm shutdown), and a ``PING`` on a client of its own answers. A worker that is hung, stopped
(``SIGSTOP``), killed or cut off from Redis therefore stops touching the file.

``dagcore worker --healthcheck [--heartbeat-file PATH] [--max-age SECONDS]`` reads the file's
modification time and exits 0 while it is fresh, 1 with one line saying why otherwise (missing,
or stale by how many seconds). It talks to nothing, so it is cheap enough for a Kubernetes exec
probe or a compose healthcheck, and it checks *this* worker, not whichever answers a broadcast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from celery import Celery, signals
from celery.bootsteps import RUN
from redis.backoff import NoBackoff
from redis.retry import Retry

from celery_app.connection import redis_client
from dagcore.configuration.settings import WorkerSettings
from dagcore.errors import ConfigError

__all__ = [
    "MAX_AGE_INTERVALS",
    "Heartbeat",
    "HeartbeatStatus",
    "broker_probe",
    "check_heartbeat",
    "default_max_age",
    "healthcheck_main",
    "install_heartbeat",
]

logger = logging.getLogger("dagcore.worker.health")

MAX_AGE_INTERVALS = 3
"""The default ``--max-age`` is this many heartbeat intervals: two missed touches are tolerated."""

# Longest a PING of the heartbeat may take, in seconds; a slower broker counts as unreachable.
_PING_TIMEOUT = 5.0

Probe = Callable[[], None]
"""Raises (with a message saying what is wrong) when the worker should not count as healthy."""


# -- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatStatus:
    """The verdict on one heartbeat file.

    Attributes:
        healthy: True if the file was touched at most ``max_age`` seconds ago.
        message: One line for the probe's output: the age, or what is wrong.
        age: Seconds since the last touch, or None if the file is missing.
    """

    healthy: bool
    message: str
    age: float | None


def default_max_age(interval: float) -> float:
    """The default ``--max-age`` for a heartbeat touched every ``interval`` seconds."""
    return MAX_AGE_INTERVALS * interval + _PING_TIMEOUT


def check_heartbeat(path: str | Path, max_age: float, now: float | None = None) -> HeartbeatStatus:
    """Decide whether the heartbeat file at ``path`` is fresh.

    Args:
        path: The heartbeat file.
        max_age: Most seconds since the last touch that still count as healthy.
        now: The current time (``time.time()`` by default), for tests.
    """
    now = time.time() if now is None else now
    try:
        touched = os.stat(path).st_mtime
    except FileNotFoundError:
        return HeartbeatStatus(
            False,
            f"unhealthy: heartbeat file {path} is missing (the worker is not ready yet, has "
            "stopped, or never reached the broker)",
            None,
        )
    except OSError as exc:
        return HeartbeatStatus(False, f"unhealthy: cannot read heartbeat file {path}: {exc}", None)
    age = max(0.0, now - touched)
    if age > max_age:
        return HeartbeatStatus(
            False,
            f"unhealthy: heartbeat file {path} is stale by {age - max_age:.0f}s (last touched "
            f"{age:.0f}s ago, --max-age {max_age:g}s): the worker is hung, stopped or cut off "
            "from the broker",
            age,
        )
    return HeartbeatStatus(True, f"healthy: heartbeat {age:.1f}s old (max {max_age:g}s)", age)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message}")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds above 0 (e.g. 30), not {text!r}"
        )
    return value


def _check_parser() -> _Parser:
    parser = _Parser(
        prog="dagcore worker --healthcheck",
        usage="%(prog)s [--heartbeat-file PATH] [--max-age SECONDS]",
        description="Exit 0 if this host's worker touched its heartbeat file recently, 1 with "
        "the reason otherwise.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        required=True,
        help="check the heartbeat file instead of starting a worker",
    )
    parser.add_argument(
        "--heartbeat-file",
        metavar="PATH",
        help="the file the worker touches (default: [worker] heartbeat_file)",
    )
    parser.add_argument(
        "--max-age",
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"oldest heartbeat still healthy (default: {MAX_AGE_INTERVALS} x "
        f"[worker] heartbeat_interval + {_PING_TIMEOUT:g})",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def healthcheck_main(argv: Sequence[str]) -> int:
    """Run ``dagcore worker --healthcheck``: 0 if the heartbeat is fresh, else 1.

    Prints one line either way (stdout when healthy, stderr otherwise).

    Raises:
        ConfigError: an unknown option, a bad ``--max-age`` or configuration value.
    """
    args = _check_parser().parse_args(list(argv))
    worker = WorkerSettings.from_config()
    path = args.heartbeat_file or worker.heartbeat_file
    max_age = args.max_age or default_max_age(worker.heartbeat_interval)
    status = check_heartbeat(path, max_age)
    print(f"dagcore worker: {status.message}", file=sys.stdout if status.healthy else sys.stderr)
    return 0 if status.healthy else 1


# -- the heartbeat -----------------------------------------------------------------------------


def _touch(path: Path) -> None:
    """Write ``pid time`` to ``path`` through a rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(f"{os.getpid()} {time.time():.3f}\n", encoding="utf-8")
    os.replace(temporary, path)


class Heartbeat:
    """Touches a file every ``interval`` seconds while every probe passes.

    Args:
        path: The heartbeat file; its directory is created if needed.
        interval: Seconds between two touches.
        probes: Checks run before each touch; the first that raises skips the touch.
    """

    def __init__(self, path: str | Path, interval: float, probes: Sequence[Probe]) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat interval must be positive, not {interval}")
        self.path = Path(path)
        self.interval = interval
        self.probes = tuple(probes)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None

    def beat(self) -> bool:
        """Run the probes and touch the file if they pass; True if it was touched."""
        try:
            for probe in self.probes:
                probe()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _touch(self.path)
        # Any failure means "not healthy"; it must never take the worker down.
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self._failing is None:
                logger.warning(
                    "heartbeat %s not touched, the worker will look unhealthy: %s",
                    self.path,
                    reason,
                )
            self._failing = reason
            return False
        if self._failing is not None:
            logger.info("heartbeat %s touched again (was failing: %s)", self.path, self._failing)
            self._failing = None
        return True

    def _run(self) -> None:
        while True:
            self.beat()
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        """Start touching the file from a daemon thread (no-op if it already runs)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dagcore-heartbeat", daemon=True)
        self._thread.start()

    def stop(self, *, remove: bool = True) -> None:
        """Stop the thread and, with ``remove``, delete the file (a stopped worker is unhealthy)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + _PING_TIMEOUT + 1)
            self._thread = None
        if remove:
            self.remove()

    def remove(self) -> None:
        """Delete the file if it is there; a failure is logged, never raised."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("cannot remove heartbeat file %s: %s", self.path, exc)


def broker_probe(broker_url: str, timeout: float = _PING_TIMEOUT) -> Probe:
    """A probe that PINGs the broker's Redis on a client of its own.

    The client gives up after ``timeout`` seconds and retries once at once (for a connection the
    server closed while idle), so a broker that stopped answering fails the probe quickly.
    """
    client = redis_client(
        broker_url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )

    def ping() -> None:
        client.ping()

    return ping


def _consumer_probe(consumer: Any, shutting_down: threading.Event) -> Probe:
    def connected() -> None:
        # During a warm shutdown the consumer lets its connection go on purpose while running
        # tasks finish (which may take long): the broker PING alone decides then.
        stopping = getattr(getattr(consumer, "blueprint", None), "state", RUN) != RUN
        if shutting_down.is_set() or stopping:
            return
        # Otherwise Celery drops the consumer's connection when it loses the broker, until it
        # reconnects.
        if getattr(consumer, "connection", None) is None:
            raise ConnectionError("Celery's consumer has no broker connection (reconnecting)")

    return connected


def install_heartbeat(app: Celery, path: str | Path, interval: float, broker_url: str) -> Heartbeat:
    """Make the worker of ``app`` touch ``path`` from when it is ready until it shuts down.

    A file left by an earlier worker is removed now, so the check fails until this one is ready.

    Args:
        app: The worker's app (signals of other apps in the process are ignored).
        path: The heartbeat file.
        interval: Seconds between two touches.
        broker_url: The broker to PING before each touch.
    """
    heartbeat = Heartbeat(path, interval, [broker_probe(broker_url)])
    heartbeat.remove()
    shutting_down = threading.Event()

    def on_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            heartbeat.probes = (_consumer_probe(sender, shutting_down), *heartbeat.probes)
            heartbeat.start()

    def on_shutting_down(**_: Any) -> None:
        # Sent by the main process' signal handler (its sender is a host name, not the app).
        shutting_down.set()

    def on_shutdown(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app:
            heartbeat.stop()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    return heartbeat
