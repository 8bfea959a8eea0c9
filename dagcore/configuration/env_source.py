"""Read dagcore settings from environment variables.

Three documented shortcuts, ``DAGCORE_BROKER_URL``, ``DAGCORE_HISTORY_URL`` and
``DAGCORE_FLOWER_URL``, set ``[celery] broker_url``, ``[history] url`` and
``[celery] flower_url``. Any other setting of dagcore's own sections is
``DAGCORE__SECTION__KEY`` (double underscores): ``DAGCORE__CORE__WORKERS=4``,
``DAGCORE__RESOURCES__GPU=2``, ``DAGCORE__QUEUES__GPU__CONCURRENCY=1`` (section ``queues.gpu``).
Section and key are lower-cased. Task-family sections are not reachable this way: family names
are case-sensitive and environment variable names conventionally are not.
"""

from __future__ import annotations

from collections.abc import Mapping

from dagcore.configuration.schema import is_dagcore_section, warn_once
from dagcore.configuration.values import Entry, Sections

PREFIX = "DAGCORE__"

SHORTCUTS: Mapping[str, tuple[str, str]] = {
    "DAGCORE_BROKER_URL": ("celery", "broker_url"),
    "DAGCORE_HISTORY_URL": ("history", "url"),
    "DAGCORE_FLOWER_URL": ("celery", "flower_url"),
}
"""Documented single-purpose variables (they win over the ``DAGCORE__`` spelling)."""


def read_env(environ: Mapping[str, str]) -> Sections:
    """Collect the dagcore settings in ``environ``; every value is a string."""
    sections: Sections = {}
    for name in sorted(environ):
        if name.startswith(PREFIX):
            _read_scheme_variable(name, environ[name], sections)
    for name, (section, option) in SHORTCUTS.items():
        value = environ.get(name, "")
        # An empty URL is never valid; treat `export DAGCORE_BROKER_URL=` as unset.
        if value.strip():
            sections.setdefault(section, {})[option] = Entry(value.strip(), name, "env")
    return sections


def _read_scheme_variable(name: str, value: str, sections: Sections) -> None:
    parts = name[len(PREFIX) :].lower().split("__")
    if len(parts) < 2 or not all(parts):
        warn_once(
            name,
            "",
            "",
            f"environment variable {name}: ignored; the form is DAGCORE__SECTION__KEY, "
            "e.g. DAGCORE__CORE__WORKERS=4",
        )
        return
    section, option = ".".join(parts[:-1]), parts[-1]
    if not is_dagcore_section(section):
        warn_once(
            name,
            section,
            option,
            f"environment variable {name}: ignored; [{section}] is not one of dagcore's "
            "sections (core, worker, resources, queues.NAME, history, celery, retcode). "
            "Set task parameter defaults in dagcore.toml instead.",
        )
        return
    sections.setdefault(section, {})[option] = Entry(value, name, "env")
