"""The reaper closes in history the Celery runs Redis does not know (celery_app.vanished)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from redis import Redis

from celery_app.joins import RunStore
from celery_app.vanished import VANISHED_REASON, close_vanished_runs
from dagcore.history.events import RunStarted, RunStatus, utcnow
from dagcore.history.store import SqlHistoryStore
from tests.integration.celery.test_joins import make_plan


def _started(run_id: str, minutes_ago: float, executor: str = "celery") -> RunStarted:
    when = utcnow() - timedelta(minutes=minutes_ago)
    return RunStarted(run_id, when, "me", "host", "dagcore run", ["A"], executor)


def test_old_running_celery_runs_missing_from_redis_are_closed(
    redis_url: str, tmp_path: Path
) -> None:
    client: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    store = RunStore(client, "dgtest")
    history = SqlHistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        store.create_run("alive", make_plan({"A": []}))
        history.apply(
            [
                _started("lost", 10),
                _started("alive", 10),
                _started("young", 1),
                _started("local", 10, executor="local"),
            ]
        )
        assert close_vanished_runs(store, history, exit_code=40) == ["lost"]
        lost = history.get_run("lost")
        assert lost is not None and lost.status is RunStatus.FAILED
        assert lost.summary == VANISHED_REASON and lost.exit_code == 40
        for other in ("alive", "young", "local"):
            record = history.get_run(other)
            assert record is not None and record.status is RunStatus.RUNNING
        assert close_vanished_runs(store, history, exit_code=40) == []
    finally:
        history.close()
        client.close()
