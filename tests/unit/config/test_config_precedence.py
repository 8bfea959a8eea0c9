"""Which source wins: set() > environment > added files > dagcore.toml > Luigi's files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dagcore.configuration import (
    ConfigWarning,
    DagcoreConfig,
    UnknownConfigKeyWarning,
    add_config_path,
    get_config,
    reset_config,
)
from dagcore.errors import ConfigError

Write = Callable[[str, str], Path]


def test_no_files_gives_an_empty_configuration() -> None:
    cfg = get_config()
    assert cfg.sections() == []
    assert cfg.origins == []


def test_get_config_is_process_wide_until_reset() -> None:
    first = get_config()
    assert get_config() is first
    reset_config()
    assert get_config() is not first


def test_dagcore_toml_beats_luigi_files(write_file: Write) -> None:
    write_file("client.cfg", "[Transform]\na = client\nb = client\nc = client\nd = client\n")
    write_file("luigi.cfg", "[Transform]\nb = luigi.cfg\nc = luigi.cfg\nd = luigi.cfg\n")
    write_file("luigi.toml", "[Transform]\nc = 'luigi.toml'\nd = 'luigi.toml'\n")
    write_file("dagcore.toml", "[Transform]\nd = 'dagcore.toml'\n")
    cfg = get_config()
    assert [cfg.get("Transform", key) for key in "abcd"] == [
        "client",
        "luigi.cfg",
        "luigi.toml",
        "dagcore.toml",
    ]
    assert [cfg.source("Transform", key) for key in "abcd"] == [
        "client.cfg",
        "luigi.cfg",
        "luigi.toml",
        "dagcore.toml",
    ]
    assert cfg.origins == ["client.cfg", "luigi.cfg", "luigi.toml", "dagcore.toml"]


def test_environment_beats_dagcore_toml(write_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    write_file(
        "dagcore.toml",
        """
        [core]
        workers = 2
        log_level = "INFO"
        [celery]
        broker_url = "redis://file:6379/0"
        [history]
        url = "sqlite:///file.db"
        """,
    )
    monkeypatch.setenv("DAGCORE__CORE__WORKERS", "8")
    monkeypatch.setenv("DAGCORE_BROKER_URL", "redis://env:6379/1")
    monkeypatch.setenv("DAGCORE_HISTORY_URL", "postgresql://env/history")
    cfg = get_config()
    assert cfg.getint("core", "workers") == 8
    assert cfg.source("core", "workers") == "DAGCORE__CORE__WORKERS"
    assert cfg.get("core", "log_level") == "INFO"
    assert cfg.get("celery", "broker_url") == "redis://env:6379/1"
    assert cfg.source("celery", "broker_url") == "DAGCORE_BROKER_URL"
    assert cfg.get("history", "url") == "postgresql://env/history"
    assert cfg.origins == ["dagcore.toml", "environment"]


def test_url_shortcuts_beat_the_generic_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE__CELERY__BROKER_URL", "redis://generic:6379/0")
    monkeypatch.setenv("DAGCORE_BROKER_URL", "redis://shortcut:6379/0")
    assert get_config().get("celery", "broker_url") == "redis://shortcut:6379/0"


def test_empty_url_shortcut_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE_BROKER_URL", "  ")
    assert not get_config().has_option("celery", "broker_url")


def test_generic_environment_scheme_reaches_queue_and_resource_sections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGCORE__QUEUES__GPU__CONCURRENCY", "2")
    monkeypatch.setenv("DAGCORE__RESOURCES__GPU", "4")
    cfg = get_config()
    assert cfg.get("queues.gpu", "concurrency") == "2"
    assert cfg.getintdict("resources") == {"gpu": 4}


def test_environment_cannot_set_task_families(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE__TRANSFORM__DATE", "2024-01-01")
    with pytest.warns(UnknownConfigKeyWarning, match="DAGCORE__TRANSFORM__DATE.*not one of"):
        cfg = get_config()
    assert not cfg.has_section("transform")


def test_malformed_environment_variable_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE__WORKERS", "4")
    with pytest.warns(UnknownConfigKeyWarning, match="DAGCORE__SECTION__KEY"):
        assert get_config().sections() == []


def test_set_beats_everything_and_survives_reload(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("dagcore.toml", "[core]\nworkers = 2\n")
    monkeypatch.setenv("DAGCORE__CORE__WORKERS", "3")
    cfg = get_config()
    cfg.set("core", "workers", 5)
    cfg.set("Transform", "param-name", "cli")
    assert cfg.getint("core", "workers") == 5
    assert cfg.source("core", "workers") == "set()"
    write_file("dagcore.toml", "[core]\nworkers = 7\n[Load]\ntable = 'new'\n")
    cfg.reload()
    assert cfg.getint("core", "workers") == 5
    with pytest.warns(DeprecationWarning, match="should be avoided. Please use underscores"):
        assert cfg.get("Transform", "param_name") == "cli"
    assert cfg.get("Load", "table") == "new"


def test_reset_config_forgets_overrides() -> None:
    get_config().set("core", "workers", 5)
    reset_config()
    assert not get_config().has_option("core", "workers")


def test_dagcore_config_path_replaces_the_local_file(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("dagcore.toml", "[Transform]\na = 'local'\nb = 'local'\n")
    other = write_file("conf/prod.conf", "[Transform]\na = 'prod'\n")
    monkeypatch.setenv("DAGCORE_CONFIG_PATH", str(other))
    cfg = get_config()
    # The variable's file is TOML whatever its extension, and ./dagcore.toml is not read.
    assert cfg.get("Transform", "a") == "prod"
    assert not cfg.has_option("Transform", "b")
    assert cfg.origins == [str(other)]


@pytest.mark.parametrize("variable", ["DAGCORE_CONFIG_PATH", "LUIGI_CONFIG_PATH"])
def test_config_path_variable_naming_a_missing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "missing.toml")
    with pytest.raises(ConfigError, match=rf"{variable}=missing\.toml: no such"):
        get_config()


def test_luigi_config_path_is_above_local_luigi_files(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("luigi.cfg", "[Transform]\na = local\nb = local\n")
    write_file("dagcore.toml", "[Transform]\nb = 'dagcore'\n")
    extra = write_file("etc/luigi-extra.toml", "[Transform]\na = 'extra'\nb = 'extra'\n")
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(extra))
    cfg = get_config()
    assert cfg.get("Transform", "a") == "extra"
    assert cfg.get("Transform", "b") == "dagcore"


def test_add_config_path_reloads_and_sits_above_dagcore_toml(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("dagcore.toml", "[Transform]\na = 'dagcore'\nb = 'dagcore'\n")
    added = write_file("extra.cfg", "[Transform]\na = added\nb = added\n[core]\nworkers = 3\n")
    monkeypatch.setenv("DAGCORE__CORE__WORKERS", "9")
    cfg = get_config()
    assert cfg.get("Transform", "a") == "dagcore"
    assert add_config_path(added) is True
    assert cfg.get("Transform", "a") == "added"
    assert cfg.getint("core", "workers") == 9
    reset_config()
    assert get_config().get("Transform", "a") == "dagcore"


def test_add_config_path_of_a_missing_file_warns_and_returns_false() -> None:
    with pytest.warns(ConfigWarning, match="does not exist"):
        assert add_config_path("nowhere.cfg") is False


def test_standalone_config_starts_empty() -> None:
    cfg = DagcoreConfig()
    assert cfg.sections() == []
    cfg.set("Transform", "a", "1")
    assert cfg.getint("Transform", "a") == 1


def test_unknown_key_from_environment_warns_with_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGCORE__CORE__WORKRS", "4")
    with pytest.warns(
        UnknownConfigKeyWarning,
        match=r"^environment variable DAGCORE__CORE__WORKRS \(\[core\] workrs\): not a dagcore",
    ):
        cfg = get_config()
    assert not cfg.has_option("core", "workrs")


def test_scalar_directly_under_queues_warns(write_file: Write) -> None:
    write_file("dagcore.toml", "[queues]\nconcurrency = 2\n[queues.gpu]\nconcurrency = 1\n")
    with pytest.warns(UnknownConfigKeyWarning, match=r"holds only \[queues\.NAME\] tables"):
        cfg = get_config()
    assert cfg.get("queues.gpu", "concurrency") == 1
