"""A PostgreSQL server a test owns and may stop and start (outage tests).

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (via runuser). ``DAGCORE_TEST_PG_BIN`` points at the server binaries.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("DAGCORE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(PG_BIN / program), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{program} failed: {result.stderr}\n{tail}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")


@pytest.fixture
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, running on a free port."""
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail(f"PostgreSQL binaries not found in {PG_BIN}; set DAGCORE_TEST_PG_BIN")
    # Not tmp_path: the postgres user must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="dagcore-pg-"))
    server = PostgresServer(root)
    if server.as_postgres:
        shutil.chown(root, "postgres", "postgres")
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop()
        except RuntimeError:
            pass  # already stopped by the test
        shutil.rmtree(root, ignore_errors=True)
