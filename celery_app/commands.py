"""``dagcore status RUN_ID`` and ``dagcore cancel RUN_ID`` for runs on the Celery executor."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from urllib.parse import quote

from celery_app.app import make_app
from celery_app.connection import redis_client
from celery_app.joins import RunStore
from dagcore.configuration.settings import Settings
from dagcore.history.events import AttemptStatus
from dagcore.history.store import SqlHistoryStore

__all__ = ["cancel_main", "flower_link", "status_main"]


def _store(settings: Settings) -> RunStore:
    return RunStore(redis_client(settings), settings.celery.key_prefix)


def _running_attempts(settings: Settings, run_id: str) -> list[tuple[str, str | None, str | None]]:
    """(task id, celery id, worker) of attempts recorded as started and not finished."""
    history = SqlHistoryStore.from_url(settings.history.url)
    try:
        return [
            (a.task_id, a.celery_id, a.worker)
            for a in history.attempts(run_id)
            if a.status is AttemptStatus.RUNNING
        ]
    finally:
        history.close()


def flower_link(flower_url: str | None, celery_id: str | None) -> str | None:
    """The Flower page of one Celery task, when ``[celery] flower_url`` and the id are known."""
    if not flower_url or not celery_id:
        return None
    return f"{flower_url.rstrip('/')}/task/{quote(celery_id, safe='')}"


def status_main(argv: Sequence[str]) -> int:
    """Print where a run stands: counts from Redis, running tasks from the history.

    With ``[celery] flower_url`` (or ``DAGCORE_FLOWER_URL``) set, each running task also gets
    the link to its page in Flower (``flower`` in ``--json``).
    """
    parser = argparse.ArgumentParser(prog="dagcore status", description=status_main.__doc__)
    parser.add_argument("run_id")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(list(argv))
    settings = Settings.from_config()
    status = _store(settings).run_status(args.run_id)
    if not status:
        print(f"dagcore status: no run {args.run_id!r} in Redis", file=sys.stderr)
        return 2
    running = _running_attempts(settings, args.run_id)
    flower_url = settings.celery.flower_url
    if args.json:
        payload = {
            **status,
            "running": [
                {"task_id": t, "celery_id": c, "worker": w, "flower": flower_link(flower_url, c)}
                for t, c, w in running
            ],
        }
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(f"run {args.run_id}: {status.get('status', '?')}")
    print(
        f"  {status.get('done', 0)}/{status.get('total', 0)} done, "
        f"{status.get('failed', 0)} failed, {len(running)} running"
    )
    for task_id, celery_id, worker in running:
        print(f"  running {task_id} on {worker or '?'} (celery id {celery_id or '?'})")
        link = flower_link(flower_url, celery_id)
        if link:
            print(f"    {link}")
    return 0


def cancel_main(argv: Sequence[str]) -> int:
    """Stop a run: no new task starts (checked at claim); --terminate also kills running ones."""
    parser = argparse.ArgumentParser(prog="dagcore cancel", description=cancel_main.__doc__)
    parser.add_argument("run_id")
    parser.add_argument("--terminate", action="store_true", help="also kill running tasks")
    args = parser.parse_args(list(argv))
    settings = Settings.from_config()
    store = _store(settings)
    if not store.run_status(args.run_id):
        print(f"dagcore cancel: no run {args.run_id!r} in Redis", file=sys.stderr)
        return 2
    store.cancel(args.run_id)
    killed = 0
    if args.terminate:
        ids = [c for _, c, _ in _running_attempts(settings, args.run_id) if c]
        if ids:
            make_app(settings).control.revoke(ids, terminate=True, signal="SIGTERM")
            killed = len(ids)
    print(
        f"run {args.run_id} cancelled"
        + (f"; {killed} running task(s) terminated" if killed else "")
    )
    return 0
