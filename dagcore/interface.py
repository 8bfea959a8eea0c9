"""The entry functions: ``build(tasks)`` from Python, ``run(argv)`` for command lines.

Both follow Luigi's signatures. A run is: read settings, resolve the graph into a plan, record
the run in history, execute the plan with the chosen executor, summarise. As in Luigi, a
broken task or a missing external input leaves only what depends on it pending; the rest runs
(``fail_fast`` refuses the whole run instead). ``build`` returns Luigi's boolean: True unless
scheduling failed or a task failed (or, with ``detailed_summary=True``, the
:class:`~dagcore.summary.Summary` with ``.status``, ``.summary_text``, ``.run_id`` and
``.scheduling_succeeded``). Given Luigi's ``worker_scheduler_factory``, ``build`` runs through
:class:`~dagcore.worker.Worker` instead, as Luigi does.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dagcore import execution_summary, notifications
from dagcore.configuration import get_config
from dagcore.configuration.settings import Settings
from dagcore.errors import DagcoreError
from dagcore.executor.base import RunContext, RunResult, load_executor, planned_tasks
from dagcore.graph import Resolver, RoutingRules
from dagcore.history.events import (
    HistoryEvent,
    RunFinished,
    RunStarted,
    RunStatus,
    TasksPlanned,
    utcnow,
)
from dagcore.history.store import SqlHistoryStore
from dagcore.history.writer import HistoryWriter
from dagcore.logging_setup import setup_logging
from dagcore.parameter import BoolParameter, IntParameter, OptionalParameter
from dagcore.plan import Plan, RetryPolicy
from dagcore.progress import Progress
from dagcore.retcodes import retcodes
from dagcore.rpc import RemoteScheduler
from dagcore.scheduler import Scheduler
from dagcore.summary import StatusCode, Summary, summarize
from dagcore.task import Config, Task
from dagcore.worker import Worker, validate_task

__all__ = [
    "RunOptions",
    "build",
    "core",
    "execute_tasks",
    "plan_tasks",
    "routing_rules",
    "run",
    "succeeded",
]

logger = logging.getLogger("dagcore.interface")


class core(Config):  # noqa: N801 - Luigi's config section and class name
    """Luigi's ``[core]`` options as a config class (``core().workers`` and friends).

    dagcore reads its own ``[core]`` keys through :class:`~dagcore.configuration.settings.Settings`;
    this class is for code written for Luigi that asks for these values.
    """

    local_scheduler = BoolParameter(default=False)
    scheduler_host = OptionalParameter(default="localhost")
    scheduler_port = IntParameter(
        default=8082, config_path={"section": "core", "name": "default-scheduler-port"}
    )
    scheduler_url = OptionalParameter(default="")
    lock_size = IntParameter(default=1)
    no_lock = BoolParameter(default=False)
    lock_pid_dir = OptionalParameter(default=None)
    take_lock = BoolParameter(default=False)
    workers = IntParameter(default=1)
    logging_conf_file = OptionalParameter(default="")
    log_level = OptionalParameter(default="DEBUG")
    module = OptionalParameter(default="")
    parallel_scheduling = BoolParameter(default=False)
    parallel_scheduling_processes = IntParameter(default=0)
    assistant = BoolParameter(default=False)
    help = BoolParameter(default=False)
    help_all = BoolParameter(default=False)


class _WorkerSchedulerFactory:
    """Makes the scheduler and the worker of a run on Luigi's worker path."""

    def create_local_scheduler(self) -> Scheduler:
        return Scheduler(prune_on_get_work=True, record_task_history=False)

    def create_remote_scheduler(self, url: str) -> RemoteScheduler:
        return RemoteScheduler(url)

    def create_worker(
        self, scheduler: Any, worker_processes: int, assistant: bool = False
    ) -> Worker:
        return Worker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)


def _schedule_and_run(
    tasks: Sequence[Task], factory: Any, workers: int
) -> execution_summary.LuigiRunResult:
    """Luigi's worker path: one scheduler, one worker, add every task, run."""
    scheduler = factory.create_local_scheduler()
    worker = factory.create_worker(scheduler=scheduler, worker_processes=workers)
    with worker:
        success = True
        for task in tasks:
            success &= bool(worker.add(task))
        logger.info("Done scheduling tasks")
        success &= bool(worker.run())
    result = execution_summary.LuigiRunResult(worker, success)
    logger.info(result.summary_text)
    return result


def routing_rules(settings: Settings) -> RoutingRules:
    """Queue routing and scheduling defaults from ``[queues.*]``, ``[core]`` and ``[worker]``."""
    class_to_queue: dict[str, str] = {}
    resource_to_queue: dict[str, str] = {}
    for queue in settings.queues:
        class_to_queue.setdefault(queue.name, queue.name)
        for resource_class in queue.resource_classes:
            class_to_queue[resource_class] = queue.name
        for resource in queue.resources:
            resource_to_queue.setdefault(resource, queue.name)
    names = [queue.name for queue in settings.queues]
    default = "default" if "default" in names or not names else names[0]
    core = settings.core
    return RoutingRules(
        class_to_queue=class_to_queue,
        resource_to_queue=resource_to_queue,
        default_queue=default,
        retry=RetryPolicy(core.retry_count, core.retry_delay, core.retry_backoff),
        timeout=float(settings.worker.timeout) or None,
    )


