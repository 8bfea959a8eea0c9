"""One Redis connection setting for the broker, the run bookkeeping and the history stream.

``[celery] broker_url`` (or ``DAGCORE_BROKER_URL``) is the only place a Redis address and its
credentials are given. :func:`redis_client` turns it into a redis-py client (run store,
semaphores, history stream, start-up checks) and :func:`broker_options` into the Celery
settings that make kombu connect to the very same server the same way.

URL forms::

    redis://[USER:PASSWORD@]HOST[:PORT][/DB]
    rediss://[USER:PASSWORD@]HOST[:PORT][/DB][?TLS OPTIONS]
    unix://[USER:PASSWORD@]/PATH/TO/redis.sock[?db=DB]
    sentinel://[USER:PASSWORD@]HOST[:PORT][;sentinel://HOST2[:PORT]...][/DB]?master_name=NAME

* ``USER:PASSWORD`` authenticate to Redis (an ACL user, or ``:PASSWORD`` alone for
  ``requirepass``); percent-encode reserved characters (``@`` is ``%40``). With Sentinel they
  are the master's credentials, as in kombu.
* TLS options (``rediss://``, and ``sentinel://`` with ``ssl=true``): ``ssl_cert_reqs`` =
  ``required`` (default) | ``optional`` | ``none``; ``ssl_ca_certs``, ``ssl_certfile``,
  ``ssl_keyfile`` = paths of PEM files; ``ssl_check_hostname`` = ``true`` (default when
  certificates are required) | ``false``.
* Sentinel options: ``master_name`` (required), ``sentinel_username`` and
  ``sentinel_password`` when the sentinels themselves require authentication,
  ``sentinel_ssl=true`` to speak TLS to the sentinels too (with the same TLS options), and
  ``ssl=true`` for TLS to the master. The port of a sentinel defaults to 26379. ``/DB`` and
  the options may follow any one of the sentinels (usually the last).

Anything else in the query string is refused: kombu and redis-py would each read it their
own way. Celery gets the URL rewritten in kombu's syntax (credentials and ``/DB`` on every
sentinel, since kombu reads them from the one it fails over to; no query string) with the
options moved to ``broker_transport_options`` and ``broker_use_ssl``. ``memory://`` (kombu's
in-process broker) is accepted by :func:`broker_options` only, for tests of the app alone.

Credentials only ever come from this setting (environment variable or configuration file,
never code or messages); error messages show the URL with every password masked.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from dagcore.configuration.settings import CelerySettings, Settings
from dagcore.configuration.values import to_bool
from dagcore.errors import ConfigError

__all__ = [
    "REDIS_SCHEMES",
    "SETTING",
    "BrokerAddress",
    "TlsOptions",
    "broker_options",
    "clone_client",
    "parse_broker_url",
    "redact",
    "redis_client",
]

SETTING = "[celery] broker_url"
"""How error messages name the connection setting."""

REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel")
"""URL schemes :func:`redis_client` understands."""

_IN_MEMORY = "memory"  # kombu's in-process broker: a Celery app for tests, no Redis behind it
_REDIS_PORT = 6379
_SENTINEL_PORT = 26379
# Sentinels are asked for the master's address before every new connection to it; a dead one
# must not hang that lookup.
_SENTINEL_TIMEOUT = 5.0
_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}
_TLS_FILES = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_TLS_KEYS = ("ssl_cert_reqs", *_TLS_FILES, "ssl_check_hostname")
_SENTINEL_KEYS = ("master_name", "sentinel_username", "sentinel_password", "sentinel_ssl", "ssl")
_PASSWORD_IN_QUERY = re.compile(r"(password=)[^&;]*", re.IGNORECASE)


@dataclass(frozen=True)
class TlsOptions:
    """How to verify the server of a TLS connection, and the client certificate to show.

    Attributes:
        cert_reqs: ``required``, ``optional`` or ``none`` (no verification at all).
        ca_certs: PEM file of the certificate authorities to trust (default: the system's).
        certfile: PEM file of the client certificate, for servers that ask for one.
        keyfile: PEM file of the client certificate's private key.
        check_hostname: Check that the server's certificate names the host connected to.
    """

    cert_reqs: str = "required"
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    check_hostname: bool = True

    def redis_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a redis-py TLS connection."""
        return {
            "ssl_cert_reqs": self.cert_reqs,
            "ssl_ca_certs": self.ca_certs,
            "ssl_certfile": self.certfile,
            "ssl_keyfile": self.keyfile,
            "ssl_check_hostname": self.check_hostname,
        }

    def kombu_options(self) -> dict[str, Any]:
        """The same, as Celery's ``broker_use_ssl`` for the Redis transport."""
        options = self.redis_kwargs()
        options["ssl_cert_reqs"] = _CERT_REQS[self.cert_reqs]
        return {key: value for key, value in options.items() if value is not None}


@dataclass(frozen=True)
class BrokerAddress:
    """A parsed broker URL: where Redis is and how to authenticate and encrypt.

    Attributes:
        scheme: ``redis``, ``rediss``, ``unix`` or ``sentinel``.
        hosts: ``(host, port)`` of the server, or of every sentinel; empty for ``unix``.
        socket_path: The Unix socket of a ``unix://`` URL.
        db: The database number.
        username: ACL user (None: ``default``).
        password: Password of the user (of the master, with Sentinel).
        tls: TLS to the server (the master, with Sentinel), or None for plain TCP.
        master_name: The name the sentinels monitor the master under.
        sentinel_username: ACL user on the sentinels.
        sentinel_password: Password on the sentinels.
        sentinel_tls: TLS to the sentinels, or None for plain TCP.
    """

    scheme: str
    hosts: tuple[tuple[str, int], ...] = ()
    socket_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None
    master_name: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    sentinel_tls: TlsOptions | None = None

    def auth(self) -> dict[str, Any]:
        """``username``/``password`` keyword arguments (only those that are set)."""
        pairs = (("username", self.username), ("password", self.password))
        return {key: value for key, value in pairs if value is not None}


# -- parsing ------------------------------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` with every password replaced by ``***`` (for messages and logs).

    When in doubt (an unencoded ``@``), more than the password is masked, never less.
    """
    segments = []
    for segment in url.split(";"):
        scheme, sep, rest = segment.partition("://")
        if sep and "@" in rest:
            userinfo, _, tail = rest.rpartition("@")
            user, colon, _ = userinfo.partition(":")
            rest = f"{user}:***@{tail}" if colon else rest
        segments.append(scheme + sep + rest)
    return _PASSWORD_IN_QUERY.sub(r"\1***", ";".join(segments))


class _Problem(ValueError):
    """A reason the URL is invalid; :func:`parse_broker_url` adds the setting and the URL."""


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse a broker URL (see the module documentation for the forms).

    Certificate and key files are opened once here, so a wrong path fails now rather than at
    the first connection.

    Raises:
        ConfigError: the scheme is not a Redis one, a part is malformed, an option is unknown
            or missing (``master_name``), or a certificate file cannot be read. The message
            names ``[celery] broker_url`` and shows the URL with passwords masked.
    """
    text = url.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    try:
        if scheme == "sentinel":
            return _parse_sentinel(text)
        if scheme in ("redis", "rediss", "unix"):
            return _parse_single(scheme, text)
        raise _Problem(
            f"unknown scheme {scheme + '://' if scheme else '(none)'}; dagcore needs Redis: "
            "use redis://, rediss:// (TLS), unix:// or sentinel://"
        )
    except _Problem as exc:
        raise ConfigError(f"{SETTING} {redact(text)!r}: {exc}") from None


def _split(segment: str) -> SplitResult:
    try:
        parts = urlsplit(segment)
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError as exc:
        raise _Problem(f"cannot parse {redact(segment)!r} ({exc})") from None
    if parts.fragment:
        raise _Problem("'#' must be percent-encoded (%23) in a password")
    return parts


def _credentials(parts: SplitResult) -> tuple[str | None, str | None]:
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password or None


def _db(path: str) -> int:
    text = unquote(path).strip("/")
    if not text:
        return 0
    if not text.isdigit():
        raise _Problem(f"the database must be a number (/0, /1, ...), not /{text}")
    return int(text)


def _query(raw: str, allowed: Iterable[str]) -> dict[str, str]:
    pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=False)
    known = tuple(allowed)
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in known:
            if key in _TLS_KEYS:
                raise _Problem(f"{key} is a TLS option: use rediss:// (or ssl=true with Sentinel)")
            hint = f"known options: {', '.join(known)}" if known else "it takes no options"
            raise _Problem(f"unknown option {key!r}; {hint}")
        if key in options:
            raise _Problem(f"option {key!r} is given twice")
        options[key] = value
    return options


