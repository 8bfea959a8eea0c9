"""Error e-mails when tasks fail, configured as Luigi configures them.

Set a receiver and dagcore mails it when a task fails, as Luigi does::

    [email]
    receiver = oncall@example.com
    sender = dagcore@example.com
    prefix = [etl]
    format = plain        # plain, html or none (none turns e-mail off)
    method = smtp         # smtp, ses, sns or sendgrid (the others need boto3 / sendgrid)
    force_send = false    # mail even when stdout is a terminal

    [smtp]
    host = localhost
    port = 25
    ssl = false           # SMTP over SSL from the first byte
    no_tls = false        # do not upgrade with STARTTLS even if the server offers it
    username = ...
    password = ...
    timeout = 10.0

Luigi's older ``[core]`` spellings (``error-email``, ``email-prefix``, ``smtp_host``, ...) are
read as fallbacks. As in Luigi, no mail is sent from an interactive terminal unless
``force_send`` is set, and a task's ``owner_email`` is added to the recipients.

The executors call :func:`notify_task_failure` and :func:`notify_scheduling_failure`;
:func:`send_error_email` and :func:`format_task_error` are there for user code too.
"""

from __future__ import annotations

import importlib
import logging
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from html import escape
from typing import TYPE_CHECKING, Any, ClassVar

from dagcore.parameter import (
    BoolParameter,
    ChoiceParameter,
    FloatParameter,
    IntParameter,
    OptionalParameter,
    Parameter,
)
from dagcore.task import Config, Task

if TYPE_CHECKING:
    import smtplib

__all__ = [
    "DEFAULT_CLIENT_EMAIL",
    "TestNotificationsTask",
    "email",
    "format_task_error",
    "generate_email",
    "notify_scheduling_failure",
    "notify_task_failure",
    "send_email",
    "send_email_smtp",
    "send_error_email",
    "sendgrid",
    "smtp",
    "wrap_traceback",
]

logger = logging.getLogger("dagcore.notifications")

DEFAULT_CLIENT_EMAIL = f"luigi-client@{socket.gethostname()}"
"""The sender used when ``[email] sender`` is not set (Luigi's default)."""

Recipients = str | Sequence[str] | None


class TestNotificationsTask(Task):
    """A task that always fails: run it to check that error e-mails reach you.

    ``dagcore run TestNotificationsTask --email-force-send`` (``--raise-in-complete`` to fail
    while planning instead of while running).
    """

    __test__ = False  # not a pytest test class despite its name

    raise_in_complete = BoolParameter(
        description="If true, fail in complete() instead of run()",
    )

    def run(self) -> None:
        raise ValueError("Testing notifications triggering")

    def complete(self) -> bool:
        if self.raise_in_complete:
            raise ValueError("Testing notifications triggering")
        return False


class email(Config):  # noqa: N801 - Luigi's section name is the class name
    """The ``[email]`` section."""

    # Read by other parameters through their config_path: [email] type is ``method``,
    # SENGRID_API_KEY (Luigi's spelling) is the sendgrid section's ``apikey``.
    ignore_unconsumed: ClassVar[frozenset[str]] = frozenset(
        {"type", "SENGRID_API_KEY", "sengrid_api_key"}
    )

    force_send = BoolParameter(default=False, description="Send e-mail even from a tty")
    format = ChoiceParameter(
        default="plain",
        choices=("plain", "html", "none"),
        config_path={"section": "core", "name": "email-type"},
        description="Format type for sent e-mails",
    )
    method = ChoiceParameter(
        default="smtp",
        choices=("smtp", "sendgrid", "ses", "sns"),
        config_path={"section": "email", "name": "type"},
        description="Method for sending e-mail",
    )
    prefix = Parameter(
        default="",
        config_path={"section": "core", "name": "email-prefix"},
        description="Prefix for subject lines of all e-mails",
    )
    receiver = Parameter(
        default="",
        config_path={"section": "core", "name": "error-email"},
        description="Address to send error e-mails to",
    )
    traceback_max_length = IntParameter(default=5000, description="Max length for error traceback")
    sender = Parameter(
        default=DEFAULT_CLIENT_EMAIL,
        config_path={"section": "core", "name": "email-sender"},
        description="Address to send e-mails from",
    )