def plan_tasks(tasks: Iterable[Task], settings: Settings | None = None) -> Plan:
    """Resolve ``tasks`` into a plan without running anything (``dagcore graph``)."""
    settings = settings or Settings.from_config()
    resolver = Resolver(routing_rules(settings), settings.core.complete_check_threads)
    return resolver.resolve(tasks)


@dataclass
class RunOptions:
    """How one run is executed (the arguments ``build`` and ``dagcore run`` share).

    Parameters:
        workers: parallelism (None: ``[core] workers``).
        executor: "local" or "celery" (None: ``[core] executor``).
        resources: capacities overriding ``[resources]``.
        history: record the run in the history store.
        progress: show a progress display on stderr.
        command: what started the run, for the history.
        extra: further executor options (``detach`` for celery, ...).
        fail_fast: refuse the whole run if a task is broken, an external input is missing or
            there is a cycle (None: ``[core] fail_fast``, off by default: as Luigi, run
            everything that does not depend on them).
    """

    workers: int | None = None
    executor: str | None = None
    resources: dict[str, int] = field(default_factory=dict)
    history: bool = True
    progress: bool = False
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    fail_fast: bool | None = None


class _Recorder:
    """The history side of a run: a writer if the store opens, else a logged no-op."""

    def __init__(self, settings: Settings, enabled: bool) -> None:
        self.writer: HistoryWriter | None = None
        self.store: SqlHistoryStore | None = None
        self.url = settings.history.url
        if not enabled:
            return
        try:
            self.store = SqlHistoryStore.from_url(self.url)
            self.writer = HistoryWriter(self.store)
        except DagcoreError as exc:  # a broken history store must not stop the pipeline
            logger.warning("Run history disabled: %s", exc)

    def emit(self, event: HistoryEvent) -> None:
        if self.writer is not None:
            self.writer.emit(event)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.store is not None:
            self.store.close()


def execute_tasks(tasks: Sequence[Task], options: RunOptions) -> Summary:
    """Resolve, record, execute and summarise one run."""
    settings = Settings.from_config()
    executor_name = options.executor or settings.core.executor
    workers = options.workers or settings.core.workers
    capacities = {**settings.resources, **options.resources}
    run_id = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dagcore-history-open") as pool:
        # Opening the history database (a connection, the schema check) overlaps resolving.
        opening = pool.submit(_Recorder, settings, options.history)
        try:
            plan = plan_tasks(tasks, settings)
        except BaseException:
            opening.result().close()
            raise
        recorder = opening.result()
    try:
        recorder.emit(
            RunStarted(
                run_id=run_id,
                started_at=utcnow(),
                user=_user(),
                host=socket.gethostname(),
                command=options.command or " ".join(sys.argv),
                root_tasks=[plan.label(t) for t in plan.roots],
                executor=executor_name,
            )
        )
        recorder.emit(TasksPlanned(run_id, planned_tasks(plan, plan.nodes)))
        result: RunResult | None = None
        fail_fast = _fail_fast() if options.fail_fast is None else options.fail_fast
        logger.info(
            "Run %s: %d tasks planned, %d to run (executor %s)",
            run_id,
            len(plan.nodes),
            len(plan.to_run()),
            executor_name,
        )
        _report_problems(plan, fail_fast)
        if plan.ok or not fail_fast:
            result = _execute(
                plan, run_id, executor_name, workers, capacities, settings, options, recorder
            )
        if result is not None and result.finished is None:
            # Detached: the run goes on without us; `dagcore status RUN_ID` follows it.
            return _submitted(plan, run_id)
        summary = summarize(result, plan, run_id, retcodes())
        recorder.emit(
            RunFinished(
                run_id=run_id,
                finished_at=utcnow(),
                status=RunStatus(summary.status.name),
                exit_code=summary.exit_code,
                summary_text=summary.summary_text,
            )
        )
    finally:
        recorder.close()
    return summary


def _fail_fast() -> bool:
    """``[core] fail_fast``: refuse the whole run when part of the plan cannot run."""
    return bool(get_config().getboolean("core", "fail_fast", False))


