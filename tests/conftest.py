"""Fixtures every test gets: a clean configuration and its own working directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagcore.configuration import reset_config
from dagcore.task_register import Register

_ISOLATED_ENV = ("DAGCORE_CONFIG_PATH", "LUIGI_CONFIG_PATH", "DAGCORE_HISTORY_URL")


@pytest.fixture(autouse=True)
def _clean_dagcore_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """No stray config, environment or cached task instances leak between tests.

    Each test runs in a fresh directory, so ``./dagcore.toml`` and the default history
    database ``.dagcore/history.db`` are its own.
    """
    for name in list(os.environ):
        if name.startswith("DAGCORE__") or name in _ISOLATED_ENV:
            monkeypatch.delenv(name)
    workdir = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(workdir)
    reset_config()
    Register.clear_instance_cache()
    yield workdir
    reset_config()
