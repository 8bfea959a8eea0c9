"""``dagcore worker``: a Celery worker that runs the families of the modules it is given.

``dagcore worker --module PKG.MOD [--module ...] [--queues a,b] [--concurrency N]`` imports the
modules (or ``[worker] modules``), registers one Celery task per family defined there, checks
the broker settings and starts Celery's worker: prefork pool, task events on, log level INFO
so that Celery's ``celery@HOST ready.`` line shows. Every other option goes to Celery's own
``worker`` command (``--loglevel``, ``--pool``, ``-n/--hostname``, ``--without-gossip``, ...).
Once ready, the worker touches its heartbeat file (``--heartbeat-file``, default
``[worker] heartbeat_file``) while it can reach the broker.

``dagcore worker --healthcheck [--heartbeat-file PATH] [--max-age SECONDS]`` checks that file
instead of starting a worker (see :mod:`celery_app.health`).

``celery -A celery_app worker`` works too: the app it finds is
:func:`celery_app.app.default_app`, built from the configuration with the families of
``[worker] modules``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from celery_app import shutdown
from celery_app.app import check_settings, worker_app
from celery_app.fingerprint import code_fingerprint
from celery_app.health import healthcheck_main, install_heartbeat
from celery_app.registry import DEFAULT_HANDLER
from dagcore.configuration.settings import Settings
from dagcore.errors import ConfigError, DagcoreError

__all__ = ["WorkerOptions", "main"]

_DEFAULT_LOGLEVEL = "INFO"
# Celery options that would lose the registration done here (re-exec) or that we set ourselves.
_REFUSED = {"-D", "--detach"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(
        prog="dagcore worker",
        description="Run a Celery worker for dagcore task families. Options not listed here "
        "are passed to Celery's worker (see `celery worker --help`).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--module",
        dest="modules",
        action="append",
        default=[],
        metavar="PKG.MOD",
        help="module defining task families (repeatable; default: [worker] modules)",
    )
    parser.add_argument(
        "-Q",
        "--queues",
        action="append",
        default=[],
        metavar="A,B",
        help="queues to consume (default: [worker] queues, else every configured queue)",
    )
    parser.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the queues' configured concurrency)",
    )
    parser.add_argument(
        "-l",
        "--loglevel",
        "--log-level",
        dest="loglevel",
        default=_DEFAULT_LOGLEVEL,
        help="DEBUG, INFO (default: shows the ready line), WARNING, ...",
    )
    parser.add_argument(
        "--handler",
        default=DEFAULT_HANDLER,
        metavar="MODULE:FUNCTION",
        help=f"what runs a message (default: {DEFAULT_HANDLER})",
    )
    parser.add_argument(
        "--heartbeat-file",
        metavar="PATH",
        help="file touched while the worker can reach the broker (default: [worker] "
        "heartbeat_file); `dagcore worker --healthcheck [--heartbeat-file PATH] "
        "[--max-age SECONDS]` checks it",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


@dataclass(frozen=True)
class WorkerOptions:
    """What ``dagcore worker`` was asked to do, with configuration defaults applied.

    Attributes:
        modules: Modules whose families the worker runs.
        queues: Queues it consumes, in the order it serves them.
        concurrency: Worker processes, or None for Celery's default.
        loglevel: Celery's log level.
        handler: ``MODULE:FUNCTION`` of the message handler.
        celery_args: Options passed through to Celery's ``worker`` command.
        heartbeat_file: The file the worker touches while healthy.
    """

    modules: tuple[str, ...]
    queues: tuple[str, ...]
    concurrency: int | None
    loglevel: str
    handler: str
    celery_args: tuple[str, ...]
    heartbeat_file: str = ""

    @classmethod
    def parse(cls, argv: Sequence[str], settings: Settings) -> WorkerOptions:
        """Parse ``argv`` and fill what it leaves out from ``settings``.

        Raises:
            ConfigError: no module is given, a queue is not configured, a bad option.
        """
        parsed, rest = _parser().parse_known_args(list(argv))
        refused = [arg for arg in rest if arg.split("=", 1)[0] in _REFUSED]
        if refused:
            raise ConfigError(
                "dagcore worker: --detach is not supported (the detached process would not "
                "register the families); run the worker under a process supervisor instead"
            )
        modules = tuple(_split(parsed.modules)) or settings.worker.modules
        if not modules:
            raise ConfigError(
                "dagcore worker: no module to run families from; pass --module PKG.MOD or set "
                "[worker] modules in the configuration"
            )
        queues = _queues(_split(parsed.queues), settings)
        if parsed.concurrency is not None and parsed.concurrency < 1:
            raise ConfigError("dagcore worker: --concurrency must be at least 1")
        return cls(
            modules=modules,
            queues=queues,
            concurrency=parsed.concurrency or _configured_concurrency(queues, settings),
            loglevel=parsed.loglevel,
            handler=parsed.handler,
            celery_args=tuple(rest),
            heartbeat_file=parsed.heartbeat_file or settings.worker.heartbeat_file,
        )

    def celery_argv(self, task_events: bool) -> list[str]:
        """The arguments of Celery's ``worker`` command."""
        argv = ["worker", "--queues", ",".join(self.queues), "--loglevel", self.loglevel]
        if self.concurrency is not None:
            argv += ["--concurrency", str(self.concurrency)]
        if task_events:
            argv.append("--task-events")
        # Celery's pool default is prefork already; it is named so a config cannot change it.
        if not any(arg.split("=", 1)[0] in ("-P", "--pool") for arg in self.celery_args):
            argv += ["--pool", "prefork"]
        return argv + list(self.celery_args)


