"""Login configuration of ``dagcore ui``: the same rules as ``dagcore flower``'s."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from dagcore.errors import ConfigError
from dagcore.ui.auth import allowed, check_exposure, is_loopback, read_logins


def _basic(login: str) -> str:
    return "Basic " + base64.b64encode(login.encode()).decode()


def test_logins_come_from_the_variable_or_the_file(tmp_path: Path) -> None:
    assert read_logins({}) == ()
    assert read_logins({"DAGCORE_UI_BASIC_AUTH": "ann:pw1, bob:pw:2"}) == ("ann:pw1", "bob:pw:2")
    secret = tmp_path / "logins"
    secret.write_text("# team\nann:pw1\n\ncid:pw3\n")
    assert read_logins({"DAGCORE_UI_BASIC_AUTH_FILE": str(secret)}) == ("ann:pw1", "cid:pw3")


@pytest.mark.parametrize(
    "environ",
    [
        {"DAGCORE_UI_BASIC_AUTH": "ann:pw", "DAGCORE_UI_BASIC_AUTH_FILE": "/x"},
        {"DAGCORE_UI_BASIC_AUTH": "no-colon"},
        {"DAGCORE_UI_BASIC_AUTH": "ann:"},
        {"DAGCORE_UI_BASIC_AUTH_FILE": "/does/not/exist"},
    ],
)
def test_bad_login_configuration_is_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        read_logins(environ)


def test_a_non_loopback_address_needs_a_login() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("example.org")
    check_exposure("127.0.0.1", ())
    check_exposure("0.0.0.0", ("ann:pw",))
    with pytest.raises(ConfigError, match="DAGCORE_UI_BASIC_AUTH"):
        check_exposure("0.0.0.0", ())


def test_authorization_header_must_carry_a_configured_login() -> None:
    logins = ("ann:pw1", "bob:pw2")
    assert allowed(None, ())
    assert allowed(_basic("bob:pw2"), logins)
    assert not allowed(None, logins)
    assert not allowed(_basic("bob:pw1"), logins)
    assert not allowed("Bearer abc", logins)
    assert not allowed("Basic %%%", logins)
