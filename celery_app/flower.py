"""``dagcore flower``: Flower, Celery's web monitor, on dagcore's broker and behind a login.

``dagcore flower [--address ADDR] [--port N] [FLOWER OPTION ...]`` starts Flower for the Celery
app of :func:`celery_app.app.make_app`, so it watches the broker of ``[celery] broker_url`` (or
``DAGCORE_BROKER_URL``). Workers register every family as a Celery task of its own name, so
Flower lists ``examples.etl.Transform`` with its parameters.

The login is HTTP basic auth, read from the environment, never from code or configuration
files: ``DAGCORE_FLOWER_BASIC_AUTH`` (``user:password``, several separated by commas) or
``DAGCORE_FLOWER_BASIC_AUTH_FILE`` (a file with one ``user:password`` per line, such as a
mounted Kubernetes or Docker secret). The passwords stay off the command line, where ``ps``
would show them. Flower's own ``--basic-auth`` and ``--auth`` are accepted too.

Flower binds to 127.0.0.1 unless ``--address`` says otherwise, and refuses to listen on any
other address without a login. Every other option is Flower's own (``--url-prefix``,
``--max-tasks``, ...), given as ``--name value`` or ``--name=value``.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flower.options  # noqa: F401  # defines Flower's options on tornado's global parser
from tornado.options import options as tornado_options

from celery_app.app import make_app
from dagcore.configuration.settings import Settings
from dagcore.errors import ConfigError
from dagcore.ui.auth import is_loopback

__all__ = [
    "AUTH_ENV",
    "AUTH_FILE_ENV",
    "DEFAULT_ADDRESS",
    "FlowerOptions",
    "is_loopback",
    "main",
    "read_credentials",
]

AUTH_ENV = "DAGCORE_FLOWER_BASIC_AUTH"
"""``user:password`` logins, separated by commas."""

AUTH_FILE_ENV = "DAGCORE_FLOWER_BASIC_AUTH_FILE"
"""Path of a file with one ``user:password`` login per line."""

DEFAULT_ADDRESS = "127.0.0.1"
"""Where Flower listens unless told otherwise (Flower's own default is every interface)."""

_DEFAULT_PORT = "5555"  # Flower's
_PROG = "dagcore flower"
_HINT = f"hint: `{_PROG} --help` lists the options and the login variables"
# Flower reads any of its options from FLOWER_<NAME>; these change what the checks here see.
_FLOWER_ENV_PREFIX = "FLOWER_"
_BOOL_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def _flower_options() -> dict[str, Any]:
    """Flower's options (name with dashes -> tornado ``_Option``), as ``flower`` defines them."""
    # tornado has no public accessor for an option's type; flower.command reads it the same way.
    return dict(tornado_options._options)


# -- the login ----------------------------------------------------------------------------------


def _check_login(login: str, where: str) -> str:
    user, sep, password = login.partition(":")
    if not sep or not user.strip() or not password:
        # The value is never echoed: it may be a password with a typo.
        raise ConfigError(
            f"{where} is not of the form user:password (a user name, a colon, a password)"
        )
    return login


def read_credentials(environ: Mapping[str, str]) -> tuple[tuple[str, ...], str | None]:
    """Read the basic-auth logins from ``DAGCORE_FLOWER_BASIC_AUTH`` or its ``_FILE`` variant.

    Blank lines of the file and lines starting with ``#`` are skipped; surrounding whitespace
    (a secret's trailing newline) is ignored.

    Args:
        environ: The environment to read.

    Returns:
        The ``user:password`` logins and the name of the variable they came from (None when
        neither variable is set).

    Raises:
        ConfigError: both variables are set, the file cannot be read or holds no login, or a
            login is not ``user:password``. Messages never contain a password.
    """
    inline = environ.get(AUTH_ENV, "").strip()
    path = environ.get(AUTH_FILE_ENV, "").strip()
    if inline and path:
        raise ConfigError(f"both {AUTH_ENV} and {AUTH_FILE_ENV} are set; keep one of them")
    if inline:
        items = [item.strip() for item in inline.split(",")]
        logins = [_check_login(item, f"{AUTH_ENV} entry {n}") for n, item in enumerate(items, 1)]
        return tuple(logins), AUTH_ENV
    if path:
        return _read_file(Path(path)), AUTH_FILE_ENV
    return (), None


def _read_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{AUTH_FILE_ENV}: cannot read {path}: {exc}") from exc
    logins = [
        _check_login(line.strip(), f"{AUTH_FILE_ENV} ({path}) line {n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#")
    ]
    if not logins:
        raise ConfigError(f"{AUTH_FILE_ENV}: {path} holds no user:password line")
    return tuple(logins)


# -- the command line ---------------------------------------------------------------------------


def _split_option(arg: str) -> tuple[str, str | None]:
    name, equals, value = arg.lstrip("-").partition("=")
    return name.replace("_", "-"), (value if equals else None)


def _normalise(argv: Sequence[str], known: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Turn ``--name value`` / ``--name=value`` / ``--flag`` into (name, value) pairs.

    Raises:
        ConfigError: an unknown option, a missing value or a stray argument.
    """
    pairs: list[tuple[str, str]] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}; options look like --port 5555")
        name, value = _split_option(arg)
        option = known.get(name)
        if option is None or name == "help":
            raise ConfigError(f"Flower has no option --{name}")
        if value is None and option.type is bool:
            value = rest.pop(0) if rest and rest[0].lower() in _BOOL_WORDS else "true"
        elif value is None:
            if not rest or rest[0].startswith("--"):
                raise ConfigError(f"--{name} needs a value, e.g. --{name}=VALUE")
            value = rest.pop(0)
        pairs.append((name, value))
    return pairs


def _flower_env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(_FLOWER_ENV_PREFIX + name.replace("-", "_").upper())


@dataclass(frozen=True)
class FlowerOptions:
    """What ``dagcore flower`` was asked to do, checked.

    Attributes:
        flower_argv: Arguments for Flower's command, each ``--name=value``.
        address: The address Flower binds to ("" is every interface).
        port: The port it listens on.
        unix_socket: The Unix socket it listens on instead, if any.
        logins: Basic-auth logins from dagcore's variables (set on Flower directly).
        login_source: Where the logins or Flower's own authentication come from, or None.
    """

    flower_argv: tuple[str, ...]
    address: str
    port: str
    unix_socket: str
    logins: tuple[str, ...]
    login_source: str | None

    @classmethod
    def parse(cls, argv: Sequence[str], environ: Mapping[str, str]) -> FlowerOptions:
        """Parse ``argv`` and the login variables of ``environ``.

        Raises:
            ConfigError: a bad option or login, two sources of basic auth, or no login for an
                address other machines can reach.
        """
        pairs = _normalise(argv, _flower_options())
        given = dict(pairs)  # the last occurrence wins, as in Flower
        logins, source = read_credentials(environ)
        flower_auth = _flower_auth_source(given, environ)
        if logins and flower_auth and "basic" in flower_auth:
            raise ConfigError(
                f"{source} and Flower's own {flower_auth} are both set; keep {source} (it keeps "
                "the password out of the command line)"
            )
        address = given.get("address", _flower_env(environ, "address"))
        argv_out = [f"--{name}={value}" for name, value in pairs]
        if address is None:
            address = DEFAULT_ADDRESS
            argv_out.insert(0, f"--address={DEFAULT_ADDRESS}")
        port = given.get("port", _flower_env(environ, "port")) or _DEFAULT_PORT
        unix_socket = given.get("unix-socket", _flower_env(environ, "unix-socket")) or ""
        options = cls(
            flower_argv=tuple(argv_out),
            address=address,
            port=port,
            unix_socket=unix_socket,
            logins=logins,
            login_source=source or flower_auth,
        )
        options.check_exposure()
        return options

    def check_exposure(self) -> None:
        """Refuse to serve an address other machines can reach without a login.

        Raises:
            ConfigError: no login and a non-loopback address.
        """
        if self.login_source or self.unix_socket or is_loopback(self.address):
            return
        shown = self.address or "every interface"
        raise ConfigError(
            f"refusing to serve Flower on {shown} without a login: set "
            f"{AUTH_ENV}=user:password (or {AUTH_FILE_ENV} to a file of user:password lines), "
            f"or listen on {DEFAULT_ADDRESS}"
        )

    def describe(self) -> str:
        """One line saying where Flower listens and who may log in (no password)."""
        if self.unix_socket:
            where = f"unix socket {self.unix_socket}"
        else:
            where = f"{self.address or '*'}:{self.port}"
        if self.logins:
            login = f"basic auth from {self.login_source} ({len(self.logins)} login(s))"
        elif self.login_source:
            login = f"authentication from Flower's {self.login_source}"
        else:
            login = "no login (loopback only)"
        return f"{_PROG}: starting Flower on {where}; {login}"


def _flower_auth_source(given: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    """The Flower option or variable that switches on Flower's own authentication, if any."""
    for name in ("basic-auth", "auth"):
        if given.get(name):
            return f"--{name}"
        variable = _FLOWER_ENV_PREFIX + name.replace("-", "_").upper()
        if environ.get(variable):
            return variable
    return None


# -- help ---------------------------------------------------------------------------------------


def _help() -> str:
    lines = [
        f"usage: {_PROG} [--address ADDR] [--port N] [FLOWER OPTION ...]",
        "",
        "Serve Flower, Celery's web monitor, for dagcore's broker ([celery] broker_url or",
        "DAGCORE_BROKER_URL). Each dagcore family shows as a task of its own name.",
        "",
        "Login (HTTP basic auth; required unless Flower listens on a loopback address):",
        f"  {AUTH_ENV}       user:password, several separated by commas",
        f"  {AUTH_FILE_ENV}  file with one user:password per line (a mounted secret)",
        "",
        f"Options (Flower's own; --name value or --name=value). --address defaults to "
        f"{DEFAULT_ADDRESS}:",
    ]
    for name, option in sorted(_flower_options().items()):
        if name != "help":
            summary = str(option.help or "").split(". ")[0]
            lines.append(f"  --{name:<28} {summary}".rstrip())
    return "\n".join(lines)


# -- the command --------------------------------------------------------------------------------


def _listen_error(exc: OSError, options: FlowerOptions) -> ConfigError:
    where = options.unix_socket or f"{options.address or '*'}:{options.port}"
    if exc.errno == errno.EADDRINUSE:
        advice = "another process uses it; choose another --port"
    elif exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
        advice = "check --address (an address of this machine) and --port (1024 or above)"
    else:
        advice = "check --address and --port"
    return ConfigError(f"cannot listen on {where}: {exc.strerror or exc}; {advice}")


def serve(options: FlowerOptions, settings: Settings) -> int:
    """Run Flower in this process until it is stopped (SIGTERM or Ctrl-C); returns 0."""
    if options.logins:
        # Set on Flower's option registry, not passed as --basic-auth: the command line is
        # visible to every user of the machine, and commas inside a password would split it.
        tornado_options.basic_auth = list(options.logins)
    app = make_app(settings)
    print(options.describe(), flush=True)
    try:
        code = app.start(["flower", *options.flower_argv])
    except OSError as exc:
        raise _listen_error(exc, options) from exc
    return int(code or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dagcore flower``; returns the exit code (2 for a usage or configuration error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(_help())
        return 0
    try:
        options = FlowerOptions.parse(args, os.environ)
        if any(arg.startswith("--basic-auth=") for arg in options.flower_argv):
            print(
                f"{_PROG}: warning: --basic-auth on the command line is visible to other users "
                f"(ps); set {AUTH_ENV} instead",
                file=sys.stderr,
            )
        return serve(options, Settings.from_config())
    except ConfigError as exc:
        if "--debug" in args:
            raise
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        print(_HINT, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
