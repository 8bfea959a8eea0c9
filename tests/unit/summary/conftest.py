"""Each summary test starts with empty task scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import luigi_twins, tasks


@pytest.fixture(autouse=True)
def _fresh_scripts() -> Iterator[None]:
    for module in (tasks, luigi_twins):
        module.COMPLETE.clear()
        module.FAILING.clear()
        module.CHILDREN.clear()
    luigi_twins.RAN.clear()
    yield
