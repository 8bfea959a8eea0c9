"""Fixtures giving every parameter test an empty configuration and a fresh task cache."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagcore.configuration import reset_config
from dagcore.task_register import Register

# Variables that feed the configuration; a developer's shell must not leak into the tests.
_CONFIG_VARIABLE_PREFIXES = ("DAGCORE_", "LUIGI_CONFIG")


@pytest.fixture(autouse=True)
def clean_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty working directory, with no config variables and no cached tasks."""
    for name in list(os.environ):
        if name.startswith(_CONFIG_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_config()
    Register.clear_instance_cache()
    yield tmp_path
    reset_config()
    Register.clear_instance_cache()
