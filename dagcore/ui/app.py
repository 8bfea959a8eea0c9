"""The tornado application of ``dagcore ui``: JSON API handlers and the pages.

Database reads run on a thread pool so that a slow query never stalls other requests. Every
handler, static files included, checks the basic-auth login first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import tornado.web
from sqlalchemy import Engine
from tornado.ioloop import IOLoop

from dagcore.errors import DagcoreError
from dagcore.history.store import SqlHistoryStore
from dagcore.ui import queries
from dagcore.ui.auth import allowed
from dagcore.ui.logs import attempt_log

__all__ = ["STATIC_DIR", "UiSettings", "make_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_T = TypeVar("_T")


class UiSettings:
    """What the handlers share: the history store, the logins and the Flower URL."""

    def __init__(
        self, store: SqlHistoryStore, logins: Sequence[str] = (), flower_url: str | None = None
    ) -> None:
        self.store = store
        self.logins = tuple(logins)
        self.flower_url = flower_url.rstrip("/") if flower_url else None

    @property
    def engine(self) -> Engine:
        """The history database's engine (migrated on first use)."""
        self.store.migrate()
        return self.store.engine


def _check_login(handler: tornado.web.RequestHandler, settings: UiSettings) -> None:
    if allowed(handler.request.headers.get("Authorization"), settings.logins):
        return
    handler.set_status(401)
    handler.set_header("WWW-Authenticate", 'Basic realm="dagcore ui"')
    handler.finish("401: login required")


class _Base(tornado.web.RequestHandler):
    hui: UiSettings

    def initialize(self, ui: UiSettings) -> None:
        self.hui = ui

    def prepare(self) -> None:
        _check_login(self, self.hui)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")


class _Api(_Base):
    async def read(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await IOLoop.current().run_in_executor(None, fn, self.hui.engine, *args)
        except DagcoreError as exc:
            raise tornado.web.HTTPError(503, reason=str(exc).splitlines()[0][:200]) from exc

    def reply(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value, separators=(",", ":")))

    def time_arg(self, name: str) -> Any:
        try:
            return queries.parse_time(self.get_query_argument(name, None))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason=f"{name}: not an ISO 8601 time") from exc

    async def run_or_404(self, run_id: str) -> dict[str, Any]:
        run = await self.read(queries.get_run, run_id)
        if run is None:
            raise tornado.web.HTTPError(404, reason=f"no run {run_id}")
        return run


class RunsHandler(_Api):
    """``/api/runs``: the runs, newest first; filters ``status``, ``family``, ``executor``,
    ``since``, ``until`` (ISO times) and ``limit``."""

    async def get(self) -> None:
        try:
            limit = int(self.get_query_argument("limit", "100"))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason="limit: not a number") from exc
        filters = queries.RunFilter(
            status=self.get_query_argument("status", None) or None,
            family=self.get_query_argument("family", None) or None,
            executor=self.get_query_argument("executor", None) or None,
            since=self.time_arg("since"),
            until=self.time_arg("until"),
            limit=limit,
        )
        self.reply(await self.read(queries.list_runs, filters))


class RunHandler(_Api):
    """``/api/runs/RUN_ID``: the run, its tasks and its attempts (``limit``/``offset`` page
    through the tasks of a large run)."""

    async def get(self, run_id: str) -> None:
        run = await self.run_or_404(run_id)
        try:
            raw = self.get_query_argument("limit", None)
            limit = None if raw is None else max(1, int(raw))
            offset = max(0, int(self.get_query_argument("offset", "0")))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason="limit and offset are numbers") from exc
        detail = await self.read(queries.run_detail, run["run_id"], limit, offset)
        self.reply({"run": run, **detail})


class SummaryHandler(_Api):
    """``/api/runs/RUN_ID/summary``: the run alone, with its task counts."""

    async def get(self, run_id: str) -> None:
        self.reply(await self.run_or_404(run_id))


class GraphHandler(_Api):
    """``/api/runs/RUN_ID/graph``: the DAG in compact form, with a cursor for deltas."""

    async def get(self, run_id: str) -> None:
        run = await self.run_or_404(run_id)
        graph = await self.read(queries.run_graph, run["run_id"])
        self.reply({"run": run, **graph})


