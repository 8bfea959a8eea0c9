"""The ``dagcore`` command: ``run``, ``graph``, ``history``, ``lineage``, plus plug-in commands.

Errors print as one line and a hint; ``--debug`` shows the traceback. Commands that need Celery
(``worker``, ``flower``, ``status``, ``cancel``, ...) come from the ``dagcore.commands`` entry
point group, so the core never imports the Celery integration.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NoReturn

from dagcore.cmdline_parser import family_help, import_family, luigi_command_line, parse_task
from dagcore.configuration.settings import Settings
from dagcore.errors import DagcoreError, ParameterException
from dagcore.graph_format import render_plan
from dagcore.history import report
from dagcore.history.store import SqlHistoryStore
from dagcore.interface import RunOptions, execute_tasks, plan_tasks, succeeded
from dagcore.logging_setup import setup_logging
from dagcore.summary import Summary
from dagcore.task import Task

__all__ = ["main", "run", "run_command"]

PLUGIN_GROUP = "dagcore.commands"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so errors get dagcore's one-line format.

    Abbreviations are off: ``--n`` must reach the task's ``n`` parameter, not ``--no-lock``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise ParameterException(f"{self.prog}: {message}")


def _task_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("family", nargs="?", help="task family, e.g. Transform")
    parser.add_argument(
        "--module", action="append", default=[], help="module(s) defining the tasks"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ...")
    parser.add_argument("--log-format", choices=("text", "json"), default=None)
    parser.add_argument("--logging-conf-file", default=None, help="logging.config INI file")


def _run_parser() -> _Parser:
    parser = _Parser(
        prog="dagcore run",
        description="Run a task and everything it requires. Task parameters: --name value; "
        "parameters of other families: --Family-name value.",
        add_help=False,
    )
    _task_arguments(parser)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="tasks run at once")
    parser.add_argument("--executor", default=None, help="local (default) or celery")
    parser.add_argument(
        "--resources",
        action="append",
        default=[],
        help="resource capacities, name=N[,name=N]",
    )
    parser.add_argument("--local-scheduler", action="store_true", help="accepted for Luigi")
    parser.add_argument("--no-lock", action="store_true", help="accepted for Luigi")
    parser.add_argument("--detach", action="store_true", help="celery: submit and return")
    parser.add_argument("--no-history", action="store_true", help="do not record the run")
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        default=None,
        help="run nothing if a task is broken, an external input is missing or there is a "
        "cycle (default: run everything else, as Luigi; also [core] fail_fast)",
    )
    return parser


def _graph_parser() -> _Parser:
    parser = _Parser(
        prog="dagcore graph",
        description="Resolve a task's graph and print it without running anything.",
        add_help=False,
    )
    _task_arguments(parser)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--format", choices=("text", "dot", "mermaid", "json"), default="text")
    parser.add_argument(
        "--check", action="store_true", help="exit non-zero on cycles, broken or missing tasks"
    )
    return parser


def _parse_resources(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            name, sep, amount = item.partition("=")
            if not sep or not name.strip() or not amount.strip().isdigit():
                raise ParameterException(
                    f"--resources expects name=N (a whole number), got {item!r}"
                )
            out[name.strip()] = int(amount)
    return out


def _configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    setup_logging(
        level=args.log_level or settings.core.log_level,
        fmt=args.log_format or settings.core.log_format,
        conf_file=args.logging_conf_file,
    )


def _root_task(
    parser: argparse.ArgumentParser, args: argparse.Namespace, rest: list[str]
) -> Task | None:
    if args.family is None:
        parser.print_help()
        return None
    _current_directory_importable()
    task_cls = import_family(args.family, args.module)
    if args.help:
        parser.print_help()
        print()
        print(family_help(task_cls))
        return None
    return parse_task(task_cls, rest)


def _current_directory_importable() -> None:
    """``--module pkg.mod`` finds ``pkg`` in the current directory, as ``celery -A`` does."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def run_command(argv: Sequence[str]) -> Summary | None:
    """``dagcore run`` without the process exit; returns None when only help was printed."""
    parser = _run_parser()
    args, rest = parser.parse_known_args(list(argv))
    settings = Settings.from_config()
    _configure_logging(args, settings)
    task = _root_task(parser, args, rest)
    if task is None:
        return None
    options = RunOptions(
        workers=args.workers,
        executor=args.executor,
        resources=_parse_resources(args.resources),
        history=not args.no_history,
        progress=sys.stderr.isatty(),
        command="dagcore run " + " ".join(argv),
        extra={"detach": True} if args.detach else {},
        fail_fast=args.fail_fast,
    )
    summary = execute_tasks([task], options)
    print(summary.summary_text)
    return summary


