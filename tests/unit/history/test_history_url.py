"""History URLs: ``postgres://`` works (psycopg 3); a bad URL fails loudly, password masked."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from dagcore.errors import HistoryError
from dagcore.history.store import SqlHistoryStore, normalize_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u:p@db/x", "postgresql+psycopg"),
        ("postgresql://u@db/x", "postgresql+psycopg"),
        ("postgres+psycopg://u@db/x", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg"),
        ("sqlite:///h.db", "sqlite"),
    ],
)
def test_postgres_urls_name_the_installed_driver(given: str, driver: str) -> None:
    assert normalize_url(make_url(given)).drivername == driver


def test_a_postgres_url_opens_a_store_without_connecting() -> None:
    store = SqlHistoryStore("postgres://user:secret@127.0.0.1:1/dagcore")
    try:
        assert store.url == "postgresql+psycopg://user:***@127.0.0.1:1/dagcore"
    finally:
        store.close()


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg2://u:secret@db/x", "nonsense", "x://a:secret@h:1:2/y"]
)
def test_bad_history_urls_raise_a_history_error_without_the_password(url: str) -> None:
    with pytest.raises(HistoryError) as caught:
        SqlHistoryStore(url)
    assert "secret" not in str(caught.value)
