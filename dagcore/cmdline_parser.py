"""Task parameters from a command line, as Luigi reads them.

``Family --date 2024-01-01 --Other-param v``: flags named after the root family's parameters
(``--date``) build the root task; ``--Family-param`` flags give a parameter of any registered
family, and a config class with ``use_cmdline_section = False`` takes its parameters as plain
``--param`` flags. While a command line is in effect (:meth:`CmdlineParser.global_instance`, or
the run that :func:`parse_task` starts), those values are what tasks get when an argument is not
passed explicitly, so they reach tasks built deep inside ``requires()``; an explicit argument
wins over them, and they win over the configuration.

The flags are those of an :mod:`argparse` parser built from the task registry, as in Luigi, so
an unknown flag, a missing value or a stray word is an error. :class:`CmdlineParser` reports it
as argparse does (usage on stderr, ``SystemExit(2)``); :func:`parse_task`, for dagcore's own
``dagcore run``, raises :class:`CommandLineError` with the family's parameters in the message.
As in Luigi, a flag may be abbreviated while it stays unambiguous (``--Family-l`` for
``--Family-l-param``); an exact flag always wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, NoReturn

from dagcore.errors import (
    ModuleImportError,
    ParameterException,
    ParameterValueError,
    TaskClassException,
    TaskClassNotFoundException,
)
from dagcore.parameter.base import Parameter, set_cmdline_lookup
from dagcore.task import Task
from dagcore.task_register import Register

__all__ = [
    "CmdlineParser",
    "CommandLineError",
    "family_help",
    "import_family",
    "luigi_command_line",
    "parse_task",
]


class CommandLineError(ParameterException):
    """The command line itself is wrong: an unknown flag, a flag without its value, a stray word.

    ``luigi.run()`` turns it into Luigi's ``SystemExit(2)`` (see :func:`luigi_command_line`).
    """


def import_family_modules(modules: Sequence[str]) -> None:
    """Import the modules given with ``--module``."""
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise ModuleImportError(
                f"cannot import --module {module}: {exc}; check the spelling and that it is "
                "importable from here (PYTHONPATH, an installed package)"
            ) from exc


def import_family(family: str, modules: Sequence[str]) -> type[Task]:
    """Import ``modules`` and return the class of ``family``.

    A dotted family such as ``examples.etl.Transform`` also imports ``examples.etl``.
    """
    import_family_modules(modules)
    try:
        return Register.get_task_cls(family)
    except TaskClassNotFoundException:
        if "." not in family:
            raise
    module = family.rsplit(".", 1)[0]
    try:
        __import__(module)
    except ImportError:
        pass
    return Register.get_task_cls(family)


# Luigi's [core] flags, accepted on any command line (name -> takes a value). Luigi declares them
# as parameters of its ``core`` config class; they are added here unless a registered class
# already provides the flag.
_CORE_FLAGS = {
    "module": True,
    "workers": True,
    "scheduler-host": True,
    "scheduler-port": True,
    "scheduler-url": True,
    "lock-pid-dir": True,
    "lock-size": True,
    "log-level": True,
    "logging-conf-file": True,
    "parallel-scheduling-processes": True,
    "assistant": False,
    "help": False,
    "help-all": False,
    "local-scheduler": False,
    "no-lock": False,
    "take-lock": False,
    "parallel-scheduling": False,
    "no-configure-logging": False,
}


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises :class:`CommandLineError` instead of printing usage and exiting."""

    family = ""

    def error(self, message: str) -> NoReturn:
        prefix = f"{self.family}: " if self.family else ""
        raise CommandLineError(prefix + message)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _build_parser(
    root_task: str | None = None, help_all: bool = False, *, raising: bool = False
) -> argparse.ArgumentParser:
    """An argparse parser with a flag for every parameter of every registered family."""
    parser_cls = _RaisingParser if raising else argparse.ArgumentParser
    parser = parser_cls(add_help=False)
    if isinstance(parser, _RaisingParser):
        parser.family = root_task or ""
    parser.add_argument(
        "root_task",
        nargs="?",
        help="Task family to run. Is not optional.",
        metavar="Required root task",
    )
    seen: set[str] = set()

    def add(flag: str, help_text: str | None, kwargs: dict[str, Any]) -> None:
        # First come, first served: the root's own flags win over a sectionless config's.
        if flag not in seen:
            seen.add(flag)
            parser.add_argument(flag, help=help_text, **kwargs)

    params = Register.get_all_params()
    for family, _, name, param in params:
        if family == root_task:
            add(_flag(name), param.description, param._parser_kwargs(name))
    for family, without_section, name, param in params:
        shown = family == root_task or help_all or param.always_in_help
        help_text = param.description if shown else argparse.SUPPRESS
        add(
            _flag(name if without_section else f"{family}_{name}"),
            help_text,
            param._parser_kwargs(name, family),
        )
    for name, takes_value in _CORE_FLAGS.items():
        dest = "core_" + name.replace("-", "_")
        action = "store" if takes_value else "store_true"
        add("--" + name, argparse.SUPPRESS, {"dest": dest, "action": action})
    return parser


def _parse(family: str, name: str, param: Parameter[Any], raw: Any) -> Any:
    try:
        return param.parse(raw)
    except TaskClassException:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ParameterValueError(
            f"{family}: cannot parse {raw!r} for parameter '{name}' ({type(param).__name__}): {exc}"
        ) from exc