class DeltaHandler(_Api):
    """``/api/runs/RUN_ID/delta?since=CURSOR``: tasks whose status changed since the cursor."""

    async def get(self, run_id: str) -> None:
        self.reply(await self.read(queries.run_delta, run_id, self.time_arg("since")))


class TimelineHandler(_Api):
    """``/api/runs/RUN_ID/timeline``: the attempts as Gantt bars per host and worker."""

    async def get(self, run_id: str) -> None:
        self.reply(await self.read(queries.run_timeline, run_id))


class TaskHandler(_Api):
    """``/api/task?run=RUN_ID&task=TASK_ID``: a task, its attempts, logs and neighbours."""

    async def get(self) -> None:
        run_id = self.get_query_argument("run")
        task_id = self.get_query_argument("task")
        detail = await self.read(queries.task_detail, run_id, task_id)
        if detail is None:
            raise tornado.web.HTTPError(404, reason="no such task in this run")
        for attempt in detail["attempts"]:
            attempt["log"] = await self.read(attempt_log, run_id, task_id, attempt["attempt"])
            celery_id = attempt.get("celery_id")
            attempt["flower_url"] = (
                f"{self.hui.flower_url}/task/{quote(celery_id, safe='')}"
                if self.hui.flower_url and celery_id
                else None
            )
        self.reply(detail)


class LineageHandler(_Api):
    """``/api/lineage?uri=URI``: what produced a target from what, across runs."""

    async def get(self) -> None:
        uri = self.get_query_argument("uri")
        try:
            depth = int(self.get_query_argument("depth", "20"))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, reason="depth: not a number") from exc
        store = self.hui.store

        def walk(_engine: Engine) -> dict[str, Any]:
            return queries.lineage_graph(store.lineage(uri, max_depth=depth))

        self.reply(await self.read(walk))


class PageHandler(_Base):
    """One of the HTML pages (the page's script reads the rest of the URL)."""

    def initialize(self, ui: UiSettings, page: str = "runs.html") -> None:
        super().initialize(ui)
        self.page = page

    def get(self, *_args: str) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((STATIC_DIR / self.page).read_bytes())


class NoIconHandler(_Base):
    """``/favicon.ico``: none (browsers ask for it on every page)."""

    def get(self) -> None:
        self.set_status(204)
        self.finish()


class HealthHandler(tornado.web.RequestHandler):
    """``/healthz``: ``ok`` without a login, for probes (it reads nothing)."""

    def get(self) -> None:
        self.finish("ok")


class StaticHandler(tornado.web.StaticFileHandler):
    """The page scripts, styles and vendored libraries, behind the same login."""

    def initialize(self, path: str, ui: UiSettings) -> None:  # type: ignore[override]
        super().initialize(path)
        self.hui = ui

    def prepare(self) -> None:
        _check_login(self, self.hui)


def make_app(ui: UiSettings) -> tornado.web.Application:
    """The application: the API under ``/api/``, pages, and ``/static/``."""
    run = r"/api/runs/([^/]+)"
    args = {"ui": ui}
    return tornado.web.Application(
        [
            (r"/api/runs/?", RunsHandler, args),
            (run + r"/graph", GraphHandler, args),
            (run + r"/delta", DeltaHandler, args),
            (run + r"/summary", SummaryHandler, args),
            (run + r"/timeline", TimelineHandler, args),
            (run, RunHandler, args),
            (r"/api/task", TaskHandler, args),
            (r"/api/lineage", LineageHandler, args),
            (r"/", PageHandler, {**args, "page": "runs.html"}),
            (r"/runs/([^/]+)", PageHandler, {**args, "page": "run.html"}),
            (r"/task", PageHandler, {**args, "page": "task.html"}),
            (r"/lineage", PageHandler, {**args, "page": "lineage.html"}),
            (r"/favicon.ico", NoIconHandler, args),
            (r"/healthz", HealthHandler),
            (r"/static/(.*)", StaticHandler, {"path": str(STATIC_DIR), "ui": ui}),
        ],
        compress_response=True,
    )
