"""Settling a successful attempt without waiting for Redis's answer.

When a task succeeded, its worker process sends the settle script (history events, ``finish``,
release of the claim and slots) and returns to Celery at once: the message is acknowledged and
the next one taken while Redis runs the script. A thread of the process reads the answer and
publishes the dependents it made ready. The script is on its way to Redis before the message
is acknowledged, as with a settle that waited; what the process does not see itself any more
is the answer, which only says what to publish, and the outbox keeps that until it is
published.

If the script never ran (the process died while sending, the connection broke), the claim is
never released: when its lease runs out the reaper puts the task back in its run
(``reap_claims``), so the run still completes. If it ran but the answer was lost, the reaper's
outbox sweep publishes the dependents.

One connection per process carries the settles, one at a time: a lock is taken when a settle is
sent and given back by the thread once the answer is read.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError, RedisError

from celery_app.joins import SettleCall, Settled

__all__ = ["AsyncSettler"]

logger = logging.getLogger("dagcore.celery")


class AsyncSettler:
    """Sends settle calls on a connection of its own and handles their answers on a thread.

    Parameters:
        client: the Redis client whose pool the connection comes from (this process's).
    """

    def __init__(self, client: Redis[Any]) -> None:
        self._client = client
        self._connection: Any = None
        self._lock = threading.Lock()  # held from a send until its answer is read
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagcore-settle")

    def send(self, call: SettleCall, then: Callable[[Settled], None]) -> None:
        """Send ``call`` now; ``then`` gets what it settled, on the settler's thread.

        Raises:
            redis.exceptions.RedisError: the call could not be sent (nothing was settled; the
                caller settles the usual way).
        """
        self._lock.acquire()
        try:
            connection = self._connect()
            connection.send_command("EVALSHA", call.sha, len(call.keys), *call.keys, *call.args)
        except BaseException:
            self._discard()
            self._lock.release()
            raise
        self._pool.submit(self._answer, connection, call, then)

    def wait(self, timeout: float) -> bool:
        """Wait until the last settle sent has been answered (at process shutdown)."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True

    def _connect(self) -> Any:
        if self._connection is None:
            self._connection = self._client.connection_pool.get_connection()
        return self._connection

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.disconnect()
            self._client.connection_pool.release(connection)

    def _answer(self, connection: Any, call: SettleCall, then: Callable[[Settled], None]) -> None:
        try:
            try:
                reply = connection.read_response()
            except NoScriptError:
                # Redis did not know the script (restarted, flushed): it did not run, so send it
                # whole, which loads it for later calls too.
                connection.send_command("EVAL", call.source, len(call.keys), *call.keys, *call.args)
                reply = connection.read_response()
            settled = call.settled(reply)
        except RedisError as exc:
            self._discard()
            logger.warning(
                "settle of %s (run %s) got no answer (%s); if it did not run, the reaper puts "
                "the task back when its claim runs out",
                call.task_id,
                call.run_id,
                exc,
            )
            return
        except Exception:
            logger.exception("cannot read the settle of %s (run %s)", call.task_id, call.run_id)
            return
        finally:
            self._lock.release()
        try:
            then(settled)
        except Exception:
            logger.exception("after the settle of %s (run %s)", call.task_id, call.run_id)