def _split(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _queues(requested: Sequence[str], settings: Settings) -> tuple[str, ...]:
    configured = [queue.name for queue in settings.queues]
    chosen = list(dict.fromkeys(requested)) or list(settings.worker.queues) or configured
    unknown = [name for name in chosen if name not in configured]
    if unknown:
        raise ConfigError(
            f"dagcore worker: no queue named {', '.join(unknown)}; configured queues: "
            f"{', '.join(configured)}. Add a [queues.NAME] table to the configuration."
        )
    return tuple(chosen)


def _configured_concurrency(queues: Sequence[str], settings: Settings) -> int | None:
    sizes = [queue.concurrency for queue in settings.queues if queue.name in queues]
    return max(sizes) if sizes else None


# -- the command -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dagcore worker``; returns the worker's exit code.

    With ``--healthcheck``, checks the heartbeat file instead (0 fresh, 1 not).

    Raises:
        DagcoreError: bad options or configuration, a module or the handler cannot be
            imported, a countdown or timeout reaches the visibility timeout.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--healthcheck" in args:
        return healthcheck_main(args)
    if "-h" in args or "--help" in args:
        _parser().print_help()
        return 0
    settings = Settings.from_config()
    options = WorkerOptions.parse(args, settings)
    app = worker_app(settings, options.modules, options.handler)
    # Printed, not logged: Celery has not set up logging yet, so they would appear bare.
    for warning in check_settings(app, settings, log_warnings=False):
        print(f"dagcore worker: warning: {warning}", file=sys.stderr, flush=True)
    families = sorted(name for name in app.tasks if not name.startswith("celery."))
    print(
        f"dagcore worker: modules {', '.join(options.modules)} "
        f"(fingerprint {code_fingerprint(options.modules)}); queues {', '.join(options.queues)}; "
        f"{len(families)} families: {', '.join(families) or 'none'}",
        flush=True,
    )
    install_heartbeat(
        app, options.heartbeat_file, settings.worker.heartbeat_interval, settings.celery.broker_url
    )
    shutdown.install(app, settings.worker.shutdown_timeout)
    try:
        code = app.start(options.celery_argv(settings.celery.task_events))
    finally:
        shutdown.finish()
    return int(code or 0)


def _console(argv: Sequence[str]) -> int:
    try:
        return main(argv)
    except DagcoreError as exc:
        if "--debug" in argv:
            raise
        print(f"dagcore worker: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_console(sys.argv[1:]))