def _flag(options: Mapping[str, str], key: str, default: bool) -> bool:
    if key not in options:
        return default
    try:
        return to_bool(options[key])
    except ValueError:
        raise _Problem(f"{key} must be true or false, not {options[key]!r}") from None


def _readable(key: str, path: str) -> str:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _Problem(f"{key}: cannot read {path!r} ({exc.strerror or exc})") from None
    return path


def _tls(options: Mapping[str, str]) -> TlsOptions:
    reqs = options.get("ssl_cert_reqs", "required").strip().lower()
    if reqs not in _CERT_REQS:
        raise _Problem(f"ssl_cert_reqs must be required, optional or none, not {reqs!r}")
    files = {key: _readable(key, options[key]) for key in _TLS_FILES if options.get(key)}
    if "ssl_keyfile" in files and "ssl_certfile" not in files:
        raise _Problem("ssl_keyfile needs ssl_certfile (the client certificate)")
    check_hostname = _flag(options, "ssl_check_hostname", reqs == "required")
    if check_hostname and reqs == "none":
        raise _Problem("ssl_check_hostname=true needs ssl_cert_reqs=required or optional")
    return TlsOptions(
        cert_reqs=reqs,
        ca_certs=files.get("ssl_ca_certs"),
        certfile=files.get("ssl_certfile"),
        keyfile=files.get("ssl_keyfile"),
        check_hostname=check_hostname,
    )