class CmdlineParser:
    """A parsed Luigi command line, and the context tasks are built in.

    ``CmdlineParser(["Family", "--param", "v"])`` parses as Luigi does (``--module`` is imported
    first, ``--help`` prints the flags and exits); ``known_args`` holds the argparse namespace.
    While an instance is the global one (:meth:`global_instance`), the values it gives any
    family's parameters are what that family's tasks get by default.
    """

    _instance: ClassVar[CmdlineParser | None] = None

    known_args: argparse.Namespace
    _task_cls: type[Task] | None = None

    @classmethod
    def get_instance(cls) -> CmdlineParser | None:
        """The command line in effect, or None."""
        return cls._instance

    @classmethod
    @contextmanager
    def global_instance(
        cls, cmdline_args: Sequence[str], allow_override: bool = False
    ) -> Iterator[CmdlineParser]:
        """Parse ``cmdline_args`` and make them the command line in effect inside the block.

        Raises:
            AssertionError: one is already in effect and ``allow_override`` is False (Luigi's).
        """
        original = cls._instance
        if original is not None and not allow_override:
            raise AssertionError("a command line is already in effect (allow_override=False)")
        new = CmdlineParser(cmdline_args)
        cls._instance = new
        try:
            yield new
        finally:
            cls._instance = original

    def __init__(self, cmdline_args: Sequence[str]) -> None:
        args = list(cmdline_args)
        known, _ = _build_parser().parse_known_args(args)
        if known.core_module:
            import_family_modules([known.core_module])
            known, _ = _build_parser().parse_known_args(args)
        root_task: str | None = known.root_task
        parser = _build_parser(root_task, help_all=bool(known.core_help_all))
        if known.core_help or known.core_help_all:
            parser.print_help()
            sys.exit()
        if not root_task:
            raise SystemExit("No task specified")
        Register.get_task_cls(root_task)
        self.known_args = parser.parse_args(args)

    @classmethod
    def _for_task(cls, task_cls: type[Task], tokens: Sequence[str]) -> CmdlineParser:
        family = task_cls.get_task_family()
        known, extras = _build_parser(family, raising=True).parse_known_args([family, *tokens])
        if extras:
            raise CommandLineError(_extras_message(task_cls, extras))
        new = cls.__new__(cls)
        new.known_args = known
        new._task_cls = task_cls
        return new

    def value_for(self, family: str, param_name: str) -> Any:
        """What this command line gives ``family``'s ``param_name`` (None or False if nothing)."""
        return getattr(self.known_args, Parameter._parser_global_dest(param_name, family), None)

    def get_task_obj(self) -> Task:
        """The root task, built from the command line."""
        return self._get_task_cls()(**self._get_task_kwargs())

    def _get_task_cls(self) -> type[Task]:
        if self._task_cls is not None:
            return self._task_cls
        return Register.get_task_cls(self.known_args.root_task)

    def _get_task_kwargs(self) -> dict[str, Any]:
        task_cls = self._get_task_cls()
        family = task_cls.get_task_family()
        kwargs: dict[str, Any] = {}
        for name, param in task_cls.get_params():
            raw = getattr(self.known_args, name, None)
            if raw:
                kwargs[name] = _parse(family, name, param, raw)
        return kwargs


def _extras_message(task_cls: type[Task], extras: Sequence[str]) -> str:
    family = task_cls.get_task_family()
    first = extras[0]
    if not first.startswith("-"):
        return (
            f"{family}: unexpected argument {first!r}; give parameters as --name value "
            "(a flag of a BoolParameter takes no value)"
        )
    known = ", ".join(_flag(name) for name, _ in task_cls.get_params()) or "none"
    return (
        f"{family}: unknown parameter {first.split('=')[0]} (its parameters: {known}; "
        "other families' parameters are set with --Family-param)"
    )


def parse_task(task_cls: type[Task], tokens: Sequence[str]) -> Task:
    """Build the root task from ``--param value`` tokens and put the command line in effect.

    The values of other families' parameters (``--Family-param``) apply from now on, for the
    run that follows, until the next command line or the end of :func:`luigi_command_line`.

    Raises:
        CommandLineError: an unknown flag, a flag without its value, or a stray word.
        ParameterValueError: a value its parameter cannot parse (family and parameter named).
    """
    parser = CmdlineParser._for_task(task_cls, tokens)
    # Check every value now, not deep inside requires().
    for family, _, name, param in Register.get_all_params():
        raw = parser.value_for(family, name)
        if raw:
            _parse(family, name, param, raw)
    CmdlineParser._instance = parser
    return parser.get_task_obj()


@contextmanager
def luigi_command_line() -> Iterator[None]:
    """Run a command line the way ``luigi.run()`` does, around :func:`parse_task` and the run.

    The command line in effect before is back afterwards, and a :class:`CommandLineError` is
    reported as argparse reports it: the message on stderr and ``SystemExit(2)``.
    """
    original = CmdlineParser._instance
    try:
        yield
    except CommandLineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        CmdlineParser._instance = original


def family_help(task_cls: type[Task]) -> str:
    """The parameters of a family, one per line, for ``--help``."""
    lines = [f"Parameters of {task_cls.get_task_family()}:"]
    for name, param in task_cls.get_params():
        default = "" if not param.has_default else f" (default: {param.default!r})"
        description = f"  {param.description}" if param.description else ""
        lines.append(f"  {_flag(name)} <{type(param).__name__}>{default}{description}")
    if len(lines) == 1:
        lines.append("  (none)")
    return "\n".join(lines)


def _cmdline_value(task_name: str, param_name: str) -> Any:
    parser = CmdlineParser.get_instance()
    return None if parser is None else parser.value_for(task_name, param_name)


set_cmdline_lookup(_cmdline_value)
