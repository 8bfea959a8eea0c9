"""Broker URLs: parsing, errors that hide passwords, redis-py clients and kombu options (no server).

Building a client connects to nothing, so what it would connect to is read off its pool.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.sentinel import SentinelConnectionPool

from celery_app.app import make_app
from celery_app.connection import (
    BrokerAddress,
    TlsOptions,
    broker_options,
    clone_client,
    parse_broker_url,
    redact,
    redis_client,
)
from dagcore.errors import ConfigError
from tests.unit.celery.conftest import SettingsFactory

SECRET = "s3cr@t"
SECRET_IN_URL = "s3cr%40t"


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    """A readable file standing for a certificate (parsing only checks it can be read)."""
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return path


# -- parsing ------------------------------------------------------------------------------------


def test_plain_redis_urls() -> None:
    assert parse_broker_url("redis://localhost:6379/0") == BrokerAddress(
        "redis", hosts=(("localhost", 6379),), db=0
    )
    assert parse_broker_url("redis://cache") == BrokerAddress("redis", hosts=(("cache", 6379),))
    assert parse_broker_url("  REDIS://h:7000/5  ").db == 5


def test_credentials_are_percent_decoded() -> None:
    address = parse_broker_url(f"redis://dag%20core:{SECRET_IN_URL}@h:1/2")
    assert (address.username, address.password) == ("dag core", SECRET)
    # requirepass: a password without a user
    only = parse_broker_url(f"redis://:{SECRET_IN_URL}@h/0")
    assert (only.username, only.password) == (None, SECRET)
    assert only.auth() == {"password": SECRET}


def test_passwords_stay_out_of_reprs() -> None:
    address = parse_broker_url(
        f"sentinel://:{SECRET_IN_URL}@h/0?master_name=m&sentinel_password={SECRET_IN_URL}"
    )
    assert SECRET not in repr(address) and SECRET_IN_URL not in repr(address)


def test_rediss_verifies_certificates_by_default(pem: Path) -> None:
    assert parse_broker_url("rediss://h:6380/1").tls == TlsOptions("required", check_hostname=True)
    address = parse_broker_url(
        f"rediss://u:{SECRET_IN_URL}@h:6380/1?ssl_ca_certs={pem}&ssl_certfile={pem}"
        f"&ssl_keyfile={pem}&ssl_check_hostname=false"
    )
    assert address.tls == TlsOptions("required", str(pem), str(pem), str(pem), False)
    assert parse_broker_url("rediss://h?ssl_cert_reqs=none").tls == TlsOptions(
        "none", check_hostname=False
    )
    assert parse_broker_url("rediss://h?ssl_cert_reqs=Optional").tls == TlsOptions(
        "optional", check_hostname=False
    )


def test_sentinel_urls_in_kombus_syntax() -> None:
    address = parse_broker_url(
        f"sentinel://u:{SECRET_IN_URL}@s1:26380;sentinel://s2;sentinel://[::1]:5/3"
        "?master_name=main&sentinel_username=watch&sentinel_password=pw"
    )
    assert address.hosts == (("s1", 26380), ("s2", 26379), ("::1", 5))
    assert (address.db, address.master_name) == (3, "main")
    assert (address.username, address.password) == ("u", SECRET)
    assert (address.sentinel_username, address.sentinel_password) == ("watch", "pw")
    assert address.tls is None and address.sentinel_tls is None
    # /DB and the options may also follow the first sentinel; credentials may be repeated.
    first = parse_broker_url("sentinel://:pw@s1/2?master_name=m;sentinel://:pw@s2")
    assert (first.db, first.master_name, first.password) == (2, "m", "pw")


def test_sentinel_tls_for_the_master_and_the_sentinels(pem: Path) -> None:
    base = f"sentinel://s1/0?master_name=m&ssl_ca_certs={pem}"
    master = parse_broker_url(base + "&ssl=true")
    assert master.tls == TlsOptions(ca_certs=str(pem)) and master.sentinel_tls is None
    both = parse_broker_url(base + "&ssl=true&sentinel_ssl=yes")
    assert both.tls == both.sentinel_tls == TlsOptions(ca_certs=str(pem))
    sentinels = parse_broker_url(base + "&sentinel_ssl=1")
    assert sentinels.tls is None and sentinels.sentinel_tls == TlsOptions(ca_certs=str(pem))


def test_unix_socket_urls() -> None:
    address = parse_broker_url(f"unix://:{SECRET_IN_URL}@/run/redis/redis.sock?db=4")
    assert address == BrokerAddress(
        "unix", socket_path="/run/redis/redis.sock", db=4, password=SECRET
    )


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"amqp://guest:{SECRET}@rabbit//", "unknown scheme amqp://"),
        ("localhost:6379", "unknown scheme (none)"),
        (f"redis+socket://:{SECRET}@/tmp/r.sock", "unknown scheme redis+socket://"),
        (f"sentinel://:{SECRET}@s1:26379/0", "needs ?master_name=NAME"),
        (f"sentinel://:{SECRET}@s1/0?master_name=", "needs ?master_name=NAME"),
        (f"sentinel://:{SECRET}@s1;redis://s2/0?master_name=m", "separate sentinels"),
        (f"sentinel://:{SECRET}@/0?master_name=m", "names no sentinel host"),
        ("sentinel://:a@s1;sentinel://:b@s2/0?master_name=m", "different credentials"),
        ("sentinel://s1/0?master_name=m;sentinel://s2/1", "once, after the last sentinel"),
        (f"sentinel://:{SECRET}@s1/0?master_name=m&ssl_ca_certs=x", "need ssl=true"),
        (f"sentinel://:{SECRET}@s1/0?master_name=m&ssl=maybe", "ssl must be true or false"),
        (f"redis://:{SECRET}@h/0?ssl_cert_reqs=none", "ssl_cert_reqs is a TLS option: use"),
        (f"redis://:{SECRET}@h/0?db=1", "unknown option 'db'; it takes no options"),
        (f"rediss://:{SECRET}@h/0?timeout=1", "unknown option 'timeout'; known options: ssl_"),
        (f"rediss://:{SECRET}@h/0?ssl_cert_reqs=none&ssl_cert_reqs=none", "given twice"),
        (f"rediss://:{SECRET}@h/0?ssl_cert_reqs=strict", "required, optional or none"),
        (
            f"rediss://:{SECRET}@h/0?ssl_cert_reqs=none&ssl_check_hostname=true",
            "ssl_check_hostname=true needs",
        ),
        (f"redis://:{SECRET}@h/zero", "the database must be a number"),
        (f"redis://:{SECRET}@h:99999/0", "Port out of range"),
        (f"redis://:{SECRET}@h:port/0", "Port could not be cast"),
        (f"redis://:{SECRET}@h/0#x", "'#' must be percent-encoded"),
        (f"unix://:{SECRET}@/", "give the socket's path"),
        (f"unix://:{SECRET}@/tmp/r.sock?db=x", "the database must be a number"),
    ],
)
def test_bad_urls_are_config_errors_that_hide_the_password(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_broker_url(url)
    message = str(caught.value)
    assert message.startswith("[celery] broker_url '"), message
    assert expected in message
    assert SECRET not in message


def test_unreadable_certificate_files_are_config_errors(tmp_path: Path, pem: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=r"ssl_ca_certs: cannot read .*missing\.pem"):
        parse_broker_url(f"rediss://:{SECRET_IN_URL}@h/0?ssl_ca_certs={missing}")
    with pytest.raises(ConfigError, match=r"ssl_certfile: cannot read"):
        parse_broker_url(f"rediss://h/0?ssl_certfile={tmp_path}")  # a directory
    with pytest.raises(ConfigError, match=r"ssl_keyfile needs ssl_certfile"):
        parse_broker_url(f"rediss://h/0?ssl_keyfile={pem}")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://u:pw@h/0", "redis://u:***@h/0"),
        ("redis://:pw@h/0", "redis://:***@h/0"),
        ("redis://u@h/0", "redis://u@h/0"),
        ("redis://u:p@ss@h/0", "redis://u:***@h/0"),
        ("sentinel://:a@s1;sentinel://:b@s2/0", "sentinel://:***@s1;sentinel://:***@s2/0"),
        (
            "sentinel://s1/0?master_name=m&sentinel_password=x&ssl=1",
            "sentinel://s1/0?master_name=m&sentinel_password=***&ssl=1",
        ),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


# -- redis-py clients ---------------------------------------------------------------------------


def _kwargs(client: Any) -> dict[str, Any]:
    return dict(client.connection_pool.connection_kwargs)


def test_a_redis_client_from_a_url_or_the_settings(settings_from: SettingsFactory) -> None:
    client = redis_client(f"redis://u:{SECRET_IN_URL}@cache:7000/3")
    kwargs = _kwargs(client)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache", 7000, 3)
    assert (kwargs["username"], kwargs["password"]) == ("u", SECRET)
    assert kwargs["decode_responses"] is True
    client.close()
    settings = settings_from('[celery]\nbroker_url = "redis://from-file:6390/1"\n')
    for source in (settings, settings.celery):
        client = redis_client(source, decode_responses=False, client_name="me")
        kwargs = _kwargs(client)
        assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("from-file", 6390, 1)
        assert kwargs["decode_responses"] is False and kwargs["client_name"] == "me"
        client.close()


def test_a_tls_client(pem: Path) -> None:
    client = redis_client(f"rediss://h:6380/0?ssl_ca_certs={pem}&ssl_cert_reqs=optional")
    assert client.connection_pool.connection_class is SSLConnection
    kwargs = _kwargs(client)
    assert kwargs["ssl_ca_certs"] == str(pem)
    assert kwargs["ssl_cert_reqs"] == "optional" and kwargs["ssl_check_hostname"] is False
    client.close()


def test_a_unix_socket_client() -> None:
    client = redis_client("unix:///run/redis.sock?db=2")
    assert client.connection_pool.connection_class is UnixDomainSocketConnection
    assert (_kwargs(client)["path"], _kwargs(client)["db"]) == ("/run/redis.sock", 2)
    client.close()


def test_a_sentinel_client_is_the_masters(pem: Path) -> None:
    client = redis_client(
        f"sentinel://:{SECRET_IN_URL}@s1:1;sentinel://s2:2/4?master_name=main"
        f"&sentinel_password=watch&ssl=true&sentinel_ssl=true&ssl_ca_certs={pem}"
    )
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "main"
    assert "SSL" in pool.connection_class.__name__
    kwargs = _kwargs(client)
    assert (kwargs["password"], kwargs["db"], kwargs["ssl_ca_certs"]) == (SECRET, 4, str(pem))
    manager = pool.sentinel_manager
    sentinels = [s.connection_pool.connection_kwargs for s in manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("s1", 1), ("s2", 2)]
    assert {s["password"] for s in sentinels} == {"watch"}
    assert all(s["ssl_ca_certs"] == str(pem) for s in sentinels)
    client.close()


def test_clone_client_keeps_the_server_and_overrides_options() -> None:
    client = redis_client(f"redis://u:{SECRET_IN_URL}@h:7/1")
    clone = clone_client(client, decode_responses=False)
    assert clone.connection_pool is not client.connection_pool
    same = ("host", "port", "db", "username", "password", "socket_timeout")
    assert {key: _kwargs(clone)[key] for key in same} == {key: _kwargs(client)[key] for key in same}
    assert _kwargs(client)["decode_responses"] is True
    assert _kwargs(clone)["decode_responses"] is False
    sentinel = redis_client("sentinel://s1/2?master_name=main")
    twin = clone_client(sentinel, socket_timeout=3.0)
    pool = twin.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "main"
    assert pool.sentinel_manager is sentinel.connection_pool.sentinel_manager
    assert _kwargs(twin)["socket_timeout"] == 3.0 and _kwargs(twin)["db"] == 2
    for each in (client, clone, sentinel, twin):
        each.close()


# -- kombu / Celery -----------------------------------------------------------------------------


def _kombu(options: dict[str, Any]) -> Any:
    return Connection(  # type: ignore[no-untyped-call]
        options["broker_url"],
        ssl=options.get("broker_use_ssl", False),
        transport_options=options["broker_transport_options"],
    )


def test_broker_options_of_a_plain_url() -> None:
    options = broker_options(f"redis://u:{SECRET_IN_URL}@h:7000/3")
    assert options == {
        "broker_url": f"redis://u:{SECRET_IN_URL}@h:7000/3",
        "broker_transport_options": {},
    }
    connection = _kombu(options)
    assert (connection.hostname, connection.port, connection.virtual_host) == ("h", 7000, "3")
    assert (connection.userid, connection.password) == ("u", SECRET)


def test_broker_options_of_a_tls_url(pem: Path) -> None:
    options = broker_options(f"rediss://h:6380/1?ssl_ca_certs={pem}&ssl_certfile={pem}")
    assert options["broker_url"] == "rediss://h:6380/1"
    assert options["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_ca_certs": str(pem),
        "ssl_certfile": str(pem),
        "ssl_check_hostname": True,
    }
    assert _kombu(options).ssl == options["broker_use_ssl"]


def test_broker_options_of_a_sentinel_url() -> None:
    options = broker_options(
        f"sentinel://:{SECRET_IN_URL}@s1;sentinel://s2:26380/5?master_name=main"
        "&sentinel_password=watch"
    )
    # Every sentinel carries the credentials and database: kombu reads them from the one it
    # fails over to.
    assert options["broker_url"] == (
        f"sentinel://:{SECRET_IN_URL}@s1:26379/5;sentinel://:{SECRET_IN_URL}@s2:26380/5"
    )
    transport = options["broker_transport_options"]
    assert transport["master_name"] == "main"
    assert transport["sentinel_kwargs"]["password"] == "watch"
    assert "broker_use_ssl" not in options
    connection = _kombu(options)
    assert connection.alt == options["broker_url"].split(";")
    assert (connection.password, connection.virtual_host) == (SECRET, "5")


def test_memory_broker_passes_unchanged() -> None:
    assert broker_options("memory://localhost/") == {
        "broker_url": "memory://localhost/",
        "broker_transport_options": {},
    }


def test_make_app_uses_the_broker_options(settings_from: SettingsFactory, pem: Path) -> None:
    settings = settings_from(
        f"""
        [celery]
        broker_url = "sentinel://:{SECRET_IN_URL}@s1/2?master_name=main&ssl=true&ssl_ca_certs={pem}"
        visibility_timeout = 600
        """
    )
    conf = make_app(settings).conf
    assert conf.broker_url == f"sentinel://:{SECRET_IN_URL}@s1:26379/2"
    assert conf.broker_use_ssl["ssl_ca_certs"] == str(pem)
    # dagcore's own transport options stay next to the connection's.
    assert conf.broker_transport_options["master_name"] == "main"
    assert conf.broker_transport_options["visibility_timeout"] == 600
    assert "sentinel_kwargs" in conf.broker_transport_options
    plain = make_app(settings_from('[celery]\nbroker_url = "redis://h:1/0"\n')).conf
    assert plain.broker_use_ssl is None


def test_make_app_refuses_a_broker_dagcore_cannot_use(settings_from: SettingsFactory) -> None:
    settings = settings_from(f'[celery]\nbroker_url = "amqp://guest:{SECRET}@rabbit//"\n')
    with pytest.raises(ConfigError, match=r"\[celery\] broker_url .*unknown scheme amqp") as c:
        make_app(settings)
    assert SECRET not in str(c.value)
