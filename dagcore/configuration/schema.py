"""Which sections and keys belong to dagcore, and the filter that applies that knowledge.

dagcore owns a few sections (``[core]``, ``[worker]``, ``[history]``, ``[celery]``,
``[retcode]``, ``[resources]`` and ``[queues.NAME]``); every other section holds parameter
defaults for a task family or a ``Config`` class and is passed through untouched. In dagcore's
own sections an unknown key is almost always a typo or a Luigi setting with no meaning here, so
it is dropped with an :class:`UnknownConfigKeyWarning`, once per key, rather than failing the run.

The typed settings in :mod:`dagcore.configuration.settings` read exactly these keys; a unit test
keeps the two in step. Add a key here when you add a settings field.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Mapping

from dagcore.configuration.values import Entry, Sections, describe

QUEUE_PREFIX = "queues."

SECTION_KEYS: Mapping[str, frozenset[str]] = {
    "core": frozenset(
        {
            "executor",
            "workers",
            "log_level",
            "log_format",
            "complete_check_threads",
            "retry_count",
            "retry_delay",
            "retry_backoff",
            "fail_fast",
            "luigi_alias",
        }
    ),
    "worker": frozenset(
        {
            "timeout",
            "check_complete_on_run",
            "check_unfulfilled_deps",
            "queues",
            "modules",
            "heartbeat_file",
            "heartbeat_interval",
            "shutdown_timeout",
        }
    ),
    "history": frozenset({"url"}),
    "celery": frozenset(
        {
            "broker_url",
            "result_backend",
            "visibility_timeout",
            "key_prefix",
            "prefetch_multiplier",
            "max_redeliveries",
            "lease_seconds",
            "task_events",
            "flower_url",
            "reaper_interval",
        }
    ),
    "retcode": frozenset(
        {
            "already_running",
            "missing_data",
            "not_run",
            "task_failed",
            "scheduling_error",
            "unhandled_exception",
        }
    ),
}
"""dagcore's fixed-key sections and their keys (normalised: underscores)."""

QUEUE_KEYS = frozenset({"concurrency", "memory", "resources", "resource_classes"})
"""Keys of a ``[queues.NAME]`` section."""

OPEN_SECTIONS = frozenset({"resources"})
"""dagcore sections whose keys are names the user chooses (resource name = capacity)."""

DAGCORE_ONLY_SECTIONS = frozenset({"history", "celery", "queues"})
"""Sections Luigi has no equivalent of: read from dagcore.toml and the environment only."""

LUIGI_ALIASES: Mapping[tuple[str, str], tuple[str, str]] = {
    # Luigi still honours this pre-[worker] spelling; dagcore reads it in its new home.
    ("core", "worker_timeout"): ("worker", "timeout"),
}

LUIGI_COMPATIBLE_KEYS = frozenset(
    {
        # dagcore always plans in-process and checks completeness concurrently, which is what
        # these ask Luigi for, so they are accepted without a warning and otherwise ignored.
        ("core", "local_scheduler"),
        ("core", "parallel_scheduling"),
        ("core", "parallel_scheduling_processes"),
    }
)


class ConfigWarning(UserWarning):
    """Something in the configuration was ignored; the message says what and why."""


class UnknownConfigKeyWarning(ConfigWarning):
    """A key in one of dagcore's own sections is not a dagcore setting and was ignored."""


_warned: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


def warn_once(source: str, section: str, option: str, message: str) -> None:
    """Emit ``message`` as an :class:`UnknownConfigKeyWarning` unless this key already warned.

    Reloading the configuration re-reads every file; without this a long-lived process would
    repeat the same warning on each reload.
    """
    key = (source, section, option)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, UnknownConfigKeyWarning, stacklevel=2)


def forget_warnings() -> None:
    """Let every key warn again (used when the configuration is reset, e.g. between tests)."""
    with _warned_lock:
        _warned.clear()


def is_dagcore_section(section: str) -> bool:
    """Return True for the sections dagcore itself defines (not task families)."""
    return (
        section in SECTION_KEYS
        or section in OPEN_SECTIONS
        or section == "queues"
        or section.startswith(QUEUE_PREFIX)
    )


def _is_dagcore_only(section: str) -> bool:
    return section in DAGCORE_ONLY_SECTIONS or section.startswith(QUEUE_PREFIX)


def _accepted(section: str, option: str, entry: Entry) -> bool:
    if section in OPEN_SECTIONS:
        return True
    # A TOML sub-table such as [queues.gpu] also shows up as a dict-valued key of [queues];
    # it is read as its own section, so it is not an unknown key here.
    if section == "queues" or section.startswith(QUEUE_PREFIX):
        return isinstance(entry.value, dict) or (section != "queues" and option in QUEUE_KEYS)
    return option in SECTION_KEYS.get(section, frozenset())


def _known_keys_hint(section: str) -> str:
    if section == "queues":
        return "[queues] holds only [queues.NAME] tables"
    keys = QUEUE_KEYS if section.startswith(QUEUE_PREFIX) else SECTION_KEYS.get(section, ())
    return f"known keys in [{section}]: {', '.join(sorted(keys))}"


def _apply_luigi_aliases(sections: Sections) -> Sections:
    moved: Sections = {name: dict(options) for name, options in sections.items()}
    for (old_section, old_option), (new_section, new_option) in LUIGI_ALIASES.items():
        entry = moved.get(old_section, {}).pop(old_option, None)
        # The file's own [worker] timeout wins over the legacy spelling if both are present.
        if entry is not None and new_option not in moved.get(new_section, {}):
            # Spelled by its new name now, so no warning about how the old one was written.
            moved.setdefault(new_section, {})[new_option] = dataclasses.replace(entry, key=None)
    return moved


def filter_layer(sections: Sections, origin: str, *, luigi: bool) -> Sections:
    """Keep what dagcore understands from one source; warn about and drop the rest.

    Args:
        sections: Everything the source sets.
        origin: The file path or ``"environment"``, for section-level warnings.
        luigi: True for Luigi's files, which may not set dagcore-only sections and may use
            Luigi's legacy key spellings.

    Returns:
        The sections to merge, without unknown keys of dagcore's own sections.
    """
    if luigi:
        sections = _apply_luigi_aliases(sections)
    kept: Sections = {}
    for section, options in sections.items():
        if not is_dagcore_section(section):
            kept[section] = dict(options)
            continue
        if luigi and _is_dagcore_only(section):
            warn_once(
                origin,
                section,
                "",
                f"{origin} [{section}]: this section is read from dagcore.toml or the "
                "environment only, not from Luigi's config files; it was ignored. "
                "Move it to dagcore.toml.",
            )
            continue
        kept[section] = {
            option: entry
            for option, entry in options.items()
            if _keep(section, option, entry, luigi=luigi)
        }
    return kept


def _keep(section: str, option: str, entry: Entry, *, luigi: bool) -> bool:
    if _accepted(section, option, entry):
        return True
    if not (luigi and (section, option) in LUIGI_COMPATIBLE_KEYS):
        warn_once(
            entry.source,
            section,
            option,
            f"{describe(section, option, entry)}: not a dagcore setting, ignored "
            f"({_known_keys_hint(section)}).",
        )
    return False