class smtp(Config):  # noqa: N801 - Luigi's section name is the class name
    """The ``[smtp]`` section."""

    host = Parameter(
        default="localhost",
        config_path={"section": "core", "name": "smtp_host"},
        description="Hostname of smtp server",
    )
    local_hostname = OptionalParameter(
        default=None,
        config_path={"section": "core", "name": "smtp_local_hostname"},
        description="The FQDN to give in HELO/EHLO, if not this host's",
    )
    no_tls = BoolParameter(
        default=False,
        config_path={"section": "core", "name": "smtp_without_tls"},
        description="Do not use TLS in SMTP connections",
    )
    password = OptionalParameter(
        default=None,
        config_path={"section": "core", "name": "smtp_password"},
        description="Password for the SMTP server login",
    )
    port = IntParameter(
        default=0,
        config_path={"section": "core", "name": "smtp_port"},
        description="Port number for smtp server",
    )
    ssl = BoolParameter(
        default=False,
        config_path={"section": "core", "name": "smtp_ssl"},
        description="Use SSL for the SMTP connection.",
    )
    timeout = FloatParameter(
        default=10.0,
        config_path={"section": "core", "name": "smtp_timeout"},
        description="Number of seconds before timing out the smtp connection",
    )
    username = OptionalParameter(
        default=None,
        config_path={"section": "core", "name": "smtp_login"},
        description="Username used to log in to the SMTP host",
    )


class sendgrid(Config):  # noqa: N801 - Luigi's section name is the class name
    """The ``[sendgrid]`` section (``[email] SENGRID_API_KEY`` as Luigi spells the fallback)."""

    apikey = Parameter(
        config_path={"section": "email", "name": "SENGRID_API_KEY"},
        description="API key for SendGrid login",
    )


# -- building a message ---------------------------------------------------------------------------


def generate_email(
    sender: str,
    subject: str,
    message: str,
    recipients: Sequence[str],
    image_png: str | None,
) -> MIMEMultipart:
    """A ``multipart/related`` message: the text in the configured format, then the image."""
    root = MIMEMultipart("related")
    root.attach(MIMEText(message, email().format, "utf-8"))
    if image_png:
        with open(image_png, "rb") as handle:
            root.attach(MIMEImage(handle.read(), "png"))
    root["Subject"] = subject
    root["From"] = sender
    root["To"] = ",".join(recipients)
    return root


def wrap_traceback(traceback: object) -> str:
    """A traceback as the e-mail body shows it: highlighted HTML in html format, else as is."""
    text = str(traceback)
    if email().format != "html":
        return text
    try:
        pygments = importlib.import_module("pygments")
        formatters = importlib.import_module("pygments.formatters")
        lexers = importlib.import_module("pygments.lexers")
    except ImportError:
        return f"<pre>{escape(text)}</pre>"
    formatter = formatters.HtmlFormatter(noclasses=True)
    return str(pygments.highlight(text, lexers.PythonTracebackLexer(), formatter))


_HTML_BODY = """\
<html>
<body>
<h2>{headline}</h2>

<table style="border-top: 1px solid black; border-bottom: 1px solid black">
<thead>
<tr><th>name</th><td>{name}</td></tr>
</thead>
<tbody>
{param_rows}
</tbody>
</table>

<h2>Command line</h2>
<pre>
{command}
</pre>

<h2>Traceback</h2>
{traceback}
</body>
</html>
"""

_PLAIN_BODY = """\
{headline}

Name: {name}

Parameters:
{params}

Command line:
  {command}

{traceback}
"""


def _truncated(formatted_exception: str) -> str:
    limit = email().traceback_max_length
    if len(formatted_exception) <= limit:
        return formatted_exception
    return formatted_exception[:limit] + "...Traceback exceeds max length and has been truncated."


