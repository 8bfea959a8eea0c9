"""``dagcore worker`` options: defaults from the configuration, Celery's options passed on."""

from __future__ import annotations

import pytest

from celery_app.registry import DEFAULT_HANDLER
from celery_app.worker import WorkerOptions, main
from dagcore.errors import ConfigError, ExecutionError
from tests.unit.celery.conftest import SettingsFactory

CONFIG = """
[queues.gpu]
concurrency = 2

[queues.io]
concurrency = 6
"""


def test_defaults(settings_from: SettingsFactory) -> None:
    settings = settings_from(CONFIG)
    options = WorkerOptions.parse(["--module", "pkg.mod"], settings)
    assert options.modules == ("pkg.mod",)
    assert options.queues == tuple(q.name for q in settings.queues)
    assert set(options.queues) == {"default", "gpu", "io"}
    assert options.loglevel == "INFO"
    assert options.handler == DEFAULT_HANDLER
    argv = options.celery_argv(task_events=True)
    assert argv[0] == "worker"
    assert argv[argv.index("--loglevel") + 1] == "INFO"
    assert argv[argv.index("--pool") + 1] == "prefork"
    assert "--task-events" in argv
    assert "--task-events" not in options.celery_argv(task_events=False)


def test_queues_modules_and_concurrency(settings_from: SettingsFactory) -> None:
    settings = settings_from(CONFIG)
    options = WorkerOptions.parse(
        ["--module", "a.b,c.d", "--module", "e", "--queues", "gpu", "-Q", "io,gpu"], settings
    )
    assert options.modules == ("a.b", "c.d", "e")
    assert options.queues == ("gpu", "io")
    assert options.concurrency == 6  # the largest configured concurrency of the queues
    only_gpu = WorkerOptions.parse(["--module", "m", "--queues", "gpu"], settings)
    assert only_gpu.concurrency == 2
    argv = WorkerOptions.parse(["--module", "m", "-Q", "gpu", "-c", "3"], settings).celery_argv(
        task_events=True
    )
    assert argv[argv.index("--queues") + 1] == "gpu"
    assert argv[argv.index("--concurrency") + 1] == "3"


def test_configuration_defaults(settings_from: SettingsFactory) -> None:
    settings = settings_from(
        CONFIG
        + """
[worker]
modules = ["x.tasks", "y.tasks"]
queues = ["io"]
"""
    )
    options = WorkerOptions.parse([], settings)
    assert options.modules == ("x.tasks", "y.tasks")
    assert options.queues == ("io",)


def test_celery_options_pass_through(settings_from: SettingsFactory) -> None:
    settings = settings_from(CONFIG)
    options = WorkerOptions.parse(
        ["--module", "m", "-n", "w1@%h", "--pool", "solo", "--without-gossip", "-l", "DEBUG"],
        settings,
    )
    assert options.celery_args == ("-n", "w1@%h", "--pool", "solo", "--without-gossip")
    argv = options.celery_argv(task_events=True)
    assert argv[argv.index("--loglevel") + 1] == "DEBUG"
    assert argv.count("--pool") == 1 and argv[argv.index("--pool") + 1] == "solo"


def test_errors(settings_from: SettingsFactory) -> None:
    settings = settings_from(CONFIG)
    with pytest.raises(ConfigError, match="no module"):
        WorkerOptions.parse([], settings)
    with pytest.raises(ConfigError, match="no queue named nope.*default, gpu, io"):
        WorkerOptions.parse(["--module", "m", "--queues", "nope"], settings)
    with pytest.raises(ConfigError, match="--detach"):
        WorkerOptions.parse(["--module", "m", "--detach"], settings)
    with pytest.raises(ConfigError, match="at least 1"):
        WorkerOptions.parse(["--module", "m", "-c", "0"], settings)


def test_main_fails_clearly_without_the_handler(settings_from: SettingsFactory) -> None:
    settings_from(CONFIG)
    with pytest.raises(ExecutionError, match="no_such_handler_zz.*cannot be found"):
        main(
            [
                "--module",
                "tests.unit.celery.families_listed",
                "--handler",
                "no_such_handler_zz:handle",
            ]
        )


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--module" in out and "celery worker --help" in out
