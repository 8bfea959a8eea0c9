"""Logging for the CLI and ``build(log_level=...)``: plain text or one JSON object per line."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "setup_logging"]

_HANDLER_NAME = "dagcore-console"
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, plus any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def setup_logging(
    level: str | int = "INFO", fmt: str = "text", conf_file: str | None = None
) -> None:
    """Configure the ``dagcore`` logger (idempotent).

    Parameters:
        level: a level name or number.
        fmt: "text" or "json".
        conf_file: a :mod:`logging.config` INI file (Luigi's ``--logging-conf-file``); when
            given it replaces everything else.
    """
    if conf_file is not None:
        logging.config.fileConfig(conf_file, disable_existing_loggers=False)
        return
    logger = logging.getLogger("dagcore")
    logger.setLevel(level if isinstance(level, int) else level.upper())
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