def format_task_error(
    headline: str,
    task: Task,
    command: str,
    formatted_exception: str | None = None,
) -> str:
    """The body of an error e-mail about ``task``: headline, family, parameters, command line
    and the (truncated, and in html format highlighted) traceback."""
    traceback = wrap_traceback(_truncated(formatted_exception)) if formatted_exception else ""
    str_params = task.to_str_params()
    if email().format == "html":
        rows = "\n".join(
            f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>"
            for key, value in str_params.items()
        )
        return _HTML_BODY.format(
            headline=escape(headline),
            name=escape(task.get_task_family()),
            param_rows=rows,
            command=escape(command),
            traceback=traceback,
        )
    width = max((len(key) for key in str_params), default=0)
    params = "\n".join(f"  {key:{width}}: {value}" for key, value in str_params.items())
    return _PLAIN_BODY.format(
        headline=headline,
        name=task.get_task_family(),
        params=params,
        command=command,
        traceback=traceback,
    )


# -- sending --------------------------------------------------------------------------------------


def send_email_smtp(
    sender: str,
    subject: str,
    message: str,
    recipients: Sequence[str],
    image_png: str | None,
) -> None:
    """Send through the ``[smtp]`` server (STARTTLS when offered, login when configured).

    A connection or protocol error is logged, not raised: a failing mail server must not fail
    the run that wanted to report something.
    """
    import smtplib  # looked up per call, as Luigi does, so tests can replace the module

    config = smtp()
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "local_hostname": config.local_hostname,
    }
    if config.timeout:
        options["timeout"] = config.timeout
    try:
        connection = smtplib.SMTP_SSL(**options) if config.ssl else smtplib.SMTP(**options)
        try:
            connection.ehlo_or_helo_if_needed()
            if connection.has_extn("starttls") and not config.no_tls:
                connection.starttls()
            if config.username and config.password:
                connection.login(config.username, config.password)
            body = generate_email(sender, subject, message, recipients, image_png)
            connection.sendmail(sender, list(recipients), body.as_string())
        finally:
            _quit_quietly(connection)
    except OSError as exc:  # socket errors and every smtplib.SMTPException
        logger.error("Not able to connect to smtp server: %s", exc)


def _quit_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except OSError:  # smtplib's errors are OSErrors: the server is already gone
        connection.close()


def send_email_ses(
    sender: str,
    subject: str,
    message: str,
    recipients: Sequence[str],
    image_png: str | None,
) -> None:
    """Send through AWS SES with boto3 (credentials from boto3's usual sources)."""
    boto3 = importlib.import_module("boto3")
    client = boto3.client("ses")
    body = generate_email(sender, subject, message, recipients, image_png)
    response = client.send_raw_email(
        Source=sender, Destinations=list(recipients), RawMessage={"Data": body.as_string()}
    )
    _log_aws_response("SES", response)


def send_email_sns(
    sender: str,
    subject: str,
    message: str,
    recipients: Sequence[str],
    image_png: str | None,
) -> None:
    """Publish to the AWS SNS topic whose ARN is the first recipient."""
    boto3 = importlib.import_module("boto3")
    topic = boto3.resource("sns").Topic(recipients[0])
    if len(subject) > 100:  # SNS caps subjects at 100 characters
        subject = subject[:48] + "..." + subject[-49:]
    response = topic.publish(Subject=subject, Message=message)
    _log_aws_response("SNS", response)


def _log_aws_response(service: str, response: dict[str, Any]) -> None:
    metadata = response.get("ResponseMetadata", {})
    logger.debug(
        "Message sent to %s.\nMessageId: %s,\nRequestId: %s,\nHTTPSStatusCode: %s",
        service,
        response.get("MessageId"),
        metadata.get("RequestId"),
        metadata.get("HTTPStatusCode"),
    )


def send_email_sendgrid(
    sender: str,
    subject: str,
    message: str,
    recipients: Sequence[str],
    image_png: str | None,
) -> None:
    """Send through SendGrid's API (needs the ``sendgrid`` package)."""
    library = importlib.import_module("sendgrid")
    client = library.SendGridAPIClient(sendgrid().apikey)
    mail = library.Mail(from_email=sender, to_emails=list(recipients), subject=subject)
    content_type = "text/html" if email().format == "html" else "text/plain"
    mail.add_content(message, content_type)
    if image_png:
        mail.add_attachment(image_png)
    client.send(mail)


Notifier = Callable[[str, str, str, Sequence[str], "str | None"], None]

