"""Error e-mails, sent to a real SMTP server (aiosmtpd) on localhost."""

from __future__ import annotations

import email as email_lib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

import dagcore
from dagcore import notifications
from dagcore.configuration import get_config


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it is sent."""

    mails: list[Received] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.mails.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                message=email_lib.message_from_bytes(content),
            )
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _text_part(message: Message) -> tuple[str, str]:
    """The content type and decoded text of the one part of a multipart message."""
    parts = message.get_payload()
    assert isinstance(parts, list) and len(parts) == 1
    part = parts[0]
    assert isinstance(part, Message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return part.get_content_type(), payload.decode()


def _authenticate(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (b"robin", b"hood")
    return AuthResult(success=good)


@pytest.fixture(autouse=True)
def _capture_notification_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """caplog sees the records even if console logging stopped ``dagcore`` propagating."""
    logger = logging.getLogger("dagcore.notifications")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    port = _free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    config = get_config()
    config.set("smtp", "host", "127.0.0.1")
    config.set("smtp", "port", str(port))
    config.set("smtp", "timeout", "5")
    config.set("email", "force_send", "true")
    try:
        yield handler
    finally:
        controller.stop()


class Failing(dagcore.Task):
    day = dagcore.Parameter()
    size = dagcore.IntParameter(default=3)
    owner_email = "owner@example.com"

    def run(self) -> None:
        raise ValueError("boom")


def test_error_email_reaches_the_smtp_server(inbox: Inbox) -> None:
    config = get_config()
    config.set("email", "receiver", "ops@example.com, oncall@example.com")
    config.set("email", "sender", "dagcore@example.com")
    config.set("email", "prefix", "[etl]")

    notifications.send_error_email("Task failed", "the body", "extra@example.com")

    [mail] = inbox.mails
    assert mail.sender == "dagcore@example.com"
    assert mail.recipients == ["ops@example.com", "oncall@example.com", "extra@example.com"]
    assert mail.message["Subject"] == "[etl] Task failed"
    assert mail.message["From"] == "dagcore@example.com"
    assert _text_part(mail.message) == ("text/plain", "the body")


def test_login_when_credentials_are_configured(inbox: Inbox) -> None:
    config = get_config()
    config.set("smtp", "username", "robin")
    config.set("smtp", "password", "hood")
    config.set("email", "receiver", "ops@example.com")

    notifications.send_error_email("subject", "body")

    assert len(inbox.mails) == 1


def test_wrong_credentials_are_logged_not_raised(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = get_config()
    config.set("smtp", "username", "robin")
    config.set("smtp", "password", "wrong")
    config.set("email", "receiver", "ops@example.com")

    with caplog.at_level(logging.ERROR, logger="dagcore.notifications"):
        notifications.send_error_email("subject", "body")

    assert inbox.mails == []
    assert "Not able to connect to smtp server" in caplog.text


def test_task_failure_mail_names_task_params_and_traceback(inbox: Inbox) -> None:
    get_config().set("email", "receiver", "ops@example.com")
    task = Failing(day="2024-01-02")

    notifications.notify_task_failure(task, "Traceback (most recent call last):\nValueError: boom")

    [mail] = inbox.mails
    assert mail.recipients == ["ops@example.com", "owner@example.com"]
    subject = mail.message["Subject"]
    assert subject.startswith(f"Luigi: {task} FAILED. Host: ")
    _, text = _text_part(mail.message)
    assert "A task failed when running." in text
    assert "Name: Failing\n" in text
    assert "  day : 2024-01-02\n" in text
    assert "  size: 3\n" in text
    assert "ValueError: boom" in text


def test_scheduling_failure_headline_names_the_method(inbox: Inbox) -> None:
    get_config().set("email", "receiver", "ops@example.com")
    task = Failing(day="d")

    notifications.notify_scheduling_failure(task, "ValueError: no", "complete")

    [mail] = inbox.mails
    assert "failed scheduling" in mail.message["Subject"]
    assert "error in complete() method" in _text_part(mail.message)[1]


def test_nothing_is_sent_without_recipients(inbox: Inbox) -> None:
    notifications.send_error_email("subject", "body")
    assert inbox.mails == []


def test_format_none_disables_email(inbox: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    config = get_config()
    config.set("email", "receiver", "ops@example.com")
    config.set("email", "format", "none")

    with caplog.at_level(logging.INFO, logger="dagcore.notifications"):
        notifications.send_error_email("subject", "body")

    assert inbox.mails == []
    assert "email format is 'none'" in caplog.text


def test_a_terminal_disables_email_unless_forced(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = get_config()
    config.set("email", "receiver", "ops@example.com")
    config.set("email", "force_send", "false")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)

    notifications.send_error_email("subject", "body")
    assert inbox.mails == []

    config.set("email", "force_send", "true")
    notifications.send_error_email("subject", "body")
    assert len(inbox.mails) == 1


def test_unreachable_server_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = get_config()
    config.set("email", "receiver", "ops@example.com")
    config.set("email", "force_send", "true")
    config.set("smtp", "host", "127.0.0.1")
    config.set("smtp", "port", str(_free_port()))

    with caplog.at_level(logging.ERROR, logger="dagcore.notifications"):
        notifications.send_error_email("subject", "body")

    assert "Not able to connect to smtp server" in caplog.text


def test_email_recipients() -> None:
    get_config().set("email", "receiver", "a@a.a")
    assert notifications._email_recipients() == ["a@a.a"]
    assert notifications._email_recipients("b@b.b") == ["a@a.a", "b@b.b"]
    assert notifications._email_recipients(["b@b.b", "c@c.c"]) == ["a@a.a", "b@b.b", "c@c.c"]


def test_legacy_email_type_key_selects_the_method_with_a_deprecation() -> None:
    assert notifications.email().receiver == ""
    get_config().set("email", "type", "ses")
    with pytest.warns(DeprecationWarning, match=r"\[email\] type is deprecated"):
        assert notifications.email().method == "ses"


def test_long_tracebacks_are_truncated() -> None:
    get_config().set("email", "traceback_max_length", "10")
    body = notifications.format_task_error("head", Failing(day="d"), "cmd", "x" * 50)
    assert "x" * 10 + "...Traceback exceeds max length and has been truncated." in body
    assert "x" * 11 not in body


def test_html_format_highlights_the_traceback() -> None:
    get_config().set("email", "format", "html")
    task = Failing(day="d")
    body = notifications.format_task_error("head", task, "cmd", "ValueError: Oops!")
    assert "<th>name</th><td>Failing</td>" in body
    assert "<th>day</th><td>d</td>" in body
    assert '<div class="highlight"' in body
    assert "Oops!" in body


def test_unicode_email() -> None:
    message = notifications.generate_email(
        "s@example.com", "sübjéct", "你好", ["r@example.com"], None
    )
    assert _text_part(message) == ("text/plain", "你好")


def test_the_sender_function_is_looked_up_at_each_send(monkeypatch: pytest.MonkeyPatch) -> None:
    config = get_config()
    config.set("email", "receiver", "a@example.com, b@example.com")
    config.set("email", "force_send", "true")
    config.set("email", "method", "ses")
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(notifications, "send_email_ses", lambda *args: sent.append(args))

    notifications.send_error_email("subject", "body")

    assert sent == [
        (notifications.email().sender, "subject", "body", ["a@example.com", "b@example.com"], None)
    ]


def test_html_body_escapes_parameter_values() -> None:
    get_config().set("email", "format", "html")
    body = notifications.format_task_error("a < b", Failing(day="<b>x</b>"), "cmd & more", None)
    assert "<th>day</th><td>&lt;b&gt;x&lt;/b&gt;</td>" in body
    assert "<h2>a &lt; b</h2>" in body
    assert "cmd &amp; more" in body


class BrokenRequires(dagcore.Task):
    def requires(self) -> dagcore.Task:
        raise RuntimeError("no such partition")

    def run(self) -> None:
        pass


def test_a_build_whose_task_fails_mails_its_traceback(inbox: Inbox) -> None:
    get_config().set("email", "receiver", "ops@example.com")

    assert dagcore.build([Failing(day="2024-01-31")], workers=1, no_history=True) is False

    [mail] = inbox.mails
    assert "FAILED" in mail.message["Subject"]
    assert "owner@example.com" in mail.recipients
    _, body = _text_part(mail.message)
    assert "ValueError: boom" in body


def test_a_build_with_a_broken_requires_mails_a_scheduling_failure(inbox: Inbox) -> None:
    get_config().set("email", "receiver", "ops@example.com")

    assert dagcore.build([BrokenRequires()], workers=1, no_history=True) is False

    [mail] = inbox.mails
    assert "failed scheduling" in mail.message["Subject"]
    assert "no such partition" in _text_part(mail.message)[1]
