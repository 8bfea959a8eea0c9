"""Luigi's parser classes: ``instance()``/``_instance``, ``set`` expansion, the parser switch."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from dagcore.configuration import (
    InterpolationMissingEnvvarError,
    LuigiConfigParser,
    LuigiTomlParser,
    add_config_path,
    get_config,
)
from dagcore.configuration.core import DuplicateSectionError
from dagcore.parameter import IntParameter
from dagcore.task import Task

Write = Callable[[str, str], Path]


def test_get_config_is_the_instance_of_the_default_parser() -> None:
    config = get_config()
    assert isinstance(config, LuigiConfigParser)
    assert config is LuigiConfigParser.instance() is get_config("cfg") is get_config("ini")


def test_a_swapped_instance_is_what_parameters_read() -> None:
    class Sized(Task):
        size = IntParameter(default=1)

    assert Sized().size == 1
    original = LuigiConfigParser.instance()
    replacement = LuigiConfigParser()  # empty: it reads no file
    replacement.add_section("Sized")
    replacement.set("Sized", "size", "7")
    LuigiConfigParser._instance = replacement
    try:
        assert get_config() is replacement
        assert Sized().size == 7
    finally:
        LuigiConfigParser._instance = original
    assert Sized().size == 1


def test_values_given_to_set_are_expanded_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE_TEST_HOME", "/home/x")
    config = get_config()
    config.set("paths", "root", "${DAGCORE_TEST_HOME}/data")
    config.set("paths", "raw", "%(root)s/raw")
    config.set("paths", "rate", "50%%")
    config.set("paths", "broken", "${DAGCORE_TEST_UNSET}")
    assert config.get("paths", "raw") == "/home/x/data/raw"
    assert config.get("paths", "rate") == "50%"
    assert config.getint("paths", "missing", 3) == 3
    # Only reading the broken value fails, and the error names it.
    with pytest.raises(InterpolationMissingEnvvarError, match="DAGCORE_TEST_UNSET") as caught:
        config.get("paths", "broken")
    assert (caught.value.section, caught.value.option) == ("paths", "broken")


def test_underscore_spelling_wins_and_dashes_are_deprecated() -> None:
    config = get_config()
    config.set("Job", "row_limit", "1")
    config.set("Job", "row-limit", "2")
    assert config.get("Job", "row-limit") == "1"
    config.set("Job", "batch-size", "5")
    with pytest.warns(DeprecationWarning, match=r"\[Job\] batch-size \(with dashes\)"):
        assert config.getint("Job", "batch_size") == 5


def test_sections_can_be_added_once_and_written_out() -> None:
    config = LuigiConfigParser()
    config.add_section("a")
    with pytest.raises(DuplicateSectionError):
        config.add_section("a")
    config.set("a", "x", "1")
    out = io.StringIO()
    config.write(out)
    assert out.getvalue() == "[a]\nx = 1\n\n"


def test_the_toml_parser_is_chosen_by_name_or_variable(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_file("extra.toml", "[hdfs]\nport = 50030\n[SomeTask]\nparam = {a = 1}\n")
    assert add_config_path(str(path))
    monkeypatch.setenv("LUIGI_CONFIG_PARSER", "toml")
    config = get_config()
    assert isinstance(config, LuigiTomlParser) and config is get_config("toml")
    assert config.get("hdfs", "port") == 50030
    assert config.data["SomeTask"]["param"] == {"a": 1}
    assert config["hdfs"] == {"port": 50030}
    with pytest.raises(KeyError):
        config.get("hdfs", "nope")


def test_a_disabled_parser_is_refused(write_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LuigiTomlParser, "enabled", False)
    with pytest.raises(ImportError):
        get_config("toml")
    with pytest.raises(ImportError):
        add_config_path(str(write_file("x.toml", "[a]\nb = 1\n")))


def test_assigning_data_replaces_the_whole_configuration(write_file: Write) -> None:
    write_file("luigi.toml", "[core]\nworkers = 3\n[Old]\nx = 1\n")
    config = LuigiTomlParser.instance()
    assert config.has_option("Old", "x")
    config.data = {"core": {"no_configure_logging": False, "logging_conf_file": None}}
    assert not config.has_section("Old")
    assert config.get("core", "logging_conf_file", "unset") is None
    assert config.data == {"core": {"no_configure_logging": False, "logging_conf_file": None}}


def test_configparser_style_removal_and_listing(write_file: Write) -> None:
    write_file("luigi.cfg", "[cors]\nenabled = true\n[Job]\na = 1\nb = 2\n")
    config = get_config()
    assert config.options("Job") == ["a", "b"]
    assert config.remove_option("Job", "a") and not config.remove_option("Job", "a")
    assert config.options("Job") == ["b"]
    assert config.remove_section("cors") and not config.has_section("cors")
    assert not config.remove_section("cors")
    assert config.defaults() == {}
    config.set("DEFAULT", "region", "eu")
    assert config.defaults() == {"region": "eu"}
    config.reload()  # the files are read again
    assert config.has_section("cors") and config.options("Job") == ["a", "b"]
