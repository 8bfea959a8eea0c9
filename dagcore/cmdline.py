"""Luigi's console entry points (``luigi.cmdline``) on dagcore.

``luigi_run`` is Luigi's ``luigi`` command: ``luigi --module my.tasks Family --param v
[--local-scheduler]`` runs the task as ``dagcore run`` does, prints the summary, and exits with
the ``[retcode]`` code of the outcome; an error before or while running is logged with its
traceback and exits with ``[retcode] unhandled_exception``, as Luigi does.

``luigid`` is Luigi's central scheduler daemon. dagcore schedules in the submitting process (or
on Celery) and has no such server: the options are parsed and logging is set up as Luigi does,
then :func:`dagcore.server.run` says what to use instead.

``luigi_deps`` and ``luigi_deps_tree`` are ``luigi-deps`` and ``luigi-deps-tree``
(:mod:`dagcore.tools.deps`, :mod:`dagcore.tools.deps_tree`); dagcore installs them as
``dagcore-deps`` and ``dagcore-deps-tree``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from dagcore.setup_logging import DaemonLogging, InterfaceLogging

__all__ = ["luigi_deps", "luigi_deps_tree", "luigi_run", "luigid"]

logger = logging.getLogger("dagcore")


def _argv(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def _unhandled_exception_code() -> int:
    from dagcore.configuration.settings import RetcodeSettings

    try:
        return RetcodeSettings.from_config().unhandled_exception
    except Exception:  # the configuration itself may be what is broken
        return RetcodeSettings().unhandled_exception


def luigi_run(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the task a Luigi command line names and exit with the outcome's return code."""
    from dagcore.cli import run_command
    from dagcore.cmdline_parser import CmdlineParser

    outer = CmdlineParser.get_instance()
    try:
        summary = run_command(_argv(argv))
    except SystemExit:
        raise
    except Exception:
        InterfaceLogging.setup()  # errors may come before logging was set up
        logger.exception("Uncaught exception in luigi")
        sys.exit(_unhandled_exception_code())
    finally:
        # The command line is in effect for this run only, as in Luigi's run_with_retcodes.
        CmdlineParser._instance = outer
    sys.exit(0 if summary is None else summary.exit_code)


def _luigid_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Central luigi server")
    parser.add_argument("--background", help="Run in background mode", action="store_true")
    parser.add_argument("--pidfile", help="Write pidfile")
    parser.add_argument("--logdir", help="log directory")
    parser.add_argument("--state-path", help="Pickled state file")
    parser.add_argument("--address", help="Listening interface")
    parser.add_argument("--unix-socket", help="Unix socket path")
    parser.add_argument("--port", default=8082, help="Listening port")
    return parser


def luigid(argv: Sequence[str] | None = None) -> None:
    """Luigi's ``luigid``: options and logging as Luigi's, then :func:`dagcore.server.run`."""
    from dagcore import server
    from dagcore.configuration import get_config

    opts = _luigid_parser().parse_args(_argv(argv))
    if opts.state_path:
        get_config().set("scheduler", "state_path", opts.state_path)
    DaemonLogging.setup(opts)
    server.run(api_port=opts.port, address=opts.address, unix_socket=opts.unix_socket)


def _current_directory_importable() -> None:
    """``--module`` finds modules in the current directory, as ``dagcore run`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def luigi_deps(argv: Sequence[str] | None = None) -> int:
    """``luigi-deps``: the tasks between a task and an ``--upstream-family``, with outputs."""
    from dagcore.tools import deps

    _current_directory_importable()
    return deps.main(argv)


def luigi_deps_tree(argv: Sequence[str] | None = None) -> int:
    """``luigi-deps-tree``: a task's dependency tree with each task's state."""
    from dagcore.tools import deps_tree

    _current_directory_importable()
    return deps_tree.main(argv)