def _parse_single(scheme: str, text: str) -> BrokerAddress:
    parts = _split(text)
    if scheme == "unix":
        options = _query(parts.query, ("db",))
        if not parts.path.strip("/"):
            raise _Problem("give the socket's path: unix:///path/to/redis.sock")
        user, password = _credentials(parts)
        return BrokerAddress(
            scheme,
            socket_path=unquote(parts.path),
            db=_db(options.get("db", "")),
            username=user,
            password=password,
        )
    options = _query(parts.query, _TLS_KEYS if scheme == "rediss" else ())
    user, password = _credentials(parts)
    return BrokerAddress(
        scheme,
        hosts=((parts.hostname or "localhost", parts.port or _REDIS_PORT),),
        db=_db(parts.path),
        username=user,
        password=password,
        tls=_tls(options) if scheme == "rediss" else None,
    )


def _parse_sentinel(text: str) -> BrokerAddress:
    hosts: list[tuple[str, int]] = []
    credentials: set[tuple[str | None, str | None]] = set()
    paths: list[str] = []
    queries: list[str] = []
    for segment in filter(None, (s.strip() for s in text.split(";"))):
        if not segment.lower().startswith("sentinel://"):
            raise _Problem(
                f"{redact(segment)!r}: separate sentinels with ';sentinel://', "
                "e.g. sentinel://h1:26379;sentinel://h2:26379/0?master_name=mymaster"
            )
        parts = _split(segment)
        if not parts.hostname:
            raise _Problem(f"{redact(segment)!r} names no sentinel host")
        hosts.append((parts.hostname, parts.port or _SENTINEL_PORT))
        if parts.username is not None or parts.password is not None:
            credentials.add(_credentials(parts))
        paths += [parts.path] if parts.path.strip("/") else []
        queries += [parts.query] if parts.query else []
    if len(credentials) > 1:
        raise _Problem("the sentinels are given different credentials; give them once")
    if len(paths) > 1 or len(queries) > 1:
        raise _Problem("give /DB and ?options once, after the last sentinel")
    options = _query(queries[0] if queries else "", (*_SENTINEL_KEYS, *_TLS_KEYS))
    master_name = options.get("master_name", "").strip()
    if not master_name:
        raise _Problem(
            "a sentinel:// URL needs ?master_name=NAME (the name the sentinels monitor the "
            "master under, 'sentinel monitor NAME ...' in their configuration)"
        )
    master_tls = _flag(options, "ssl", False)
    sentinel_tls = _flag(options, "sentinel_ssl", False)
    if not (master_tls or sentinel_tls) and any(key in options for key in _TLS_KEYS):
        raise _Problem("TLS options need ssl=true (master) and/or sentinel_ssl=true (sentinels)")
    tls = _tls(options) if master_tls or sentinel_tls else None
    user, password = credentials.pop() if credentials else (None, None)
    return BrokerAddress(
        "sentinel",
        hosts=tuple(hosts),
        db=_db(paths[0] if paths else ""),
        username=user,
        password=password,
        tls=tls if master_tls else None,
        master_name=master_name,
        sentinel_username=options.get("sentinel_username") or None,
        sentinel_password=options.get("sentinel_password") or None,
        sentinel_tls=tls if sentinel_tls else None,
    )