# Looked up by name at each send, so a replaced (or patched) sender function is the one used.
_NOTIFIERS = {
    "smtp": "send_email_smtp",
    "ses": "send_email_ses",
    "sns": "send_email_sns",
    "sendgrid": "send_email_sendgrid",
}


def _notifier(method: str) -> Notifier:
    notifier: Notifier = globals()[_NOTIFIERS[method]]
    return notifier


def _email_disabled_reason() -> str | None:
    config = email()
    if config.format == "none":
        return "email format is 'none'"
    if config.force_send:
        return None
    if sys.stdout.isatty():
        return "running from a tty"
    return None


def _prefix(subject: str) -> str:
    prefix = email().prefix
    return f"{prefix} {subject}" if prefix else subject


def _split_addresses(recipients: Iterable[str]) -> list[str]:
    """One address per item: ``"a@x, b@y"`` (as a config value may be) is two."""
    return [part.strip() for item in recipients for part in item.split(",") if part.strip()]


def send_email(
    subject: str,
    message: str,
    sender: str,
    recipients: Sequence[str | None],
    image_png: str | None = None,
) -> None:
    """Send ``message`` with the configured method, unless there is nobody to send it to or
    e-mail is disabled (format ``none``, or a terminal without ``force_send``)."""
    subject = _prefix(subject)
    if not recipients or all(item is None for item in recipients):
        return
    reason = _email_disabled_reason()
    if reason:
        logger.info("Not sending email to %r because %s", list(recipients), reason)
        return
    addresses = _split_addresses(item for item in recipients if item is not None)
    logger.info("Sending email to %r", addresses)
    _notifier(email().method)(sender, subject, message, addresses, image_png)


def _email_recipients(additional_recipients: Recipients = None) -> list[str]:
    receiver = email().receiver
    recipients = [receiver] if receiver else []
    if isinstance(additional_recipients, str):
        recipients.append(additional_recipients)
    elif additional_recipients:
        recipients.extend(additional_recipients)
    return recipients


def send_error_email(subject: str, message: str, additional_recipients: Recipients = None) -> None:
    """Mail ``[email] receiver`` (and ``additional_recipients``) if anyone is to be mailed."""
    recipients = _email_recipients(additional_recipients)
    send_email(subject=subject, message=message, sender=email().sender, recipients=recipients)


# -- what the executors call ----------------------------------------------------------------------

_SCHEDULING_HEADLINES = {
    "complete": "Will not run {task} or any dependencies due to error in complete() method",
    "requires": "Will not run {task} or any dependencies due to error in deps() method",
}


def _email_error(task: Task, formatted_traceback: str, subject: str, headline: str) -> None:
    host = socket.gethostname()
    command = subprocess.list2cmdline(sys.argv)
    body = format_task_error(
        headline.format(task=task, host=host), task, command, formatted_traceback
    )
    send_error_email(subject.format(task=task, host=host), body, task.owner_email)


def notify_task_failure(task: Task, formatted_traceback: str) -> None:
    """The e-mail Luigi sends when ``run()`` raised: ``Luigi: TASK FAILED. Host: HOST``.

    Never raises: a notification problem is logged and the run goes on.
    """
    _guarded(
        task,
        formatted_traceback,
        "Luigi: {task} FAILED. Host: {host}",
        "A task failed when running. Most likely run() raised an exception.",
    )


def notify_scheduling_failure(task: Task, formatted_traceback: str, method: str) -> None:
    """The e-mail Luigi sends when ``complete()`` or ``requires()`` (``method``) raised."""
    headline = _SCHEDULING_HEADLINES.get(method, _SCHEDULING_HEADLINES["requires"])
    _guarded(task, formatted_traceback, "Luigi: {task} failed scheduling. Host: {host}", headline)


def notify_broken_task(task: Task, error: str) -> None:
    """The scheduling-failure e-mail for a resolver error (``complete() of ...``/``requires()``)."""
    method = "complete" if error.startswith("complete()") else "requires"
    notify_scheduling_failure(task, error, method)


def _guarded(task: Task, formatted_traceback: str, subject: str, headline: str) -> None:
    try:
        _email_error(task, formatted_traceback, subject, headline)
    except Exception:  # a broken notifier must not turn into a failed run
        logger.exception("Could not send the error e-mail about %s", task)