def _cmd_run(argv: Sequence[str]) -> int:
    summary = run_command(argv)
    return 0 if summary is None else summary.exit_code


def _cmd_graph(argv: Sequence[str]) -> int:
    parser = _graph_parser()
    args, rest = parser.parse_known_args(list(argv))
    settings = Settings.from_config()
    _configure_logging(args, settings)
    task = _root_task(parser, args, rest)
    if task is None:
        return 0
    plan = plan_tasks([task], settings)
    print(render_plan(plan, args.format))
    problems = plan.problems()
    for line in problems:
        print(f"dagcore graph: {line}", file=sys.stderr)
    return 1 if args.check and problems else 0


def _store(url: str | None) -> SqlHistoryStore:
    return SqlHistoryStore.from_url(url or Settings.from_config().history.url)


def _cmd_history(argv: Sequence[str]) -> int:
    parser = _Parser(prog="dagcore history", description="List recorded runs, or one run.")
    parser.add_argument("--run", default=None, help="a run id (or a unique prefix)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--url", default=None, help="history database URL")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(list(argv))
    store = _store(args.url)
    try:
        if args.run is None:
            runs = store.list_runs(args.limit)
            print(report.runs_to_json(runs) if args.json else report.format_runs(runs))
            return 0
        run = store.get_run(args.run)
        if run is None:
            raise DagcoreError(
                f"no run {args.run!r} in {store.url}; `dagcore history` lists recent runs"
            )
        render = report.run_to_json if args.json else report.format_run
        print(render(run, store.tasks(run.run_id), store.attempts(run.run_id)))
        return 0
    finally:
        store.close()


def _cmd_lineage(argv: Sequence[str]) -> int:
    parser = _Parser(
        prog="dagcore lineage",
        description="Which task and run produced a target, and from which inputs.",
    )
    parser.add_argument("uri", help="a target URI or path, e.g. file:///data/out.csv")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--url", default=None, help="history database URL")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(list(argv))
    store = _store(args.url)
    try:
        lineage = store.lineage(_as_uri(args.uri))
        print(report.lineage_to_json(lineage) if args.json else report.format_lineage(lineage))
        return 0
    finally:
        store.close()


def _as_uri(text: str) -> str:
    """A plain local path means the file:// URI LocalTarget records; URIs pass through."""
    if "://" in text:
        return text
    return Path(text).resolve().as_uri()


_BUILTIN: dict[str, Callable[[Sequence[str]], int]] = {
    "run": _cmd_run,
    "graph": _cmd_graph,
    "history": _cmd_history,
    "lineage": _cmd_lineage,
}


def _plugins() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}


def _usage() -> str:
    names = sorted({*_BUILTIN, *_plugins()})
    return (
        "usage: dagcore COMMAND [options]\n\ncommands: " + ", ".join(names) + "\n"
        "`dagcore COMMAND --help` describes one. Quick start: "
        "dagcore run --module examples.etl Load --date 2024-01-01"
    )