# -- redis-py clients ---------------------------------------------------------------------------


def _url_of(source: Settings | CelerySettings | str) -> str:
    if isinstance(source, Settings):
        return source.celery.broker_url
    if isinstance(source, CelerySettings):
        return source.broker_url
    return source


def _connection_kwargs(address: BrokerAddress, decode_responses: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {**address.auth(), "db": address.db}
    kwargs["decode_responses"] = decode_responses
    if address.tls is not None:
        kwargs.update(ssl=True, **address.tls.redis_kwargs())
    return kwargs


def _sentinel_kwargs(address: BrokerAddress) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": _SENTINEL_TIMEOUT,
        "socket_timeout": _SENTINEL_TIMEOUT,
        # A sentinel that is down is skipped for the next one at once; redis-py's default
        # retries with backoff would delay every new connection to the master by seconds.
        "retry": Retry(NoBackoff(), 0),
    }
    pairs = (("username", address.sentinel_username), ("password", address.sentinel_password))
    kwargs.update((key, value) for key, value in pairs if value is not None)
    if address.sentinel_tls is not None:
        kwargs.update(ssl=True, **address.sentinel_tls.redis_kwargs())
    return kwargs


def redis_client(
    source: Settings | CelerySettings | str, *, decode_responses: bool = True, **options: Any
) -> Redis[Any]:
    """A redis-py client of the broker's Redis, from ``[celery] broker_url`` or a URL.

    With ``sentinel://`` the client is the master's: it asks the sentinels where the master
    is before each new connection, so it follows a failover.

    Args:
        source: dagcore's settings (or their ``[celery]`` part), or a broker URL.
        decode_responses: Return ``str`` instead of ``bytes``.
        **options: More keyword arguments of :class:`redis.Redis` (``client_name``,
            ``socket_timeout``, ``health_check_interval``, ...); they win over the URL's.

    Raises:
        ConfigError: the URL is invalid (see :func:`parse_broker_url`). Nothing is connected
            yet: an unreachable server or wrong password fails at the first command.
    """
    address = parse_broker_url(_url_of(source))
    kwargs = _connection_kwargs(address, decode_responses)
    kwargs.update(options)
    if address.scheme == "sentinel":
        assert address.master_name is not None  # parse_broker_url requires it
        sentinel = Sentinel(list(address.hosts), sentinel_kwargs=_sentinel_kwargs(address))
        client: Redis[Any] = sentinel.master_for(
            address.master_name, redis_class=_SentinelMasterClient, **kwargs
        )
        return client
    if address.socket_path is not None:
        return Redis(unix_socket_path=address.socket_path, **kwargs)
    host, port = address.hosts[0]
    return Redis(host=host, port=port, **kwargs)


