"""On Celery too, a missing input or a broken task leaves only its dependents pending."""

from __future__ import annotations

from pathlib import Path

import pytest

import dagcore
from dagcore.summary import StatusCode, Summary
from tests.integration.celery import missing_input_families as m
from tests.integration.celery.conftest import CeleryEnv, StartWorker

MODULE = "tests.integration.celery.missing_input_families"


def test_the_rest_runs_and_the_summary_says_what_did_not(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    start_worker([MODULE], concurrency=2)
    summary = dagcore.build([m.Mixed()], executor="celery", detailed_summary=True)
    assert isinstance(summary, Summary)
    assert summary.status is StatusCode.SCHEDULING_FAILED, summary.summary_text
    assert (tmp_path / "out/fine-1").exists() and (tmp_path / "out/fine-2").exists()
    assert not (tmp_path / "out/needs-not-there").exists()
    assert "had missing dependencies:" in summary.summary_text
    assert "* 2 ran successfully:" in summary.summary_text
    assert "KeyError: 'no such partition' (at " in summary.summary_text
