"""Fixtures for integration tests: real services, started or provisioned per session/test.

* ``moto_endpoint`` starts one moto S3 server (a ``moto_server`` subprocess speaking real HTTP)
  for the whole session; ``s3_env`` points boto3 at it for one test through environment
  variables only, and ``s3_bucket`` gives each test a fresh, empty bucket.
* ``postgres_url`` gives each test a freshly created PostgreSQL database and drops it afterwards.
  The server is ``$DAGCORE_TEST_POSTGRES_URL`` when set, else ``postgres`` on 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import URL, make_url

from tests.integration.pg_server import pg_server  # noqa: F401 - a fixture for outage tests

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# Every variable boto3 consults for credentials or endpoints; tests start from none of them so a
# developer's own AWS setup can never leak into (or be touched by) a test.
_AWS_ENV_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)

_DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_SERVER_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _moto_server_command(port: int) -> list[str]:
    # Prefer the console script installed next to the running interpreter (the venv's), so the
    # server runs the same moto version the tests were written against.
    script = Path(sys.executable).with_name("moto_server")
    executable = str(script) if script.exists() else shutil.which("moto_server")
    if executable is None:
        pytest.fail("moto_server is not installed; install moto[server] (a dev dependency)")
    return [executable, "-H", "127.0.0.1", "-p", str(port)]


def _wait_until_answering(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with code {process.returncode} on start-up")
        try:
            # moto's management API answers once the HTTP server is ready.
            with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=1.0):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {_SERVER_START_TIMEOUT}s")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start a moto S3 server subprocess on a free port and yield its endpoint URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        _moto_server_command(port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_answering(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def aws_clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Remove every AWS credential/endpoint source boto3 could find, for one test."""
    for name in _AWS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    # Point the shared files at paths that do not exist so ~/.aws is never read.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # Without this, a missing credential makes botocore probe the EC2 metadata service.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return monkeypatch


@pytest.fixture
def s3_env(moto_endpoint: str, aws_clean_env: pytest.MonkeyPatch) -> str:
    """Configure boto3, through the environment only, to talk to the moto server."""
    aws_clean_env.setenv("AWS_ACCESS_KEY_ID", "testing")
    aws_clean_env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws_clean_env.setenv("AWS_SESSION_TOKEN", "testing")
    aws_clean_env.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def s3_bucket(s3_env: str) -> Iterator[str]:
    """Create a fresh bucket on the moto server; yield its name and delete it afterwards."""
    import boto3

    client = boto3.client("s3")
    name = f"dagcore-test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    yield name
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys: list[ObjectIdentifierTypeDef] = [
            {"Key": item["Key"]} for item in page.get("Contents", [])
        ]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys})
    client.delete_bucket(Bucket=name)


def _postgres_server_url() -> URL:
    url = make_url(os.environ.get("DAGCORE_TEST_POSTGRES_URL", _DEFAULT_POSTGRES_URL))
    # Test code talks to PostgreSQL through psycopg 3 whatever driver the URL names.
    return url.set(drivername="postgresql+psycopg")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Yield the SQLAlchemy URL of a freshly created PostgreSQL database, dropped afterwards.

    The server (host, port, user, password) comes from ``$DAGCORE_TEST_POSTGRES_URL`` when set,
    else ``postgresql://postgres@127.0.0.1:5432/postgres``; the database named there is only
    used as the maintenance database from which the fresh one is created.
    """
    from pytest_postgresql.janitor import DatabaseJanitor

    server = _postgres_server_url()
    dbname = f"dagcore_test_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=server.username or "postgres",
        password=server.password if isinstance(server.password, str) else None,
        host=server.host or "127.0.0.1",
        port=server.port or 5432,
        dbname=dbname,
        maintenance_dbname=server.database or "postgres",
        connection_timeout=10,
    )
    try:
        janitor.init()
    except Exception as exc:
        # Fail rather than skip: a missing service must not turn the suite silently green.
        pytest.fail(f"cannot create a database on PostgreSQL at {server.render_as_string()}: {exc}")
    try:
        yield server.set(database=dbname).render_as_string(hide_password=False)
    finally:
        janitor.drop()
