"""Worker heartbeats in Redis and the submitter's notice of queues nobody consumes."""

from __future__ import annotations

import pytest
from redis import Redis

from celery_app.notices import QueueWatch
from celery_app.presence import Presence, live_workers


def test_a_queue_is_reported_idle_at_the_second_look_and_live_once_announced(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    client: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    try:
        watch = QueueWatch(client, "pt", ["pkg.mod"])
        watch.check(lambda: ["io"], force=True)
        assert capsys.readouterr().err == ""  # a worker may be about to announce itself
        watch.check(lambda: ["io"], force=True)
        said = capsys.readouterr().err
        assert "no live worker consumes queue 'io'" in said
        assert "dagcore worker --module pkg.mod --queues io" in said
        presence = Presence(client, "pt", interval=1.0)
        presence.queues = ("io", "cpu")
        presence.announce()
        assert live_workers(client, "pt", ["io", "cpu", "gpu"]) == {"io": 1, "cpu": 1, "gpu": 0}
        watch.check(lambda: ["io"], force=True)
        assert "a worker now consumes queue 'io' (1 live)" in capsys.readouterr().err
        presence.stop()
        assert live_workers(client, "pt", ["io"]) == {"io": 0}
    finally:
        client.close()
