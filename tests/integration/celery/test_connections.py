"""One broker URL for everything, against real servers: ACL users, TLS, Sentinel, Unix sockets.

Each kind of server is a ``redis-server`` started here (see ``redis_servers.py``). The pipeline
test runs a real ``dagcore worker`` with ``DAGCORE_BROKER_URL`` set to the URL and submits a
small run from this process: Celery's broker (kombu, configured by ``make_app``), the run store
and semaphores (``joins.lua`` through ``redis_client``) and the history stream (worker sink ->
stream -> SQL writer) all have to work over that one setting for it to finish and be recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import kombu.pools
import pytest
import redis
from celery import Celery
from redis.backoff import NoBackoff
from redis.retry import Retry

import dagcore
from celery_app.app import check_settings, make_app
from celery_app.connection import redis_client
from celery_app.joins import RunStore
from dagcore.configuration import reset_config
from dagcore.configuration.settings import Settings
from dagcore.errors import ConfigError
from dagcore.history.events import AttemptStatus
from dagcore.history.store import SqlHistoryStore
from dagcore.summary import StatusCode, Summary
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.celery.connection_families import Total
from tests.integration.celery.redis_servers import (
    Certificates,
    RedisServer,
    free_port,
    make_certificates,
)

pytestmark = pytest.mark.integration

MODULE = "tests.integration.celery.connection_families"
USER = "dagcore"
PASSWORD = "p@ss:w/rd"  # every character that must be percent-encoded in a URL
PASSWORD_IN_URL = "p%40ss%3Aw%2Frd"
MASTER_PASSWORD = "master-secret"
SENTINEL_PASSWORD = "sentinel-secret"
MASTER_NAME = "dagmaster"
RUN_TIMEOUT = 45.0
NO_RETRY = Retry(NoBackoff(), 0)  # for clients expected to fail: fail at once


# -- servers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    return make_certificates(tmp_path_factory.mktemp("pki"))


def _start(directory: Path, name: str, config: list[str], **kwargs: Any) -> RedisServer:
    try:
        return RedisServer(directory, name, config, **kwargs)
    except RuntimeError as exc:
        if kwargs.get("tls") and "tls" in str(exc).lower() and "bad directive" in str(exc).lower():
            pytest.skip(f"this redis-server was built without TLS support: {exc}")
        raise


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    """Servers a test starts; all stopped at teardown."""
    started: list[RedisServer] = []
    yield started
    for server in reversed(started):
        server.stop()


def _acl_url(servers: list[RedisServer], directory: Path) -> str:
    acl = [f"user {USER} on >{PASSWORD} ~* &* +@all", "user default off"]
    server = _start(directory, "acl", acl)
    servers.append(server)
    return f"redis://{USER}:{PASSWORD_IN_URL}@127.0.0.1:{server.port}/0"


def _tls_url(servers: list[RedisServer], directory: Path, certs: Certificates) -> str:
    server = _start(directory, "tls", certs.server_config(), tls=True)
    servers.append(server)
    return f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={certs.ca}"


def _sentinel_url(
    servers: list[RedisServer], directory: Path, certs: Certificates, *, tls: bool
) -> str:
    tls_config = certs.server_config() if tls else []
    master = _start(directory, "master", [*tls_config, f"requirepass {MASTER_PASSWORD}"], tls=tls)
    servers.append(master)
    sentinel_config = [
        *tls_config,
        *(["tls-replication yes"] if tls else []),
        f"requirepass {SENTINEL_PASSWORD}",
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master.port} 1",
        f"sentinel auth-pass {MASTER_NAME} {MASTER_PASSWORD}",
    ]
    sentinel = _start(directory, "sentinel", sentinel_config, sentinel=True, tls=tls)
    servers.append(sentinel)
    # The first sentinel is down: clients must go on to the next one.
    down = free_port()
    options = f"master_name={MASTER_NAME}&sentinel_password={SENTINEL_PASSWORD}"
    if tls:
        options += f"&ssl=true&sentinel_ssl=true&ssl_ca_certs={certs.ca}"
    return (
        f"sentinel://:{MASTER_PASSWORD}@127.0.0.1:{down};"
        f"sentinel://127.0.0.1:{sentinel.port}/0?{options}"
    )


@pytest.fixture
def broker_url(
    request: pytest.FixtureRequest,
    servers: list[RedisServer],
    tmp_path: Path,
    certs: Certificates,
) -> str:
    """The URL of a fresh server of the kind named by the (indirect) parameter."""
    kind = str(request.param)
    directory = tmp_path / "redis"
    directory.mkdir()
    if kind == "acl":
        return _acl_url(servers, directory)
    if kind == "tls":
        return _tls_url(servers, directory, certs)
    if kind in ("sentinel", "sentinel-tls"):
        return _sentinel_url(servers, directory, certs, tls=kind == "sentinel-tls")
    raise AssertionError(f"unknown server kind {kind!r}")


class _Env(CeleryEnv):
    """The shared environment, with its admin client made from the URL like dagcore's."""

    def client(self) -> redis.Redis[bytes]:
        return redis_client(self.redis_url, decode_responses=False)


