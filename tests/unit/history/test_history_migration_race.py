"""Several processes opening the same fresh SQLite history file at the same moment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from dagcore.history.store import SqlHistoryStore

# Each child imports everything, says it is ready, waits for the go signal, then opens the store
# and writes its own run: the first use (and so the migration) happens in all of them at once.
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dagcore.history.store import SqlHistoryStore
    from tests.unit.history.history_samples import diamond, run_events

    url, name, signals = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    (signals / f"ready-{name}").touch()
    while not (signals / "go").exists():
        time.sleep(0.001)
    store = SqlHistoryStore(url)
    store.apply(run_events(name, diamond()))
    print(len(store.list_runs(limit=100)))
    """
)

PROCESSES = 3


def _race(tmp_path: Path, round_number: int) -> None:
    signals = tmp_path / f"signals-{round_number}"
    signals.mkdir()
    database = tmp_path / f"db-{round_number}" / "history.db"
    url = f"sqlite:///{database}"
    root = str(Path(__file__).resolve().parents[3])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, f"run-{index}", str(signals)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(signals.glob("ready-*"))) < PROCESSES:
        assert time.monotonic() < deadline, "children did not start"
        assert all(child.poll() is None for child in children), "a child died early"
        time.sleep(0.01)
    assert not database.exists()
    (signals / "go").touch()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        assert int(out) >= 1

    store = SqlHistoryStore(url)
    assert sorted(run.run_id for run in store.list_runs()) == [
        f"run-{index}" for index in range(PROCESSES)
    ]
    store.close()
    engine = create_engine(url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert [tuple(row) for row in versions] == [("0002",)]


def test_processes_creating_the_same_database_at_once(tmp_path: Path) -> None:
    for round_number in range(2):
        _race(tmp_path, round_number)
