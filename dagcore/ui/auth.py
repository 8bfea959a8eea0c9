"""HTTP basic auth of ``dagcore ui``, configured like ``dagcore flower``'s.

Logins come from the environment only: ``DAGCORE_UI_BASIC_AUTH`` (``user:password``, several
separated by commas) or ``DAGCORE_UI_BASIC_AUTH_FILE`` (one ``user:password`` per line, such as a
mounted secret). Without a login the UI only listens on a loopback address.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path

from dagcore.errors import ConfigError

__all__ = ["AUTH_ENV", "AUTH_FILE_ENV", "check_exposure", "is_loopback", "read_logins", "allowed"]

AUTH_ENV = "DAGCORE_UI_BASIC_AUTH"
AUTH_FILE_ENV = "DAGCORE_UI_BASIC_AUTH_FILE"


def _check(login: str, where: str) -> str:
    user, sep, password = login.partition(":")
    if not sep or not user or not password:
        raise ConfigError(f"{where}: expected user:password")
    return login


def read_logins(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The ``user:password`` logins from the environment (empty when none is configured).

    Raises:
        ConfigError: both variables are set, the file cannot be read, or a login is malformed.
    """
    inline = environ.get(AUTH_ENV, "").strip()
    path = environ.get(AUTH_FILE_ENV, "").strip()
    if inline and path:
        raise ConfigError(f"both {AUTH_ENV} and {AUTH_FILE_ENV} are set; keep one of them")
    if inline:
        items = [item.strip() for item in inline.split(",") if item.strip()]
        return tuple(_check(item, f"{AUTH_ENV} entry {n}") for n, item in enumerate(items, 1))
    if not path:
        return ()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{AUTH_FILE_ENV}: cannot read {path}: {exc}") from exc
    logins = tuple(
        _check(line.strip(), f"{AUTH_FILE_ENV} ({path}) line {n}")
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    )
    if not logins:
        raise ConfigError(f"{AUTH_FILE_ENV}: {path} holds no user:password line")
    return logins


def is_loopback(address: str) -> bool:
    """True when ``address`` only accepts connections from this machine (not ``""``)."""
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(address: str, logins: Sequence[str]) -> None:
    """Refuse to serve the history without a login on an address others can reach.

    Raises:
        ConfigError: no login and a non-loopback address.
    """
    if logins or is_loopback(address):
        return
    raise ConfigError(
        f"dagcore ui would listen on {address or 'every interface'} without a login; set "
        f"{AUTH_ENV}=user:password (or {AUTH_FILE_ENV} to a file of user:password lines), "
        "or listen on 127.0.0.1"
    )


def allowed(authorization: str | None, logins: Sequence[str]) -> bool:
    """Whether an ``Authorization`` header carries one of ``logins`` (always, without logins)."""
    if not logins:
        return True
    if not authorization:
        return False
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Compare with every login, in constant time each, so timing does not tell which matched.
    matches = [hmac.compare_digest(given.encode(), login.encode()) for login in logins]
    return any(matches)