def dispatch(argv: Sequence[str]) -> int:
    """Run one command; returns the exit code."""
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    command = _BUILTIN.get(name)
    if command is not None:
        return command(rest)
    plugin = _plugins().get(name)
    if plugin is not None:
        return int(plugin.load()(list(rest)))
    if name in ("worker", "flower", "status", "cancel", "gc"):
        raise DagcoreError(
            f"`dagcore {name}` comes with the Celery integration; install dagcore[celery]"
        )
    raise DagcoreError(f"unknown command {name!r}. {_usage()}")


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: one-line errors, tracebacks only with ``--debug``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        args = _luigi_alias_switch(args)
        return dispatch(args)
    except KeyboardInterrupt:
        print("dagcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`dagcore history --json | head`): stop quietly, as `cat` does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (DagcoreError, ImportError, OSError) as exc:
        if debug:
            raise
        print(f"dagcore: error: {exc}", file=sys.stderr)
        print(_hint(exc), file=sys.stderr)
        return 2


def _luigi_alias_switch(args: list[str]) -> list[str]:
    """``--luigi-alias`` (anywhere), ``DAGCORE_LUIGI_ALIAS=1`` or ``[core] luigi_alias = true``
    make ``import luigi`` in the modules this command loads resolve to dagcore."""
    from dagcore import luigi_alias

    if "--luigi-alias" in args:
        luigi_alias.install()
    else:
        luigi_alias.install_if_configured()
    return [a for a in args if a != "--luigi-alias"]


def _hint(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return "hint: check --module and that the package is importable (PYTHONPATH)"
    return "hint: add --debug for the traceback; `dagcore COMMAND --help` lists the options"


def run(
    cmdline_args: Sequence[str] | None = None,
    main_task_cls: type[Task] | None = None,
    worker_scheduler_factory: Any = None,
    use_dynamic_argparse: Any = None,
    local_scheduler: bool = False,
    detailed_summary: bool = False,
) -> Any:
    """Run from command-line arguments, like ``luigi.run``: ``['Family', '--param', 'v']``.

    Returns Luigi's boolean (True unless scheduling failed or a task failed), or the Summary
    with ``detailed_summary``. The summary is printed once.

    Reading the process's own command line (``cmdline_args`` None, the ``dagcore.run()`` at the
    end of a pipeline script), a usage error (unknown family or parameter, a module that does
    not import, a bad configuration) is reported as ``dagcore run`` reports it: one line and a
    hint on standard error, then exit status 2; Ctrl-C exits with 130; ``--debug`` shows the
    traceback instead. Given an explicit list, the call is a library call, as Luigi's: such an
    error is raised (``TaskClassNotFoundException``, ``MissingParameterException``, ...).
    Without a task family, it exits with status 2 either way, as Luigi's argparse does.

    Raises:
        TypeError: ``cmdline_args`` is neither a list nor a tuple (nor None).
    """
    del worker_scheduler_factory, use_dynamic_argparse, local_scheduler
    if cmdline_args is not None and not isinstance(cmdline_args, list | tuple):
        raise TypeError(
            f"cmdline_args must be a list or tuple of strings, not {type(cmdline_args).__name__}"
        )
    args = list(sys.argv[1:] if cmdline_args is None else cmdline_args)
    if main_task_cls is not None:
        args = [main_task_cls.get_task_family(), *args]
    as_command = cmdline_args is None and "--debug" not in args
    try:
        # A library call, as luigi.run: the command line is in effect for this run only, and a
        # malformed one exits 2 as argparse does. A script's own command line: as dagcore run.
        with nullcontext() if as_command else luigi_command_line():
            summary = run_command(args)
    except KeyboardInterrupt:
        if not as_command:
            raise
        print("dagcore: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except (DagcoreError, ImportError, OSError) as exc:
        if not as_command:
            raise
        print(f"dagcore: error: {exc}", file=sys.stderr)
        print(_hint(exc), file=sys.stderr)
        raise SystemExit(2) from None
    if summary is None:
        if not {"-h", "--help"} & set(args):
            print(
                "dagcore: error: no task family given; name one, e.g. Family --param value",
                file=sys.stderr,
            )
            raise SystemExit(2)
        return detailed_summary and None
    return summary if detailed_summary else succeeded(summary)