@pytest.fixture
def celery_env(broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Env]:
    """``celery_env`` of the conftest, pointed at this module's server (overrides it here)."""
    yield _Env(broker_url, tmp_path, monkeypatch)
    reset_config()
    kombu.pools.reset()  # type: ignore[no-untyped-call]


ALL_KINDS = ["acl", "tls", "sentinel", "sentinel-tls"]


# -- helpers ------------------------------------------------------------------------------------


def celery_settings(url: str) -> Settings:
    """Settings whose broker is ``url`` (the rest from the configuration in effect)."""
    settings = Settings.from_config()
    return replace(settings, celery=replace(settings.celery, broker_url=url))


def _roundtrip(app: Celery) -> Any:
    """Publish one message through the app's broker connection and read it back."""
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue(f"dagcore-test-roundtrip-{time.monotonic_ns()}")
        try:
            queue.put({"ok": True})
            message = queue.get(timeout=10)
            message.ack()
            return message.payload
        finally:
            queue.close()


def _build_bounded(roots: list[dagcore.Task], worker_output: Any) -> Summary:
    """``dagcore.build`` on the Celery executor, failing (not hanging) after RUN_TIMEOUT."""
    result: list[Any] = []

    def build() -> None:
        try:
            result.append(dagcore.build(roots, executor="celery", detailed_summary=True))
        except BaseException as exc:  # handed to the test thread
            result.append(exc)

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    thread.join(RUN_TIMEOUT)
    if not result:
        pytest.fail(f"the run did not finish in {RUN_TIMEOUT:g}s; worker:\n{worker_output()}")
    if isinstance(result[0], BaseException):
        raise result[0]
    summary = result[0]
    assert isinstance(summary, Summary)
    return summary


def _wait_for_attempts(history_url: str, run_id: str, count: int) -> list[Any]:
    store = SqlHistoryStore.from_url(history_url)
    try:
        deadline = time.monotonic() + 20
        while True:
            attempts = store.attempts(run_id)
            done = [a for a in attempts if a.status is AttemptStatus.SUCCESS]
            if len(done) >= count or time.monotonic() > deadline:
                return attempts
            time.sleep(0.2)
    finally:
        store.close()


# -- the whole stack over one URL ---------------------------------------------------------------


@pytest.mark.parametrize("broker_url", ALL_KINDS, indirect=True)
def test_a_pipeline_runs_on_a_worker_over_the_url(
    broker_url: str,
    celery_env: _Env,
    start_worker: StartWorker,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(out))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    settings = celery_env.configure("[celery]\nlease_seconds = 3\n")
    worker = start_worker([MODULE], concurrency=2)

    summary = _build_bounded([Total(parts=3)], worker.output)

    assert summary.status is StatusCode.SUCCESS, summary.summary_text + worker.output()
    assert (out / "total-3.txt").read_text() == "3"
    # The run's bookkeeping is on the server behind the URL ...
    client = redis_client(broker_url)
    try:
        status = RunStore(client, settings.celery.key_prefix).run_status(summary.run_id)
    finally:
        client.close()
    assert status["done"] == status["total"] == 4, status
    # ... and every attempt reached SQL through that server's history stream.
    attempts = _wait_for_attempts(postgres_url, summary.run_id, 4)
    assert sorted(a.status.value for a in attempts) == [AttemptStatus.SUCCESS.value] * 4
    for secret in (PASSWORD, PASSWORD_IN_URL, MASTER_PASSWORD, SENTINEL_PASSWORD):
        assert secret not in worker.output()


