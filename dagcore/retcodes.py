"""Luigi's ``retcodes`` module: the ``[retcode]`` exit codes as a config class.

``dagcore run`` and ``luigi``-style command lines accept Luigi's ``--retcode-task-failed 5``
flags (any ``[retcode]`` key) because :class:`retcode` declares them; :func:`retcodes` merges
them with the ``[retcode]`` section into the codes a run's summary uses. The defaults are
dagcore's (the values Luigi's documentation recommends; see the README), not Luigi's zeros.
"""

from __future__ import annotations

from dagcore.configuration.schema import SECTION_KEYS
from dagcore.configuration.settings import RetcodeSettings
from dagcore.errors import ConfigError
from dagcore.parameter import IntParameter
from dagcore.task import Config

__all__ = ["retcode", "retcodes"]

_DEFAULTS = RetcodeSettings()


class retcode(Config):  # noqa: N801 - Luigi's config section and class name
    """``[retcode]``: the exit code of a run per outcome (the largest that applies wins)."""

    already_running = IntParameter(default=_DEFAULTS.already_running)
    missing_data = IntParameter(default=_DEFAULTS.missing_data)
    not_run = IntParameter(default=_DEFAULTS.not_run)
    task_failed = IntParameter(default=_DEFAULTS.task_failed)
    scheduling_error = IntParameter(default=_DEFAULTS.scheduling_error)
    unhandled_exception = IntParameter(default=_DEFAULTS.unhandled_exception)


def retcodes() -> RetcodeSettings:
    """The codes in effect: command-line flags over ``[retcode]`` over the defaults.

    Raises:
        ConfigError: a code given on the command line is not an exit status (0-255).
    """
    flags = retcode()
    values: dict[str, int] = {}
    for name in sorted(SECTION_KEYS["retcode"]):
        value = int(getattr(flags, name))  # the flag, else the section, else the default
        if not 0 <= value <= 255:
            raise ConfigError(
                f"--retcode-{name.replace('_', '-')} {value}: not an exit status (0-255)"
            )
        values[name] = value
    return RetcodeSettings(**values)
