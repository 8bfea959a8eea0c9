"""``LuigiTomlParser``: the configuration as Luigi's TOML parser presents it.

``get_config("toml")``, or ``get_config()`` with ``LUIGI_CONFIG_PARSER=toml``, returns its
instance. It reads the same sources as :class:`~dagcore.configuration.LuigiConfigParser`
(dagcore merges INI and TOML files into one configuration); values keep their TOML types, values
given to :meth:`set` are returned as given, and :attr:`data` shows every section as a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagcore.configuration.base_parser import BaseParser

__all__ = ["LuigiTomlParser"]


class LuigiTomlParser(BaseParser):
    """The configuration with Luigi's ``LuigiTomlParser`` API (see the module docstring)."""

    @property
    def data(self) -> dict[str, dict[str, Any]]:
        """Every section as ``{option: value}``: a snapshot, not a live view.

        Assigning it replaces the whole configuration (see :meth:`replace_all`).
        """
        return {section: dict(self.items(section)) for section in self.sections()}

    @data.setter
    def data(self, sections: Mapping[str, Mapping[str, Any]]) -> None:
        self.replace_all(sections)

    def __getitem__(self, section: str) -> dict[str, Any]:
        """``config["hdfs"]``: the options of one section as a dict."""
        return dict(self.items(section))