if TYPE_CHECKING:
    _RedisBase = Redis[Any]
else:
    _RedisBase = Redis


class _SentinelMasterClient(_RedisBase):
    """A master client that also closes its connections to the sentinels when closed."""

    def close(self) -> None:
        super().close()
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            sentinel.close()


def clone_client(client: Redis[Any], **overrides: Any) -> Redis[Any]:
    """A new client (own connection pool) to the same server as ``client``, same options.

    ``overrides`` replace connection options (``decode_responses``, ``socket_timeout``,
    ``retry``, ...). Works for Sentinel master clients too, sharing their sentinels.
    """
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs.update(overrides)
    if isinstance(pool, SentinelConnectionPool):
        # Its connection_kwargs hold the pool's proxy; the new pool makes its own.
        kwargs.pop("connection_pool", None)
        sentinel_pool = SentinelConnectionPool(
            pool.service_name,
            pool.sentinel_manager,
            connection_class=pool.connection_class,
            is_master=pool.is_master,
            check_connection=pool.check_connection,
            **kwargs,
        )
        return Redis(connection_pool=sentinel_pool)
    return Redis(connection_pool=type(pool)(connection_class=pool.connection_class, **kwargs))


# -- Celery / kombu -----------------------------------------------------------------------------


def _userinfo(address: BrokerAddress) -> str:
    if address.username is None and address.password is None:
        return ""
    user = quote(address.username or "", safe="")
    password = "" if address.password is None else ":" + quote(address.password, safe="")
    return f"{user}{password}@"


def _host(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _kombu_url(address: BrokerAddress) -> str:
    userinfo = _userinfo(address)
    if address.socket_path is not None:
        # kombu's name for a Unix socket; the database travels as the virtual host.
        path = quote(address.socket_path, safe="/")
        return f"redis+socket://{userinfo}{path}?virtual_host={address.db}"
    # kombu takes the credentials and database from whichever sentinel it is connected
    # through when it fails over, so every one of them carries them.
    return ";".join(
        f"{address.scheme}://{userinfo}{_host(host, port)}/{address.db}"
        for host, port in address.hosts
    )


def broker_options(source: Settings | CelerySettings | str) -> dict[str, Any]:
    """The Celery settings that make kombu connect like :func:`redis_client` does.

    Returns ``broker_url`` (the URL rewritten in kombu's syntax, without dagcore's options),
    ``broker_transport_options`` (``master_name`` and ``sentinel_kwargs`` for Sentinel, else
    empty; merge them into the app's own) and, for TLS to the server, ``broker_use_ssl``.
    ``memory://`` (kombu's in-process broker, for tests of the app alone) passes unchanged.

    Raises:
        ConfigError: the URL is invalid (see :func:`parse_broker_url`).
    """
    url = _url_of(source).strip()
    if url.split("://", 1)[0].lower() == _IN_MEMORY:
        return {"broker_url": url, "broker_transport_options": {}}
    address = parse_broker_url(url)
    transport: dict[str, Any] = {}
    if address.scheme == "sentinel":
        transport["master_name"] = address.master_name
        transport["sentinel_kwargs"] = _sentinel_kwargs(address)
    options: dict[str, Any] = {
        "broker_url": _kombu_url(address),
        "broker_transport_options": transport,
    }
    if address.tls is not None:
        options["broker_use_ssl"] = address.tls.kombu_options()
    return options
