"""Luigi's luigi.cfg / client.cfg / luigi.toml keep working, with warnings for what is ignored."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from luigi.configuration import LuigiConfigParser

from dagcore.configuration import UnknownConfigKeyWarning, get_config, reset_config
from dagcore.configuration.settings import CoreSettings, RetcodeSettings, WorkerSettings, resources

Write = Callable[[str, str], Path]

LUIGI_CFG = """
[core]
workers = 3
log_level = WARNING
local_scheduler = true

[worker]
timeout = 600
check_complete_on_run = true

[resources]
gpu = 2
db_connections = 10

[retcode]
task_failed = 3
missing_data = 5

[Transform]
date = 2024-01-01
"""


def test_luigi_cfg_gives_settings_and_parameter_defaults(write_file: Write) -> None:
    write_file("luigi.cfg", LUIGI_CFG)
    cfg = get_config()
    core = CoreSettings.from_config()
    assert (core.workers, core.log_level) == (3, "WARNING")
    worker = WorkerSettings.from_config()
    assert (worker.timeout, worker.check_complete_on_run) == (600, True)
    assert resources() == {"gpu": 2, "db_connections": 10}
    retcode = RetcodeSettings.from_config()
    assert (retcode.task_failed, retcode.missing_data) == (3, 5)
    assert cfg.get("Transform", "date") == "2024-01-01"
    # local_scheduler asks Luigi for what dagcore always does: accepted silently, not kept.
    assert not cfg.has_option("core", "local_scheduler")


def test_values_match_luigis_own_parser(write_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE_TEST_BUCKET", "s3://bucket")
    path = write_file(
        "luigi.cfg",
        """
        [DEFAULT]
        root = /data

        [Transform]
        date = 2024-01-01
        input = %(root)s/in
        output = ${DAGCORE_TEST_BUCKET}/out
        ratio = 0.5
        percent = 10%%
        flag_a = yes
        flag_b = off
        flag_c = 1
        multi = first
            second
        """,
    )
    # Luigi is untyped; Any keeps mypy --strict quiet about its methods.
    luigi_parser: Any = LuigiConfigParser()
    luigi_parser.read([str(path)])
    cfg = get_config()
    for key in ("date", "input", "output", "ratio", "percent", "multi"):
        assert cfg.get("Transform", key) == luigi_parser.get("Transform", key), key
    for key in ("flag_a", "flag_b", "flag_c"):
        assert cfg.getboolean("Transform", key) == luigi_parser.getboolean("Transform", key)
    assert cfg.getfloat("Transform", "ratio") == luigi_parser.getfloat("Transform", "ratio")


def test_client_cfg_is_read_below_luigi_cfg(write_file: Write) -> None:
    write_file("client.cfg", "[Transform]\na = client\nb = client\n")
    write_file("luigi.cfg", "[Transform]\nb = luigi\n")
    cfg = get_config()
    assert (cfg.get("Transform", "a"), cfg.get("Transform", "b")) == ("client", "luigi")


def test_luigi_toml_keeps_types(write_file: Write) -> None:
    write_file(
        "luigi.toml",
        """
        [core]
        workers = 4
        [resources]
        gpu = 1
        [Transform]
        limit = 10
        """,
    )
    cfg = get_config()
    assert cfg.get("core", "workers") == 4
    assert cfg.get("Transform", "limit") == 10
    assert resources() == {"gpu": 1}


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("core", "default-scheduler-host"),
        ("core", "no_lock"),
        ("worker", "keep_alive"),
        ("retcode", "everything_ok"),
    ],
)
def test_unknown_keys_in_known_sections_warn_and_are_dropped(
    write_file: Write, section: str, key: str
) -> None:
    write_file("luigi.cfg", f"[{section}]\n{key} = 1\n")
    normalised = key.replace("-", "_")
    with pytest.warns(
        UnknownConfigKeyWarning, match=rf"^luigi\.cfg \[{section}\] {normalised}: not a dagcore"
    ):
        cfg = get_config()
    assert not cfg.has_option(section, key)


def test_each_unknown_key_warns_once(write_file: Write) -> None:
    write_file("luigi.cfg", "[core]\nno_lock = true\nlock_size = 2\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cfg = get_config()
        cfg.reload()
        cfg.reload()
    messages = sorted(str(w.message).split(":")[0] for w in caught)
    assert messages == ["luigi.cfg [core] lock_size", "luigi.cfg [core] no_lock"]
    assert all(w.category is UnknownConfigKeyWarning for w in caught)
    reset_config()
    with pytest.warns(UnknownConfigKeyWarning):
        get_config()


def test_unknown_keys_in_dagcore_toml_warn_too(write_file: Write) -> None:
    write_file("dagcore.toml", "[celery]\nbroker = 'redis://x'\n[queues.gpu]\nconcurency = 2\n")
    with pytest.warns(UnknownConfigKeyWarning) as record:
        cfg = get_config()
    by_key = {str(w.message).split(":")[0]: str(w.message) for w in record}
    assert sorted(by_key) == [
        "dagcore.toml [celery] broker",
        "dagcore.toml [queues.gpu] concurency",
    ]
    assert (
        "known keys in [queues.gpu]: concurrency," in by_key["dagcore.toml [queues.gpu] concurency"]
    )
    assert not cfg.has_option("celery", "broker")


def test_dagcore_only_sections_are_ignored_in_luigi_files(write_file: Write) -> None:
    write_file(
        "luigi.cfg", "[celery]\nbroker_url = redis://x:6379/0\n[queues.gpu]\nconcurrency = 1\n"
    )
    with pytest.warns(UnknownConfigKeyWarning, match="Move it to dagcore.toml") as record:
        cfg = get_config()
    assert len(record) == 2
    assert not cfg.has_section("celery")
    assert not cfg.has_section("queues.gpu")


def test_legacy_core_worker_timeout_moves_to_worker_section(write_file: Write) -> None:
    write_file("luigi.cfg", "[core]\nworker-timeout = 120\n")
    assert WorkerSettings.from_config().timeout == 120
    assert not get_config().has_option("core", "worker_timeout")


def test_worker_section_wins_over_the_legacy_spelling(write_file: Write) -> None:
    write_file("luigi.cfg", "[core]\nworker-timeout = 120\n[worker]\ntimeout = 30\n")
    assert WorkerSettings.from_config().timeout == 30


def test_task_family_sections_pass_through_untouched(write_file: Write) -> None:
    write_file("luigi.cfg", "[scheduler]\nretry_delay = 900\n[MyConfig]\nanything-goes = x\n")
    cfg = get_config()
    assert cfg.get("scheduler", "retry_delay") == "900"
    # Luigi's deprecation of dashed option names in INI files.
    with pytest.warns(DeprecationWarning, match=r"\[MyConfig\] anything-goes \(with dashes\)"):
        assert cfg.get("MyConfig", "anything_goes") == "x"
