"""Logging set-up with Luigi's API: :class:`InterfaceLogging` and :class:`DaemonLogging`.

``InterfaceLogging.setup(opts)`` configures logging for a process that runs tasks (the ``luigi``
command, :func:`dagcore.run`), ``DaemonLogging.setup(opts)`` for a long-running daemon. Each
does it once per process (``_configured``) and takes the first way that applies:

1. ``[core] no_configure_logging = true``: leave logging alone;
2. command-line options (daemons only): ``--background`` (root logger at INFO) or ``--logdir``
   (a log file in that folder);
3. a :mod:`logging.config` INI file: ``opts.logging_conf_file`` for the interface,
   ``[core] logging_conf_file`` for daemons; a missing file raises :class:`OSError`;
4. a ``[logging]`` section holding a :func:`logging.config.dictConfig` dictionary (TOML
   configuration only, as in Luigi);
5. the default: for the interface, dagcore's console logging at ``opts.log_level``
   (:func:`dagcore.logging_setup.setup_logging`); for daemons, :func:`logging.basicConfig`.

``config`` is the configuration these read: the process-wide one (``get_config()``) unless a
class is given one of its own (``InterfaceLogging.config = parser``).
"""

from __future__ import annotations

import logging
import logging.config
import os
from configparser import NoSectionError
from typing import Any, ClassVar

from dagcore.configuration import LuigiConfigParser, get_config
from dagcore.freezing import unfreeze
from dagcore.logging_setup import setup_logging

__all__ = ["BaseLogging", "DaemonLogging", "InterfaceLogging"]

logger = logging.getLogger("dagcore")


class _CurrentConfig:
    """A class attribute that reads as the process-wide configuration until a class sets its
    own (so a reset or reload of the configuration is seen)."""

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return get_config()


class _DefaultOptions:
    """What ``setup()`` assumes when it is given no options (Luigi's defaults)."""

    background: bool | None = None
    logdir: str | None = None
    logging_conf_file: str | None = None
    log_level: str = "DEBUG"


class BaseLogging:
    """The order in which logging is configured (see the module docstring)."""

    config: ClassVar[Any] = _CurrentConfig()
    _configured: ClassVar[bool] = False

    @classmethod
    def _cli(cls, opts: Any) -> bool:
        return False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        return False

    @classmethod
    def _default(cls, opts: Any) -> bool:
        return False

    @classmethod
    def _section(cls, opts: Any) -> bool:
        """Configure from a ``[logging]`` section (a dictConfig dictionary), if there is one."""
        if isinstance(cls.config, LuigiConfigParser):
            return False  # INI values are strings: no dictionary to give dictConfig
        try:
            section = _nested_section(cls.config, "logging")
        except (TypeError, KeyError, NoSectionError):
            return False
        logging.config.dictConfig(section)
        return True

    @classmethod
    def setup(cls, opts: Any = _DefaultOptions) -> bool:
        """Configure logging once; returns True if this call configured it."""
        if cls._configured:
            logger.info("logging already configured")
            return False
        cls._configured = True
        if cls.config.getboolean("core", "no_configure_logging", False):
            logger.info("logging disabled in settings")
            return False
        steps = (
            (cls._cli, "special settings"),
            (cls._conf, "*.conf file"),
            (cls._section, "config section"),
            (cls._default, "default settings"),
        )
        for step, how in steps:
            if step(opts):
                logging.getLogger("dagcore").info("logging configured via %s", how)
                return True
        return False


def _nested_section(config: Any, name: str) -> dict[str, Any]:
    """Section ``name`` as one nested dictionary.

    dagcore's configuration keeps each TOML table as a section of its own
    (``[logging.loggers."my.module"]`` is section ``logging.loggers.my.module``); each is put
    back under the longest section name it extends, so dotted keys such as logger names stay
    whole.
    """
    root: dict[str, Any] = unfreeze(dict(config[name]))
    if not hasattr(config, "sections"):  # a plain mapping already nests its tables
        return root
    tables = {name: root}
    prefix = name + "."
    for section in sorted(
        (s for s in config.sections() if s.startswith(prefix)), key=lambda s: s.count(".")
    ):
        parent = max((t for t in tables if section.startswith(t + ".")), key=len)
        table: dict[str, Any] = unfreeze(dict(config[section]))
        tables[parent][section[len(parent) + 1 :]] = table
        tables[section] = table
    return root


def _existing_file(path: str) -> str:
    if not os.path.exists(path):
        raise OSError(f"Error: Unable to locate specified logging configuration file {path!r}")
    return path


class DaemonLogging(BaseLogging):
    """Logging for a daemon: ``--background``, ``--logdir``, ``[core] logging_conf_file``."""

    _configured: ClassVar[bool] = False
    _log_format = "%(asctime)s %(name)s[%(process)s] %(levelname)s: %(message)s"

    @classmethod
    def _cli(cls, opts: Any) -> bool:
        if getattr(opts, "background", None):
            logging.getLogger().setLevel(logging.INFO)
            return True
        logdir = getattr(opts, "logdir", None)
        if logdir:
            logging.basicConfig(
                level=logging.INFO,
                format=cls._log_format,
                filename=os.path.join(logdir, "luigi-server.log"),
            )
            return True
        return False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        conf_file = cls.config.get("core", "logging_conf_file", None)
        if conf_file is None:
            return False
        logging.config.fileConfig(_existing_file(str(conf_file)))
        return True

    @classmethod
    def _default(cls, opts: Any) -> bool:
        logging.basicConfig(level=logging.INFO, format=cls._log_format)
        return True


class InterfaceLogging(BaseLogging):
    """Logging for a process that runs tasks: ``--logging-conf-file``, ``--log-level``."""

    _configured: ClassVar[bool] = False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        conf_file = getattr(opts, "logging_conf_file", None)
        if not conf_file:
            return False
        logging.config.fileConfig(_existing_file(str(conf_file)), disable_existing_loggers=False)
        return True

    @classmethod
    def _default(cls, opts: Any) -> bool:
        name = str(getattr(opts, "log_level", None) or "DEBUG").upper()
        level = logging.getLevelName(name)
        setup_logging(level=level if isinstance(level, int) else logging.DEBUG)
        return True
