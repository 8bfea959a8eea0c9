"""dagcore's configuration: ``dagcore.toml``, Luigi's config files and the environment.

``from dagcore.configuration import get_config`` gives the process-wide
:class:`DagcoreConfig`, with Luigi's ``get``/``getint``/``getfloat``/``getboolean``/
``getintdict``/``has_option``/``set`` API. It is an instance of Luigi's parser classes,
:class:`LuigiConfigParser` (the default) or :class:`LuigiTomlParser` (``LUIGI_CONFIG_PARSER=toml``),
with their ``instance()`` / ``_instance`` singleton. Typed, validated settings live in
:mod:`dagcore.configuration.settings`.

Sources, from lowest to highest precedence:

1. Luigi's files, so a Luigi project keeps working: ``client.cfg``, ``luigi.cfg`` and
   ``luigi.toml`` in the working directory, then ``$LUIGI_CONFIG_PATH``. They give parameter
   defaults and the ``[core]``, ``[worker]``, ``[resources]`` and ``[retcode]`` keys dagcore
   understands; other keys of those sections are ignored with an
   :class:`UnknownConfigKeyWarning`.
2. ``$DAGCORE_CONFIG_PATH`` (TOML), else ``./dagcore.toml``.
3. Files added with :func:`add_config_path`.
4. Environment variables.
5. :meth:`DagcoreConfig.set` (tests and command-line flags).

Sections of ``dagcore.toml``: ``[core]``, ``[worker]``, ``[resources]`` (name = capacity),
``[queues.NAME]``, ``[history]``, ``[celery]``, ``[retcode]``, and one section per task family
holding parameter defaults: ``[Transform]`` or ``[examples.etl.Transform]``. Section names are
case-sensitive; in option names ``-`` and ``_`` are the same (``param-name`` is ``param_name``).
INI values are strings; TOML values keep their type.

Environment variables:

``DAGCORE_CONFIG_PATH``
    The dagcore TOML file to read instead of ``./dagcore.toml``.
``DAGCORE_BROKER_URL``
    ``[celery] broker_url`` (default ``redis://localhost:6379/0``).
``DAGCORE_HISTORY_URL``
    ``[history] url`` (default ``sqlite:///.dagcore/history.db``).
``DAGCORE__SECTION__KEY``
    Any key of dagcore's own sections, with double underscores between the parts and the
    names lower-cased: ``DAGCORE__CORE__WORKERS=4`` sets ``[core] workers``,
    ``DAGCORE__RESOURCES__GPU=2`` sets ``[resources] gpu``, and
    ``DAGCORE__QUEUES__GPU__MEMORY=8GiB`` sets ``memory`` of ``[queues.gpu]``. Values are
    strings, parsed like INI values; lists are comma-separated or a JSON array. Task-family
    sections cannot be set this way. The two URL variables above win over their
    ``DAGCORE__`` spelling.

A bad value raises :class:`~dagcore.errors.ConfigError` naming its source, section and key, e.g.
``dagcore.toml [resources] gpu: expected a non-negative integer, got 'two'``.
"""

from __future__ import annotations

from dagcore.configuration.cfg_parser import InterpolationMissingEnvvarError, LuigiConfigParser
from dagcore.configuration.core import NO_DEFAULT, DagcoreConfig, NoOptionError, NoSectionError
from dagcore.configuration.parsers import add_config_path, get_config, reset_config
from dagcore.configuration.schema import ConfigWarning, UnknownConfigKeyWarning
from dagcore.configuration.toml_parser import LuigiTomlParser
from dagcore.configuration.values import normalize_option

__all__ = [
    "NO_DEFAULT",
    "ConfigWarning",
    "DagcoreConfig",
    "InterpolationMissingEnvvarError",
    "LuigiConfigParser",
    "LuigiTomlParser",
    "NoOptionError",
    "NoSectionError",
    "UnknownConfigKeyWarning",
    "add_config_path",
    "get_config",
    "normalize_option",
    "reset_config",
]
