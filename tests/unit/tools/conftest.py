"""Fixtures for the range tests: outputs under tmp_path and fresh per-class state."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import range_tasks as rt


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every test task's outputs at tmp_path and reset the state classes keep."""
    for cls in (
        rt.RtDaily,
        rt.RtNestedDaily,
        rt.RtRegional,
        rt.RtHourly,
        rt.RtMinutes,
        rt.RtMonthly,
        rt.RtNaive,
        rt.RtCustomComplete,
    ):
        monkeypatch.setattr(cls, "root", str(tmp_path))
    monkeypatch.setattr(rt.RtBulk, "done", set())
    monkeypatch.setattr(rt.RtBulk, "calls", [])
    monkeypatch.setattr(rt.RtCustomComplete, "validated", set())
    monkeypatch.setattr(rt.FlagTarget, "flags", set())
    return tmp_path
