"""The worker's upkeep process: the history writer and the reaper, beside the pool.

``dagcore worker`` starts one upkeep process when Celery is ready and stops it at shutdown. It
is a process of its own (spawned, not forked), not threads of the worker's main process: batch
inserts there would compete for the GIL with the loop that hands messages to the pool.

The process is told to stop by closing a pipe, never by a shared lock or event: if it died, a
``multiprocessing.Event.set()`` can block forever, and shutdown must not hang. The pipe also
tells the process when the worker died without saying goodbye (end of file), so no upkeep
process outlives its worker.
"""

from __future__ import annotations

import functools
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from celery_app.connection import redis_client
from celery_app.joins import RunStore
from celery_app.reaper import Reaper
from celery_app.vanished import close_vanished_runs
from dagcore.configuration.settings import Settings
from dagcore.history.store import SqlHistoryStore

__all__ = ["start", "stop"]

_STOP_SECONDS = 15.0

_process: tuple[Any, Connection] | None = None


def _main(stop: Connection) -> None:
    """Body of the upkeep process: history stream -> SQL, and the reaper, until told to stop."""
    from celery_app.app import make_app
    from celery_app.history_stream import StreamHistoryWriter
    from celery_app.publish import publish

    settings = Settings.from_config()
    client = redis_client(settings)
    store = SqlHistoryStore.from_url(settings.history.url)
    writer = StreamHistoryWriter(client, store, settings.celery.key_prefix).start_thread()
    runs = RunStore(client, settings.celery.key_prefix)
    reaper = Reaper(
        runs,
        functools.partial(publish, make_app(settings), runs),
        lease_ms=int(settings.celery.lease_seconds * 1000),
        interval=settings.celery.reaper_interval,
        vanished=functools.partial(
            close_vanished_runs, runs, store, settings.retcode.unhandled_exception
        ),
    ).start()
    try:
        # Returns on a message or at end of file (the worker closed its end, or died).
        stop.poll(None)
    finally:
        reaper.stop()
        writer.stop(drain=5)
        store.close()


def start(sender: Any = None, **_: Any) -> None:
    """Start the upkeep process (Celery's ``worker_ready`` signal); once per worker."""
    global _process
    if _process is not None:
        return
    ctx = multiprocessing.get_context("spawn")
    reader, writer = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_main, args=(reader,), name="dagcore-upkeep", daemon=True)
    process.start()
    reader.close()
    _process = (process, writer)


def stop(sender: Any = None, **_: Any) -> None:
    """Stop the upkeep process (``worker_shutdown``): it drains the history writer first."""
    global _process
    if _process is None:
        return
    process, writer = _process
    _process = None
    writer.close()
    process.join(_STOP_SECONDS)
    if process.is_alive():
        process.terminate()
        process.join(5)
