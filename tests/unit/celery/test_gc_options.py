"""``dagcore gc`` options: the ``--older-than`` duration and its errors."""

from __future__ import annotations

import socket

import pytest

from celery_app.gc import format_duration, main, parse_duration
from dagcore.errors import ConfigError, DagcoreError
from tests.unit.celery.conftest import SettingsFactory


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1d", 86400),
        ("12h", 43200),
        ("30m", 1800),
        ("0", 0),
        ("45s", 45),
        ("2w", 14 * 86400),
        ("1d12h", 86400 + 43200),
        ("1H30M", 5400),
        (" 1d ", 86400),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "3x", "-1d", "1.5h", "d", "1 d", "0d1", "forever"])
def test_bad_durations_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    message = str(caught.value)
    assert f"--older-than {text!r}" in message
    assert "30m, 12h, 1d" in message and "or 0" in message and "\n" not in message


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (86400, "1d"), (5400, "1h30m"), (7 * 86400 + 1, "1w1s")]
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_main_checks_the_duration_before_connecting() -> None:
    # No Redis is configured or reachable here: the option error must come first.
    with pytest.raises(ConfigError, match="--older-than '1y'"):
        main(["--older-than", "1y"])
    with pytest.raises(ConfigError, match="unrecognized arguments: --force"):
        main(["--force"])


def test_an_unreachable_broker_is_one_clear_error(
    settings_from: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Closed again: the connection is refused at once. The password must not be shown.
    settings_from(f'[celery]\nbroker_url = "redis://:s3cret@127.0.0.1:{port}/0"\n')
    with pytest.raises(DagcoreError) as caught:
        main(["--dry-run"])
    message = str(caught.value)
    assert message.startswith(f"dagcore gc: Redis at redis://:***@127.0.0.1:{port}/0 failed")
    assert "[celery] broker_url (DAGCORE_BROKER_URL)" in message and "s3cret" not in message
