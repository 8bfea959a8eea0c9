"""Fixtures of the Celery unit tests: settings from a private dagcore.toml, no services."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from dagcore.configuration import reset_config
from dagcore.configuration.settings import Settings

SettingsFactory = Callable[[str], Settings]


@pytest.fixture
def settings_from(monkeypatch: pytest.MonkeyPatch) -> SettingsFactory:
    """Return ``make(toml)``: write ``./dagcore.toml`` and read the settings from it.

    The working directory is the test's own (see tests/conftest.py); the broker URL variable
    is removed so the file decides.
    """
    monkeypatch.delenv("DAGCORE_BROKER_URL", raising=False)

    def make(text: str) -> Settings:
        Path("dagcore.toml").write_text(textwrap.dedent(text), encoding="utf-8")
        reset_config()
        return Settings.from_config()

    return make
