"""Where the configuration comes from, and the process-wide :class:`DagcoreConfig`.

Sources, lowest precedence first:

1. Luigi's files, for migration: ``client.cfg``, ``luigi.cfg``, ``luigi.toml`` in the working
   directory, then ``$LUIGI_CONFIG_PATH``.
2. ``$DAGCORE_CONFIG_PATH``, or ``dagcore.toml`` in the working directory.
3. Files added with :func:`add_config_path`, in the order they were added.
4. The environment (see :mod:`dagcore.configuration.env_source`).
5. Runtime overrides made with :meth:`DagcoreConfig.set`.

The process-wide configuration object is in :mod:`dagcore.configuration.parsers`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dagcore.configuration.env_source import read_env
from dagcore.configuration.ini_source import read_ini
from dagcore.configuration.schema import filter_layer
from dagcore.configuration.toml_source import read_toml
from dagcore.configuration.values import Layer
from dagcore.errors import ConfigError

DAGCORE_FILE = "dagcore.toml"
LUIGI_FILES = ("client.cfg", "luigi.cfg", "luigi.toml")


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A configuration file to read.

    Attributes:
        path: As found or given; used verbatim in messages.
        luigi: True for Luigi's files, which are filtered by Luigi's rules.
        toml: True to parse as TOML, False for a Luigi-style INI file.
    """

    path: str
    luigi: bool
    toml: bool

    @classmethod
    def by_extension(cls, path: str, *, luigi: bool) -> ConfigFile:
        """``.toml`` files are TOML; anything else (``.cfg``, ``.ini``, ...) is INI."""
        return cls(path, luigi=luigi, toml=path.lower().endswith(".toml"))


def _from_variable(environ: Mapping[str, str], name: str) -> str | None:
    path = environ.get(name, "").strip()
    if not path:
        return None
    if not os.path.isfile(path):
        raise ConfigError(
            f"{name}={path}: no such configuration file; fix the path or unset {name}"
        )
    return path


def config_files(environ: Mapping[str, str], added: Sequence[str] = ()) -> list[ConfigFile]:
    """Return the files to read, lowest precedence first.

    Raises:
        ConfigError: ``DAGCORE_CONFIG_PATH`` or ``LUIGI_CONFIG_PATH`` names a missing file.
    """
    files = [
        ConfigFile.by_extension(name, luigi=True) for name in LUIGI_FILES if os.path.isfile(name)
    ]
    luigi_path = _from_variable(environ, "LUIGI_CONFIG_PATH")
    if luigi_path is not None:
        files.append(ConfigFile.by_extension(luigi_path, luigi=True))
    dagcore_path = _from_variable(environ, "DAGCORE_CONFIG_PATH")
    if dagcore_path is not None:
        # The variable always names a dagcore TOML file, whatever its extension.
        files.append(ConfigFile(dagcore_path, luigi=False, toml=True))
    elif os.path.isfile(DAGCORE_FILE):
        files.append(ConfigFile(DAGCORE_FILE, luigi=False, toml=True))
    files.extend(ConfigFile.by_extension(path, luigi=False) for path in added)
    return files


def read_file(config_file: ConfigFile) -> Layer:
    """Read and filter one file into a layer."""
    path = config_file.path
    sections = read_toml(path) if config_file.toml else read_ini(path)
    return Layer(path, filter_layer(sections, path, luigi=config_file.luigi))


def load_layers(environ: Mapping[str, str], added: Sequence[str] = ()) -> list[Layer]:
    """Read every source into layers, lowest precedence first."""
    layers = [read_file(config_file) for config_file in config_files(environ, added)]
    env_sections = filter_layer(read_env(environ), "environment", luigi=False)
    if env_sections:
        layers.append(Layer("environment", env_sections))
    return layers


# -- files added at run time -------------------------------------------------------------------

_lock = threading.Lock()
_added: list[str] = []


def add_path(path: str) -> None:
    """Read ``path`` too from now on (see :func:`~dagcore.configuration.add_config_path`)."""
    with _lock:
        _added.append(path)


def forget_paths() -> None:
    """Forget the files added with :func:`add_path`."""
    with _lock:
        _added.clear()


def process_layers() -> list[Layer]:
    """Read this process's sources: the files, the added files and ``os.environ``."""
    with _lock:
        added = list(_added)
    return load_layers(os.environ, added)
