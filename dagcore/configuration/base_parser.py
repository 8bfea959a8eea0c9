"""The shared base of Luigi's two parser classes: one lazily built instance per class.

Luigi code reaches the configuration through ``LuigiConfigParser.instance()`` (or
``LuigiTomlParser.instance()``), and test helpers swap the object in ``_instance`` to give a
block of code another configuration. In dagcore both classes are views of the same layered
sources (Luigi's files, dagcore.toml, added files, the environment); they differ only in how a
value given to :meth:`set` is read back.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self, cast

from dagcore.configuration.core import NO_DEFAULT, DagcoreConfig, Loader
from dagcore.configuration.loader import add_path, process_layers


class BaseParser(DagcoreConfig):
    """A :class:`DagcoreConfig` with Luigi's class-level singleton API.

    ``Parser()`` is an empty configuration (fill it with :meth:`add_section` and :meth:`set`);
    ``Parser.instance()`` is the process-wide one, read from every source on first use.
    Assigning ``Parser._instance`` replaces it, and :func:`~dagcore.configuration.get_config`
    returns whatever is there.
    """

    NO_DEFAULT: ClassVar[Any] = NO_DEFAULT
    enabled: ClassVar[bool] = True
    """False makes :func:`~dagcore.configuration.get_config` refuse this parser (Luigi's flag
    for a parser whose library is not installed)."""
    _instance: ClassVar[DagcoreConfig | None] = None

    def __init__(self, loader: Loader | None = None) -> None:
        super().__init__(loader)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each parser class keeps its own instance.
        cls._instance = None

    @classmethod
    def instance(cls) -> Self:
        """Return the process-wide instance of this class, reading the sources on first use."""
        current = cls._instance
        if current is None:
            current = cls(process_layers)
            cls._instance = current
        return cast(Self, current)

    @classmethod
    def add_config_path(cls, path: str) -> None:
        """Read ``path`` too; parser instances already built are reloaded at once."""
        add_path(path)
        for parser_cls in BaseParser.__subclasses__():
            current = parser_cls._instance
            if current is not None:
                current.reload()