def _report_problems(plan: Plan, fail_fast: bool) -> None:
    """Log what will not run and why, with the traceback of a requires()/complete() that raised."""
    for task_id, error in plan.broken.items():
        logger.warning(
            "Will not run %s or any task that requires it: %s", plan.label(task_id), error.strip()
        )
        task = plan.tasks.get(task_id)
        if task is not None:
            notifications.notify_broken_task(task, error)
    for task_id in plan.missing:
        logger.warning(
            "Data for %s does not exist (yet?). The task is an external data dependency, so it "
            "cannot be run from this process; the tasks that require it stay pending.",
            plan.label(task_id),
        )
    if plan.cycle:
        logger.error("Dependency cycle: %s", " -> ".join(plan.label(t) for t in plan.cycle))
    if fail_fast and not plan.ok:
        logger.error(
            "Not running anything: %d problem(s) in the plan and fail_fast is on "
            "(--fail-fast or [core] fail_fast)",
            len(plan.problems()),
        )


def _submitted(plan: Plan, run_id: str) -> Summary:
    text = (
        f"Submitted run {run_id} ({len(plan.to_run())} tasks to run); follow it with: "
        f"dagcore status {run_id}"
    )
    return Summary(
        status=StatusCode.SUCCESS,
        summary_text=text,
        run_id=run_id,
        exit_code=0,
        scheduling_succeeded=True,
    )


def _execute(
    plan: Plan,
    run_id: str,
    executor_name: str,
    workers: int,
    capacities: dict[str, int],
    settings: Settings,
    options: RunOptions,
    recorder: _Recorder,
) -> RunResult:
    executor = load_executor(
        executor_name,
        workers=workers,
        rules=routing_rules(settings),
        complete_check_threads=settings.core.complete_check_threads,
        settings=settings,
        **options.extra,
    )
    progress = Progress(len(plan.nodes)) if options.progress else None
    context = RunContext(
        run_id=run_id,
        history=recorder,
        on_progress=progress.update if progress is not None else None,
        resources=capacities,
        workers=workers,
    )
    try:
        return executor.execute(plan, context)
    finally:
        if progress is not None:
            progress.close()


def build(
    tasks: Iterable[Task],
    worker_scheduler_factory: Any = None,
    detailed_summary: bool = False,
    *,
    workers: int | None = None,
    local_scheduler: bool = True,
    log_level: str | None = None,
    executor: str | None = None,
    resources: dict[str, int] | None = None,
    fail_fast: bool | None = None,
    **env_params: Any,
) -> Any:
    """Run ``tasks`` and everything they require, like ``luigi.build``.

    Parameters:
        tasks: task instances to complete.
        worker_scheduler_factory: Luigi's factory of scheduler and worker; when given, the run
            goes through :class:`~dagcore.worker.Worker` as in Luigi (no history, no Celery).
        detailed_summary: return the :class:`~dagcore.summary.Summary` instead of a bool.
        workers: parallelism (local: processes; celery: a hint).
        local_scheduler: accepted for Luigi compatibility (there is no central scheduler).
        log_level: configure dagcore's logging at this level.
        executor: "local" (default) or "celery".
        resources: resource capacities overriding ``[resources]``.
        fail_fast: refuse to run anything if part of the plan cannot run (None: ``[core]
            fail_fast``; by default everything that can run runs, as in Luigi).
        env_params: further Luigi options; unknown ones are ignored with a log line.

    Returns:
        True if every task is complete at the end (Luigi's ``build``), or the Summary.
    """
    del local_scheduler
    if log_level is not None:
        setup_logging(level=log_level)
    if worker_scheduler_factory is not None:
        # Code that brings its own factory wants Luigi's worker and scheduler objects.
        luigi_result = _schedule_and_run(list(tasks), worker_scheduler_factory, workers or 1)
        return luigi_result if detailed_summary else luigi_result.scheduling_succeeded
    extra = {k: v for k, v in env_params.items() if k in _EXECUTOR_OPTIONS}
    ignored = sorted(set(env_params) - set(extra))
    if ignored:
        logger.debug("build(): ignoring options dagcore does not use: %s", ", ".join(ignored))
    task_list = list(tasks)
    for task in task_list:
        validate_task(task)
    summary = execute_tasks(
        task_list,
        RunOptions(
            workers=workers,
            executor=executor,
            resources=dict(resources or {}),
            command="build(" + ", ".join(repr(t) for t in task_list) + ")",
            extra=extra,
            fail_fast=fail_fast,
        ),
    )
    logger.info(summary.summary_text)
    return summary if detailed_summary else succeeded(summary)


_EXECUTOR_OPTIONS = frozenset({"detach", "timeout"})


def run(*args: Any, **kwargs: Any) -> Any:
    """Luigi's ``luigi.interface.run``: the same function as :func:`dagcore.run`."""
    from dagcore.cli import run as cli_run  # the CLI module imports this one

    return cli_run(*args, **kwargs)


def succeeded(summary: Summary) -> bool:
    """Luigi's boolean result of ``build``/``run``: no scheduling error and no failed task.

    As in Luigi, a run whose only problem is a missing external input returns True (its
    summary status is MISSING_EXT and the ``[retcode] missing_data`` code says so).
    """
    return summary.scheduling_succeeded


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")