@pytest.mark.parametrize("broker_url", ALL_KINDS, indirect=True)
def test_check_settings_reads_the_server_behind_the_url(celery_env: _Env) -> None:
    app = celery_env.app()
    # The servers here run without persistence, which the check reports: proof that CONFIG GET
    # went through the ACL user, the TLS connection or the master the sentinels named.
    [warning] = check_settings(app, celery_env.settings, log_warnings=False)
    assert "persistence is off" in warning
    assert _roundtrip(app) == {"ok": True}


# -- ACL users ----------------------------------------------------------------------------------


@pytest.mark.parametrize("broker_url", ["acl"], indirect=True)
def test_a_wrong_password_is_a_clear_error(
    broker_url: str,
    celery_env: _Env,
    start_worker: StartWorker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = broker_url.replace(PASSWORD_IN_URL, "not-the-password")
    client = redis_client(wrong, retry=NO_RETRY)
    with pytest.raises(redis.AuthenticationError):
        client.ping()
    client.close()

    monkeypatch.setenv("DAGCORE_BROKER_URL", wrong)
    settings = celery_env.configure("")
    with pytest.raises(ConfigError) as caught:
        check_settings(make_app(settings), settings, log_warnings=False)
    message = str(caught.value)
    assert "[celery] broker_url" in message and "refused the credentials" in message
    assert f"{USER}:***@" in message and "not-the-password" not in message

    # A worker stops at start-up with that message instead of retrying forever.
    worker = start_worker([MODULE], wait_ready=False)
    assert worker.wait_exit(30) == 2, worker.output()
    assert "refused the credentials" in worker.output()
    assert "not-the-password" not in worker.output()


@pytest.mark.parametrize("broker_url", ["acl"], indirect=True)
def test_no_credentials_are_refused_by_an_acl_server(broker_url: str) -> None:
    anonymous = broker_url.replace(f"{USER}:{PASSWORD_IN_URL}@", "")
    client = redis_client(anonymous, retry=NO_RETRY)
    try:
        with pytest.raises(redis.AuthenticationError):
            client.ping()
    finally:
        client.close()


# -- TLS ----------------------------------------------------------------------------------------


def test_mutual_tls_needs_the_client_certificate(
    servers: list[RedisServer], tmp_path: Path, certs: Certificates
) -> None:
    server = _start(tmp_path, "mtls", certs.server_config(auth_clients=True), tls=True)
    servers.append(server)
    base = f"rediss://localhost:{server.port}/0?ssl_ca_certs={certs.ca}"
    with_cert = f"{base}&ssl_certfile={certs.client_cert}&ssl_keyfile={certs.client_key}"
    client = redis_client(with_cert, socket_timeout=5, socket_connect_timeout=5)
    try:
        assert client.ping()
    finally:
        client.close()
    anonymous = redis_client(base, socket_timeout=5, socket_connect_timeout=5, retry=NO_RETRY)
    try:
        with pytest.raises(redis.ConnectionError):
            anonymous.ping()
    finally:
        anonymous.close()
    # The Celery app gets the client certificate through broker_use_ssl.
    app = make_app(celery_settings(with_cert))
    assert _roundtrip(app) == {"ok": True}
    kombu.pools.reset()  # type: ignore[no-untyped-call]


def test_an_untrusted_server_certificate_is_refused(
    servers: list[RedisServer], tmp_path: Path, certs: Certificates
) -> None:
    server = _start(tmp_path, "tls", certs.server_config(), tls=True)
    servers.append(server)
    # Without ssl_ca_certs only the system's authorities are trusted, not the test CA.
    client = redis_client(
        f"rediss://127.0.0.1:{server.port}/0", socket_connect_timeout=5, retry=NO_RETRY
    )
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            client.ping()
    finally:
        client.close()


# -- Unix sockets -------------------------------------------------------------------------------


def test_a_unix_socket_url_serves_redis_py_and_celery(
    servers: list[RedisServer], tmp_path: Path
) -> None:
    socket_path = tmp_path / "redis.sock"
    server = _start(tmp_path, "unix", [f"unixsocket {socket_path}", "requirepass sock-secret"])
    servers.append(server)
    url = f"unix://:sock-secret@{socket_path}?db=2"
    client = redis_client(url)
    try:
        client.set("dagcore-test", "here")
        app = make_app(celery_settings(url))
        assert _roundtrip(app) == {"ok": True}
        kombu.pools.reset()  # type: ignore[no-untyped-call]
        # Celery used the same database as redis-py.
        assert client.get("dagcore-test") == "here"
        assert any(key.startswith("_kombu.binding") for key in client.keys("*"))
    finally:
        client.close()
