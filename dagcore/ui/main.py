"""``dagcore ui``: serve the read-only web UI over the run history."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence

from dagcore.errors import ConfigError, DagcoreError
from dagcore.history.store import SqlHistoryStore, history_url
from dagcore.ui.auth import AUTH_ENV, AUTH_FILE_ENV, check_exposure, read_logins

__all__ = ["main", "parse_args", "serve"]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line of ``dagcore ui``."""
    parser = argparse.ArgumentParser(
        prog="dagcore ui",
        description=(
            "Serve a read-only web UI over the run history: runs, their DAG and timeline, "
            f"tasks, lineage. Login: {AUTH_ENV}=user:password or {AUTH_FILE_ENV}=path "
            "(required unless the address is loopback)."
        ),
    )
    parser.add_argument("--port", type=int, default=8082, help="port (default 8082)")
    parser.add_argument(
        "--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--history-url",
        default=None,
        help="SQLAlchemy URL of the history (default $DAGCORE_HISTORY_URL or .dagcore/history.db)",
    )
    return parser.parse_args(list(argv))


def _flower_url() -> str | None:
    try:
        from dagcore.configuration.settings import CelerySettings

        return CelerySettings.from_config().flower_url
    except DagcoreError:
        return None


async def serve(
    address: str, port: int, url: str, environ: Mapping[str, str], ready: asyncio.Event | None
) -> None:
    """Listen until cancelled.

    Raises:
        ConfigError: a bad login configuration, or no login on a non-loopback address.
    """
    try:
        from dagcore.ui.app import UiSettings, make_app
    except ImportError as exc:
        raise ConfigError(f"dagcore ui needs tornado ({exc}); install dagcore[ui]") from exc

    logins = read_logins(environ)
    check_exposure(address, logins)
    ui = UiSettings(SqlHistoryStore(url), logins, _flower_url())
    ui.store.migrate()
    try:
        server = make_app(ui).listen(port, address=address)
    except OSError as exc:
        raise ConfigError(f"dagcore ui cannot listen on {address}:{port}: {exc}") from exc
    print(f"dagcore ui: http://{address}:{port}/ over {ui.store.url}", flush=True)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        server.stop()
        await server.close_all_connections()
        ui.store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dagcore ui`` (a ``dagcore.commands`` plug-in)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        asyncio.run(serve(args.address, args.port, history_url(args.history_url), os.environ, None))
    except KeyboardInterrupt:
        return 130
    except DagcoreError as exc:
        print(f"dagcore ui: {exc}", file=sys.stderr)
        return 2
    return 0
