"""``dagcore status RUN_ID`` and ``dagcore cancel RUN_ID`` for runs on the Celery executor.

Both take a unique prefix of the run id, as ``dagcore history`` does. ``status`` shows the run's
final status as the history records it once the run has ended (the fleet writes the end of the
run to Redis and to history in one step, so they agree), its counts from Redis.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import redis

from celery_app.app import make_app
from celery_app.connection import redact, redis_client
from celery_app.joins import RunStore
from dagcore.configuration.settings import Settings
from dagcore.errors import DagcoreError, ExecutionError
from dagcore.history.events import AttemptStatus, RunStatus
from dagcore.history.journal import replay_journal
from dagcore.history.store import SqlHistoryStore

_JOURNAL_DIR = ".dagcore"

__all__ = ["cancel_main", "flower_link", "status_main"]


def _store(settings: Settings) -> RunStore:
    return RunStore(redis_client(settings), settings.celery.key_prefix)


def _broker_error(settings: Settings, exc: redis.RedisError) -> ExecutionError:
    return ExecutionError(
        f"cannot reach the broker {redact(settings.celery.broker_url)}: {exc}; start Redis "
        "there, or point DAGCORE_BROKER_URL / [celery] broker_url at your broker"
    )


def resolve_run_id(settings: Settings, store: RunStore, given: str) -> str | None:
    """The run id ``given`` is, or is the unique prefix of (in Redis, else in history).

    Raises:
        ExecutionError: the prefix matches several runs.
    """
    if store.run_status(given):
        return given
    pattern = store.keys.run_base(_glob_escape(given) + "*") + "meta"
    found = sorted({_run_id_of(key) for key in store.redis.scan_iter(match=pattern, count=1000)})
    if len(found) > 1:
        raise ExecutionError(
            f"run id prefix {given!r} matches several runs ({', '.join(found[:5])}); "
            "give more characters"
        )
    if found:
        return found[0]
    try:
        history = SqlHistoryStore.from_url(settings.history.url)
        try:
            run = history.get_run(given)
        finally:
            history.close()
    except DagcoreError:
        return None
    return run.run_id if run is not None else None


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _run_id_of(key: bytes | str) -> str:
    name = key.decode() if isinstance(key, bytes) else key
    return name.split("{", 1)[1].rsplit("}", 1)[0]


def _history_status(settings: Settings, run_id: str) -> tuple[str, str] | None:
    """(status, summary) of an ended run as the history has it; None while running or unknown."""
    try:
        history = SqlHistoryStore.from_url(settings.history.url)
        try:
            # What a submitter journalled while the database was down (its run's end, say)
            # goes in now that it answers.
            if Path(_JOURNAL_DIR).is_dir():
                replay_journal(history, _JOURNAL_DIR)
            run = history.get_run(run_id)
        finally:
            history.close()
    except DagcoreError:
        return None
    if run is None or run.status is RunStatus.RUNNING:
        return None
    return run.status.value, run.summary


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
    store = _store(settings)
    try:
        run_id = resolve_run_id(settings, store, args.run_id) or args.run_id
        status = store.run_status(run_id)
    except redis.RedisError as exc:
        raise _broker_error(settings, exc) from exc
    if not status:
        print(
            f"dagcore status: no run {args.run_id!r} in Redis "
            f"({redact(settings.celery.broker_url)}); `dagcore history` lists recorded runs",
            file=sys.stderr,
        )
        return 2
    ended = _history_status(settings, run_id)
    if ended is not None and status.get("status") != "RUNNING":
        # One truth: the history's final status (the fleet wrote the same one to both).
        status["status"] = ended[0]
    running = _running_attempts(settings, run_id)
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
    reason = f" ({status['reason']})" if status.get("reason") else ""
    print(f"run {run_id}: {status.get('status', '?')}{reason}")
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
    try:
        run_id = resolve_run_id(settings, store, args.run_id) or args.run_id
        if not store.run_status(run_id):
            print(f"dagcore cancel: no run {args.run_id!r} in Redis", file=sys.stderr)
            return 2
        if not store.cancel(run_id, "cancelled: dagcore cancel"):
            status = store.run_status(run_id).get("status")
            print(f"run {run_id} has ended already ({status})")
            return 0
    except redis.RedisError as exc:
        raise _broker_error(settings, exc) from exc
    killed = 0
    if args.terminate:
        ids = [c for _, c, _ in _running_attempts(settings, run_id) if c]
        if ids:
            make_app(settings).control.revoke(ids, terminate=True, signal="SIGTERM")
            killed = len(ids)
    print(f"run {run_id} cancelled" + (f"; {killed} running task(s) terminated" if killed else ""))
    return 0
