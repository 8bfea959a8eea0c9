"""InterfaceLogging and DaemonLogging (Luigi's luigi.setup_logging)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from dagcore.configuration import LuigiTomlParser, get_config
from dagcore.setup_logging import DaemonLogging, InterfaceLogging

_INI = """\
[loggers]
keys=root,special

[handlers]
keys=plain

[formatters]
keys=

[logger_root]
handlers=

[logger_special]
qualname=dagcore.test.special
level=ERROR
handlers=plain

[handler_plain]
class=NullHandler
args=()
"""


def _opts(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "background": False,
        "logdir": None,
        "logging_conf_file": None,
        "log_level": "INFO",
    }
    values.update(overrides)
    return SimpleNamespace(**values)


@pytest.fixture(autouse=True)
def _fresh_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test configures logging from scratch and leaves the process's logging as it was."""
    dagcore_logger = logging.getLogger("dagcore")
    special = logging.getLogger("dagcore.test.special")
    saved = [
        (logger, list(logger.handlers), logger.level, logger.propagate, logger.disabled)
        for logger in (logging.root, dagcore_logger, special)
    ]
    for cls in (InterfaceLogging, DaemonLogging):
        monkeypatch.setattr(cls, "_configured", False)
    yield
    for logger, handlers, level, propagate, disabled in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
        logger.disabled = disabled


def test_interface_default_configures_dagcore_console_logging_once() -> None:
    assert InterfaceLogging.setup(_opts(log_level="WARNING")) is True
    logger = logging.getLogger("dagcore")
    assert logger.level == logging.WARNING
    assert any(isinstance(h, logging.StreamHandler) for h in logger.handlers)
    assert InterfaceLogging.setup(_opts(log_level="DEBUG")) is False  # already configured
    assert logger.level == logging.WARNING


def test_no_configure_logging_leaves_logging_alone() -> None:
    get_config().set("core", "no_configure_logging", "true")
    before = list(logging.getLogger("dagcore").handlers)
    assert InterfaceLogging.setup(_opts()) is False
    assert logging.getLogger("dagcore").handlers == before


def test_interface_logging_conf_file(tmp_path: Path) -> None:
    conf = tmp_path / "logging.ini"
    conf.write_text(_INI)
    assert InterfaceLogging.setup(_opts(logging_conf_file=str(conf))) is True
    assert logging.getLogger("dagcore.test.special").level == logging.ERROR


def test_missing_logging_conf_file_is_an_oserror() -> None:
    with pytest.raises(OSError, match="Unable to locate"):
        InterfaceLogging.setup(_opts(logging_conf_file="/no/such/logging.ini"))


def test_logging_section_of_a_toml_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "luigi.toml").write_text(
        "[logging]\nversion = 1\ndisable_existing_loggers = false\n"
        '[logging.loggers."dagcore.test.special"]\nlevel = "CRITICAL"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(InterfaceLogging, "config", LuigiTomlParser.instance())
    assert InterfaceLogging.setup(_opts()) is True
    assert logging.getLogger("dagcore.test.special").level == logging.CRITICAL


def test_daemon_background_sets_the_root_level() -> None:
    logging.root.setLevel(logging.WARNING)
    assert DaemonLogging.setup(_opts(background=True)) is True
    assert logging.root.level == logging.INFO


def _bare_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """basicConfig acts only on a root logger without handlers (pytest's are put back)."""
    monkeypatch.setattr(logging.root, "handlers", [])


def test_daemon_logdir_logs_to_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _bare_root(monkeypatch)
    assert DaemonLogging.setup(_opts(logdir=str(tmp_path))) is True
    try:
        # The root logger itself: another test may have stopped "dagcore" propagating.
        logging.getLogger().warning("to the file")
        for handler in logging.root.handlers:
            handler.flush()
        assert "to the file" in (tmp_path / "luigi-server.log").read_text()
    finally:
        for handler in logging.root.handlers:
            handler.close()


def test_daemon_logging_conf_file_from_config(tmp_path: Path) -> None:
    get_config().set("core", "logging_conf_file", str(tmp_path / "absent.ini"))
    with pytest.raises(OSError, match="Unable to locate"):
        DaemonLogging.setup(_opts())


def test_daemon_default_is_basic_config(monkeypatch: pytest.MonkeyPatch) -> None:
    _bare_root(monkeypatch)
    logging.root.setLevel(logging.WARNING)
    assert DaemonLogging.setup(_opts()) is True
    assert logging.root.handlers
    assert logging.root.level == logging.INFO
