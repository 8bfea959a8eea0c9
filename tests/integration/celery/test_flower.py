"""``dagcore flower``: a real Flower on the test broker, watching real workers run a pipeline.

The server tests start ``dagcore flower`` as a subprocess with a login, wait until it serves and
until its event receiver has seen the worker, run a pipeline on the Celery executor and read
Flower's API. The option tests need no server: they check the refusal to serve an open
address without a login, and the reading of the logins.
"""

from __future__ import annotations

import ast
import base64
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

import dagcore
from celery_app.commands import status_main
from celery_app.flower import (
    AUTH_ENV,
    AUTH_FILE_ENV,
    DEFAULT_ADDRESS,
    FlowerOptions,
    is_loopback,
    main,
    read_credentials,
)
from dagcore.configuration import reset_config
from dagcore.errors import ConfigError
from dagcore.summary import StatusCode, Summary
from dagcore.task import Task
from tests.integration.celery import flower_families as ff
from tests.integration.celery.conftest import CeleryEnv, StartWorker
from tests.integration.celery.workerproc import REPO, WorkerProcess

MODULE = "tests.integration.celery.flower_families"
LOGIN = "ops:flower-test-pw"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 5.0
DAY = datetime.date(2024, 1, 2)

_LOGIN_VARIABLES = (AUTH_ENV, AUTH_FILE_ENV, "FLOWER_BASIC_AUTH", "FLOWER_AUTH", "FLOWER_ADDRESS")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environ(**extra: str) -> dict[str, str]:
    """This process's environment (the test broker and config) without any login variable."""
    env = {k: v for k, v in os.environ.items() if k not in _LOGIN_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **extra}


def _wait(what: str, check: Callable[[], Any], timeout: float = START_TIMEOUT) -> Any:
    """Return the first truthy ``check()``, polling until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last: {last!r}")


@dataclass
class Flower:
    """A running ``dagcore flower`` subprocess."""

    process: WorkerProcess
    url: str

    def get(self, path: str, login: str | None = LOGIN) -> tuple[int, bytes]:
        """GET ``path``; returns the status and the body (HTTP errors included)."""
        request = urllib.request.Request(self.url + path)
        if login is not None:
            token = base64.b64encode(login.encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""  # not listening yet

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def wait_serving(self) -> None:
        def up() -> bool:
            assert self.process.running(), f"flower exited:\n{self.process.output()}"
            return self.get("/healthcheck", login=None) == (200, b"OK")

        _wait(f"flower at {self.url}", up)

    def wait_sees_worker(self) -> None:
        """Wait until Flower's event receiver has a heartbeat of a live worker."""
        _wait(
            "a worker heartbeat in flower",
            lambda: any(self.json("/api/workers?status=true").values()),
        )


StartFlower = Callable[..., Flower]


