"""Run ``dagcore ui`` in a background thread of the test process."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from dagcore.ui.main import serve


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_ui(url: str, environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """Serve the history at ``url``; yields the base URL (``http://127.0.0.1:PORT``)."""
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    errors: list[BaseException] = []
    started = threading.Event()
    tasks: list[asyncio.Future[None]] = []

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def go() -> None:
            task = asyncio.ensure_future(serve("127.0.0.1", port, url, environ or {}, ready))
            tasks.append(task)
            waiter = asyncio.ensure_future(ready.wait())
            await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
            started.set()
            await task

        try:
            loop.run_until_complete(go())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)
            started.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=main, name="dagcore-ui", daemon=True)
    thread.start()
    started.wait(30)
    if errors:
        raise errors[0]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # Cancelling the server's task lets it close every connection before the loop ends.
        for task in tasks:
            loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
