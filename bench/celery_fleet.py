"""Start and stop the dagcore worker fleet the Celery benchmark runs on.

The fleet uses its own Redis database and a PostgreSQL history database (created if missing),
so a benchmark never touches anything else on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy

from celery_app.connection import redis_client

ROOT = Path(__file__).resolve().parent.parent
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/3")
PG_ADMIN = os.environ.get(
    "BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = os.environ.get("BENCH_PG_DB", "dagcore_bench")


def history_url() -> str:
    """A PostgreSQL database for the benchmark's history, created on first use."""
    engine = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sqlalchemy.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DB}
        ).first()
        if not exists:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{PG_DB}"'))
    engine.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB


@contextmanager
def fleet(
    module: str, concurrency: int, env: dict[str, str], extra: tuple[str, ...] = ()
) -> Iterator[None]:
    """A `dagcore worker` on ``module``, ready when the block starts, stopped after it."""
    client = redis_client(BROKER)
    try:
        client.flushdb()
    finally:
        client.close()
    workdir = Path(env.get("ETL_OUT", "/tmp"))
    log = open(workdir / "worker.log", "w")  # noqa: SIM115
    # The worker touches it once it consumes (celery_app.health): at log level WARNING, as the
    # anchors run, Celery's "ready" line is not printed.
    heartbeat = workdir / "worker.heartbeat"
    heartbeat.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagcore",
            "worker",
            "--module",
            module,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
            "--heartbeat-file",
            str(heartbeat),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *extra,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        path = Path(log.name)
        while not heartbeat.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + path.read_text(errors="replace"))
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