@pytest.fixture
def start_flower(celery_env: CeleryEnv) -> Iterator[StartFlower]:
    """Start ``dagcore flower --port P --address 127.0.0.1`` with extra environment variables.

    Waits until it answers ``/healthcheck``; every server started is stopped at teardown.
    """
    started: list[WorkerProcess] = []

    def start(**env: str) -> Flower:
        port = _free_port()
        argv = [sys.executable, "-m", "dagcore", "flower", "--port", str(port)]
        argv += ["--address", "127.0.0.1"]
        process = WorkerProcess(argv, _environ(**env), celery_env.directory)
        started.append(process)
        flower = Flower(process, f"http://127.0.0.1:{port}")
        flower.wait_serving()
        return flower

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def fleet(
    celery_env: CeleryEnv,
    start_worker: StartWorker,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> StartWorker:
    """Outputs in tmp_path, history in a fresh PostgreSQL database shared with the workers."""
    monkeypatch.setenv("DAGCORE_TEST_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("DAGCORE_HISTORY_URL", postgres_url)
    celery_env.configure("")
    return start_worker


def _succeeded_tasks(flower: Flower) -> dict[str, dict[str, Any]]:
    """Flower's succeeded tasks by dagcore task id (read from the message's kwargs)."""
    tasks = flower.json("/api/tasks?state=SUCCESS").values()
    return {ast.literal_eval(t["kwargs"])["task_id"]: t for t in tasks if t.get("kwargs")}


# -- Flower on a real fleet -----------------------------------------------------------------------


def test_flower_lists_each_family_with_its_parameters(
    fleet: StartWorker, start_flower: StartFlower
) -> None:
    fleet([MODULE], concurrency=2)
    flower = start_flower(**{AUTH_ENV: LOGIN})
    flower.wait_sees_worker()

    root = ff.Summarize(day=DAY, sources=["shop", "ads"])
    summary = dagcore.build([root], executor="celery", detailed_summary=True)
    assert isinstance(summary, Summary)
    assert summary.status is StatusCode.SUCCESS, summary.summary_text

    fetches = [ff.Fetch(day=DAY, source="shop"), ff.Fetch(day=DAY, source="ads")]
    expected: dict[str, Task] = {t.task_id: t for t in [root, *fetches]}

    def all_succeeded() -> dict[str, dict[str, Any]]:
        seen = _succeeded_tasks(flower)
        return seen if set(expected) <= set(seen) else {}

    seen = _wait("every task to succeed in flower", all_succeeded)
    for task_id, task in expected.items():
        shown = seen[task_id]
        assert shown["name"] == f"{MODULE}.{type(task).__name__}"
        kwargs = ast.literal_eval(shown["kwargs"])
        assert kwargs["params"] == task.to_str_params(), shown["kwargs"]
        assert kwargs["module"] == MODULE and kwargs["run_id"] == summary.run_id
    # Readable as shown, without decoding: the parameters as the command line spells them.
    assert "'params': {'day': '2024-01-02', 'source': 'shop'}" in seen[fetches[0].task_id]["kwargs"]

    # The login is required: no credentials, a wrong password.
    for login in (None, "ops:wrong"):
        status, _ = flower.get("/api/tasks", login=login)
        assert status == 401, login
        assert flower.get("/", login=login)[0] == 401
    assert LOGIN.split(":")[1] not in flower.process.output()


class StatusCommand:
    """``dagcore status`` run in this process (polled often) or as the command (checked once)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def json(self, run_id: str) -> dict[str, Any]:
        self._capsys.readouterr()
        assert status_main([run_id, "--json"]) == 0
        payload: dict[str, Any] = json.loads(self._capsys.readouterr().out)
        return payload

    def running(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """The running entries of ``task_id`` that have a Celery id (history lags a little)."""
        entries = self.json(run_id)["running"]
        return [e for e in entries if e["task_id"] == task_id and e["celery_id"]]

    def finished(self, run_id: str) -> dict[str, Any] | None:
        payload = self.json(run_id)
        done = payload["done"] == payload["total"] and not payload["running"]
        return payload if done else None

    @staticmethod
    def text(run_id: str) -> str:
        done = _dagcore("status", run_id)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def status(capsys: pytest.CaptureFixture[str]) -> StatusCommand:
    return StatusCommand(capsys)


def test_status_links_running_tasks_to_flower(
    fleet: StartWorker,
    start_flower: StartFlower,
    celery_env: CeleryEnv,
    status: StatusCommand,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet([MODULE], concurrency=1)
    flower = start_flower(**{AUTH_ENV: LOGIN})
    flower.wait_sees_worker()
    # The shortcut variable, with a trailing slash the link must not double.
    monkeypatch.setenv("DAGCORE_FLOWER_URL", flower.url + "/")
    reset_config()
    gate = ff.Gate(name="status")
    client = redis.Redis.from_url(celery_env.redis_url)
    try:
        run_id = _submit_detached(f"{MODULE}.Gate", "--name", "status")
        (entry,) = _wait("the gate running", lambda: status.running(run_id, gate.task_id))
        link = f"{flower.url}/task/{entry['celery_id']}"
        assert entry["flower"] == link
        text = status.text(run_id)
        assert f"running {gate.task_id} on " in text and f"\n    {link}\n" in text

        # The link leads to the task's page in that Flower.
        def page() -> bytes:
            code, body = flower.get(link[len(flower.url) :])
            return body if code == 200 else b""

        assert f"{MODULE}.Gate".encode() in _wait("the task page in flower", page)
    finally:
        client.set(ff.gate_key("status"), "1")
        client.close()
    done = _wait("the run to finish", lambda: status.finished(run_id))
    assert done["failed"] == 0


def test_status_without_flower_url_prints_no_link(
    fleet: StartWorker,
    celery_env: CeleryEnv,
    status: StatusCommand,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGCORE_FLOWER_URL", raising=False)
    reset_config()
    fleet([MODULE], concurrency=1)
    gate = ff.Gate(name="nolink")
    client = redis.Redis.from_url(celery_env.redis_url)
    try:
        run_id = _submit_detached(f"{MODULE}.Gate", "--name", "nolink")
        (entry,) = _wait("the gate running", lambda: status.running(run_id, gate.task_id))
        assert entry["flower"] is None
        assert "/task/" not in status.text(run_id)
    finally:
        client.set(ff.gate_key("nolink"), "1")
        client.close()
    _wait("the run to finish", lambda: status.finished(run_id))


def _dagcore(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagcore", *args],
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=60,
        check=False,
    )


def _submit_detached(family: str, *params: str) -> str:
    done = _dagcore("run", "--module", MODULE, family, *params, "--executor", "celery", "--detach")
    assert done.returncode == 0, done.stderr
    return done.stdout.split("Submitted run ")[1].split()[0]


def test_flower_reads_logins_from_a_secret_file(start_flower: StartFlower, tmp_path: Path) -> None:
    secret = tmp_path / "basic-auth"
    # A mounted secret: a comment, blank lines, a trailing newline, a comma in a password.
    secret.write_text("# flower logins\nops:pa,ss\n\nviewer:look\n", encoding="utf-8")
    flower = start_flower(**{AUTH_FILE_ENV: str(secret)})
    assert flower.get("/api/workers", login="ops:pa,ss")[0] == 200
    assert flower.get("/api/workers", login="viewer:look")[0] == 200
    assert flower.get("/api/workers", login="ops:pa")[0] == 401
    assert flower.get("/api/workers", login=None)[0] == 401
    assert "pa,ss" not in flower.process.output()


# -- options, no server ---------------------------------------------------------------------------


def test_open_address_without_login_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dagcore", "flower", "--address", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    error, hint = done.stderr.strip().splitlines()
    assert error.startswith("dagcore flower: error: refusing to serve Flower on 0.0.0.0")
    assert AUTH_ENV in error and AUTH_FILE_ENV in error
    assert hint.startswith("hint: ")
    assert done.stdout == ""


def test_a_port_in_use_is_one_line(celery_env: CeleryEnv) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "dagcore", "flower", "--port", str(port)],
            capture_output=True,
            text=True,
            env=_environ(),
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    error, hint = done.stderr.strip().splitlines()
    assert error == (
        f"dagcore flower: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "another process uses it; choose another --port"
    )
    assert hint.startswith("hint: ")


@pytest.mark.parametrize("address", ["0.0.0.0", "", "10.1.2.3", "::", "flower.internal"])
def test_main_refuses_reachable_addresses_without_login(
    address: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in _LOGIN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert main(["--address", address]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve Flower" in err and AUTH_ENV in err and "Traceback" not in err


def test_help_names_the_login_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert AUTH_ENV in out and AUTH_FILE_ENV in out and "--url-prefix" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prot", "5555"], "Flower has no option --prot"),
        (["--port"], "--port needs a value"),
        (["5555"], "unexpected argument '5555'"),
    ],
)
def test_bad_options_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    error, hint = capsys.readouterr().err.strip().splitlines()
    assert message in error and hint.startswith("hint: ")


def test_options_default_to_loopback_and_pass_flower_options_through() -> None:
    options = FlowerOptions.parse(["--port", "5600", "--url_prefix=flower", "--debug"], {})
    assert options.flower_argv == (
        f"--address={DEFAULT_ADDRESS}",
        "--port=5600",
        "--url-prefix=flower",
        "--debug=true",
    )
    assert (options.address, options.port, options.logins) == (DEFAULT_ADDRESS, "5600", ())


def test_secret_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "auth"
    secret.write_text("ops:pa,ss\n\n# second login\n  viewer:look  \n", encoding="utf-8")
    environ = {AUTH_FILE_ENV: str(secret)}
    assert read_credentials(environ) == (("ops:pa,ss", "viewer:look"), AUTH_FILE_ENV)
    options = FlowerOptions.parse(["--address", "0.0.0.0"], environ)
    assert options.logins == ("ops:pa,ss", "viewer:look") and options.address == "0.0.0.0"


def test_inline_logins_are_split_on_commas() -> None:
    environ = {AUTH_ENV: "ops:one, viewer:two"}
    assert read_credentials(environ) == (("ops:one", "viewer:two"), AUTH_ENV)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({AUTH_ENV: "ops"}, f"{AUTH_ENV} entry 1 is not of the form user:password"),
        ({AUTH_ENV: "ops:a,:b"}, f"{AUTH_ENV} entry 2 is not of the form user:password"),
        ({AUTH_ENV: "a:b", AUTH_FILE_ENV: "/x"}, "keep one of them"),
        ({AUTH_FILE_ENV: "/nonexistent/dagcore-flower-auth"}, "cannot read"),
    ],
)
def test_bad_logins_are_refused_without_echoing_them(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        read_credentials(environ)
    assert ":b" not in str(info.value)


def test_bad_line_of_the_secret_file_is_named_not_shown(tmp_path: Path) -> None:
    secret = tmp_path / "auth"
    secret.write_text("ops:fine\nnocolon-secret\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2 is not of the form") as info:
        read_credentials({AUTH_FILE_ENV: str(secret)})
    assert "nocolon-secret" not in str(info.value)
    secret.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no user:password line"):
        read_credentials({AUTH_FILE_ENV: str(secret)})


@pytest.mark.parametrize(
    "argv_env",
    [
        (["--basic-auth=ops:pw"], {}),
        (["--basic_auth", "ops:pw"], {}),
        (["--auth", ".*@example.com"], {}),
        ([], {"FLOWER_BASIC_AUTH": "ops:pw"}),
        (["--unix-socket", "/tmp/flower.sock"], {}),
    ],
)
def test_flowers_own_authentication_counts(argv_env: tuple[list[str], dict[str, str]]) -> None:
    argv, environ = argv_env
    options = FlowerOptions.parse(["--address", "0.0.0.0", *argv], environ)
    assert options.address == "0.0.0.0"


def test_two_sources_of_basic_auth_are_refused() -> None:
    with pytest.raises(ConfigError, match="keep DAGCORE_FLOWER_BASIC_AUTH"):
        FlowerOptions.parse(["--basic-auth=a:b"], {AUTH_ENV: "c:d"})


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_flower_address_from_flowers_own_variable_is_checked() -> None:
    with pytest.raises(ConfigError, match="refusing to serve Flower on 0.0.0.0"):
        FlowerOptions.parse([], {"FLOWER_ADDRESS": "0.0.0.0"})
    assert FlowerOptions.parse([], {"FLOWER_ADDRESS": "127.0.0.1"}).flower_argv == ()
