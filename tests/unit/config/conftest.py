"""Fixtures that give every configuration test a clean, private configuration."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dagcore.configuration import reset_config

# Variables that feed the configuration; a developer's shell must not leak into the tests.
_CONFIG_VARIABLE_PREFIXES = ("DAGCORE_", "LUIGI_CONFIG")


@pytest.fixture(autouse=True)
def clean_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run the test in an empty working directory, with no config variables, nothing loaded."""
    for name in list(os.environ):
        if name.startswith(_CONFIG_VARIABLE_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_config()
    yield tmp_path
    reset_config()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Return ``write(name, text)``: write dedented ``text`` under the test's directory."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write
