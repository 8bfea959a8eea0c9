"""Task parameters from a command line, Luigi style.

``Family --date 2024-01-01 --Other-param v``: flags named after the root family's parameters set
its arguments; ``--Family-param`` flags set a parameter of any registered family, as if it were
in that family's config section (so it reaches tasks built deep inside ``requires()``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dagcore.configuration import get_config
from dagcore.errors import ModuleImportError, ParameterException, TaskClassNotFoundException
from dagcore.parameter.base import Parameter, set_cmdline_lookup
from dagcore.task import Task
from dagcore.task_register import Register

__all__ = ["CmdlineParser", "family_help", "import_family", "parse_task"]

_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "1", "0", "on", "off"})


def import_family(family: str, modules: Sequence[str]) -> type[Task]:
    """Import ``modules`` and return the class of ``family``.

    A dotted family such as ``examples.etl.Transform`` also imports ``examples.etl``.
    """
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise ModuleImportError(
                f"cannot import --module {module}: {exc}; check the spelling and that it is "
                "importable from here (PYTHONPATH, an installed package)"
            ) from exc
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


def _is_implicit_flag(param: Parameter[Any]) -> bool:
    return getattr(param, "parsing", None) == "implicit"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Tokens:
    def __init__(self, tokens: Sequence[str]) -> None:
        self.items = list(tokens)
        self.pos = 0

    def next(self) -> str | None:
        if self.pos >= len(self.items):
            return None
        self.pos += 1
        return self.items[self.pos - 1]

    def peek(self) -> str | None:
        return self.items[self.pos] if self.pos < len(self.items) else None


def _value(tokens: _Tokens, flag: str, inline: str | None, param: Parameter[Any]) -> str:
    if inline is not None:
        return inline
    if _is_implicit_flag(param):
        upcoming = tokens.peek()
        if upcoming is not None and upcoming.lower() in _BOOL_WORDS:
            return tokens.next() or ""
        return "true"
    value = tokens.next()
    if value is None:
        raise ParameterException(f"{flag} needs a value")
    return value


def _find_family_param(name: str) -> tuple[str, str, Parameter[Any]] | None:
    """Split ``Family-param`` (the family may contain dots and dashes) into its parts."""
    for family in sorted(Register.task_names(), key=len, reverse=True):
        prefix = family + "-"
        if name.startswith(prefix):
            param_name = name[len(prefix) :].replace("-", "_")
            params = dict(Register.get_task_cls(family).get_params())
            if param_name in params:
                return family, param_name, params[param_name]
    return None


def parse_task(task_cls: type[Task], tokens: Sequence[str]) -> Task:
    """Build the root task from ``--param value`` tokens; ``--Family-param`` go to config.

    Raises:
        ParameterException: an unknown flag or a value that does not parse; the message names
            the family and the parameter and lists what is accepted.
    """
    family = task_cls.get_task_family()
    own = {_flag(name)[2:]: (name, param) for name, param in task_cls.get_params()}
    kwargs: dict[str, Any] = {}
    stream = _Tokens(tokens)
    while (token := stream.next()) is not None:
        if not token.startswith("--"):
            raise ParameterException(
                f"{family}: unexpected argument {token!r}; give parameters as --name value"
            )
        name, _, inline = token[2:].partition("=")
        inline_value = inline if "=" in token else None
        if name in own:
            param_name, param = own[name]
            raw = _value(stream, token, inline_value, param)
            kwargs[param_name] = _parse(family, param_name, param, raw)
            continue
        found = _find_family_param(name)
        if found is None:
            known = ", ".join("--" + n for n in sorted(own)) or "none"
            raise ParameterException(
                f"{family}: unknown parameter {token.split('=')[0]} (its parameters: {known}; "
                "other families' parameters are set with --Family-param)"
            )
        other_family, param_name, param = found
        raw = _value(stream, token, inline_value, param)
        _parse(other_family, param_name, param, raw)  # fail now, not deep inside requires()
        get_config().set(other_family, param_name, raw)
    return task_cls(**kwargs)


def _parse(family: str, name: str, param: Parameter[Any], raw: str) -> Any:
    try:
        return param.parse(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise ParameterException(
            f"{family}: cannot parse {raw!r} for parameter '{name}' ({type(param).__name__}): {exc}"
        ) from exc


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


# Luigi's [core] flags a command line may carry besides the task's own: name -> takes a value.
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


class CmdlineParser:
    """A parsed Luigi command line, and the context tasks are built in.

    While an instance is the global one (:meth:`global_instance`), a parameter of any family
    given on that command line (``--Family-param value``, or ``--param value`` of the root
    family) is the value that family's tasks get when the argument is not passed explicitly,
    as in Luigi.
    """

    _instance: CmdlineParser | None = None

    @classmethod
    def get_instance(cls) -> CmdlineParser | None:
        return cls._instance

    @classmethod
    @contextmanager
    def global_instance(
        cls, cmdline_args: Sequence[str], allow_override: bool = False
    ) -> Iterator[CmdlineParser]:
        original = cls._instance
        if original is not None and not allow_override:
            raise RuntimeError("a command line is already being parsed (allow_override=False)")
        new = CmdlineParser(cmdline_args)
        cls._instance = new
        try:
            yield new
        finally:
            cls._instance = original

    def __init__(self, cmdline_args: Sequence[str]) -> None:
        self.core: dict[str, str | bool] = {}
        self.values: dict[tuple[str, str], str] = {}
        stream = _Tokens(cmdline_args)
        root: str | None = None
        rest: list[str] = []
        while (token := stream.next()) is not None:
            name, eq, inline = token[2:].partition("=") if token.startswith("--") else ("", "", "")
            if name in _CORE_FLAGS:
                if _CORE_FLAGS[name]:
                    value = inline if eq else stream.next()
                    if value is None:
                        raise ParameterException(f"--{name} needs a value")
                    self.core[name] = value
                    if name == "module":
                        import_family_modules([value])
                else:
                    self.core[name] = True
            elif root is None and not token.startswith("-"):
                root = token
            else:
                rest.append(token)
        if root is None:
            raise SystemExit("No task specified")
        self.root_task = root
        self.task_cls = import_family(root, [])
        self._read_values(rest)

    def _read_values(self, tokens: Sequence[str]) -> None:
        family = self.task_cls.get_task_family()
        own = {_flag(name)[2:]: (name, param) for name, param in self.task_cls.get_params()}
        stream = _Tokens(tokens)
        while (token := stream.next()) is not None:
            if not token.startswith("--"):
                raise ParameterException(
                    f"{family}: unexpected argument {token!r}; give parameters as --name value"
                )
            name, eq, inline = token[2:].partition("=")
            inline_value = inline if eq else None
            if name in own:
                param_name, param = own[name]
                raw = _value(stream, token, inline_value, param)
                _parse(family, param_name, param, raw)
                self.values[(family, param_name)] = raw
                continue
            found = _find_family_param(name)
            if found is None:
                known = ", ".join("--" + n for n in sorted(own)) or "none"
                raise ParameterException(
                    f"{family}: unknown parameter {token.split('=')[0]} (its parameters: "
                    f"{known}; other families' parameters are set with --Family-param)"
                )
            other_family, param_name, param = found
            raw = _value(stream, token, inline_value, param)
            _parse(other_family, param_name, param, raw)
            self.values.setdefault((other_family, param_name), raw)

    def value_for(self, family: str, param_name: str) -> str | None:
        """The raw string this command line gives ``family``'s ``param_name``, if any."""
        return self.values.get((family, param_name))

    def get_task_obj(self) -> Task:
        """The root task, built from the command line."""
        return self.task_cls(**self._get_task_kwargs())

    def _get_task_kwargs(self) -> dict[str, Any]:
        family = self.task_cls.get_task_family()
        kwargs: dict[str, Any] = {}
        for name, param in self.task_cls.get_params():
            raw = self.values.get((family, name))
            if raw is not None:
                kwargs[name] = param.parse(raw)
        return kwargs


def import_family_modules(modules: Sequence[str]) -> None:
    for module in modules:
        try:
            __import__(module)
        except ImportError as exc:
            raise ModuleImportError(f"cannot import --module {module}: {exc}") from exc


def _cmdline_value(task_name: str, param_name: str) -> str | None:
    parser = CmdlineParser.get_instance()
    return None if parser is None else parser.value_for(task_name, param_name)


set_cmdline_lookup(_cmdline_value)
