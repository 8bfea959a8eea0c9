"""The Luigi-style getters: defaults, conversions, missing keys and error messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dagcore.configuration import NoOptionError, NoSectionError, get_config
from dagcore.errors import ConfigError, DagcoreError

Write = Callable[[str, str], Path]


def test_missing_section_and_option_raise_keyerror_subclasses(write_file: Write) -> None:
    write_file("dagcore.toml", "[Transform]\ndate = '2024-01-01'\n")
    cfg = get_config()
    with pytest.raises(NoSectionError) as section_error:
        cfg.get("Load", "table")
    with pytest.raises(NoOptionError) as option_error:
        cfg.get("Transform", "limit")
    for error in (section_error.value, option_error.value):
        assert isinstance(error, KeyError)
        assert isinstance(error, ConfigError)
        assert isinstance(error, DagcoreError)
        assert "dagcore.toml" in str(error)
    # The message reads as a sentence, not as a quoted dictionary key.
    assert str(section_error.value).startswith("no section [Load]")
    assert str(option_error.value).startswith("no option 'limit' in section [Transform]")
    assert option_error.value.option == "limit"
    assert section_error.value.section == "Load"


def test_defaults_are_returned_unconverted_when_missing() -> None:
    cfg = get_config()
    sentinel = object()
    assert cfg.get("Transform", "a", None) is None
    assert cfg.get("Transform", "a", sentinel) is sentinel
    assert cfg.getint("Transform", "a", None) is None
    assert cfg.getfloat("Transform", "a", 1.5) == 1.5
    assert cfg.getboolean("Transform", "a", False) is False
    assert cfg.getlist("Transform", "a", []) == []
    with pytest.raises(NoSectionError):
        cfg.getint("Transform", "a")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("FALSE", False),
        ("no", False),
        ("off", False),
        ("0", False),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_getboolean_accepts_luigi_spellings_and_toml_bools(raw: object, expected: bool) -> None:
    cfg = get_config()
    cfg.set("Transform", "flag", raw)
    assert cfg.getboolean("Transform", "flag") is expected


@pytest.mark.parametrize("raw", ["maybe", "", 2, 0.0, [True]])
def test_getboolean_rejects_other_values(raw: object) -> None:
    cfg = get_config()
    cfg.set("Transform", "flag", raw)
    with pytest.raises(ConfigError, match=r"\[Transform\] flag .*: expected a boolean"):
        cfg.getboolean("Transform", "flag")


def test_getint_and_getfloat_convert_strings_and_toml_numbers(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\ns_int = 12\ns_float = 2.5\n")
    write_file("dagcore.toml", "[Load]\nt_int = 7\nt_float = 0.25\n")
    cfg = get_config()
    assert cfg.getint("Transform", "s_int") == 12
    assert cfg.getfloat("Transform", "s_float") == 2.5
    assert cfg.getint("Load", "t_int") == 7
    assert cfg.getfloat("Load", "t_int") == 7.0
    assert cfg.getfloat("Load", "t_float") == 0.25


@pytest.mark.parametrize(
    ("toml_literal", "shown"),
    [("true", "True"), ("2.0", "2.0"), ('"2.5"', "'2.5'"), ('"two"', "'two'")],
)
def test_getint_rejects_non_integers_with_file_section_key(
    write_file: Write, toml_literal: str, shown: str
) -> None:
    write_file("dagcore.toml", f"[Transform]\nlimit = {toml_literal}\n")
    with pytest.raises(ConfigError) as error:
        get_config().getint("Transform", "limit")
    assert str(error.value) == f"dagcore.toml [Transform] limit: expected an integer, got {shown}"


def test_getfloat_rejects_text_and_non_finite_numbers() -> None:
    cfg = get_config()
    for raw in ("fast", "nan", True):
        cfg.set("Transform", "ratio", raw)
        with pytest.raises(ConfigError, match="expected a number"):
            cfg.getfloat("Transform", "ratio")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["a", "b"], ["a", "b"]),
        ("a, b,,c ", ["a", "b", "c"]),
        ('["a", 1]', ["a", 1]),
        ("", []),
    ],
)
def test_getlist_accepts_arrays_json_and_comma_separated(
    raw: object, expected: list[object]
) -> None:
    cfg = get_config()
    cfg.set("worker", "modules", raw)
    assert cfg.getlist("worker", "modules") == expected


def test_getintdict_converts_every_option(write_file: Write) -> None:
    write_file("luigi.cfg", "[resources]\ngpu = 2\n")
    write_file("dagcore.toml", "[resources]\nlicense = 1\n")
    cfg = get_config()
    assert cfg.getintdict("resources") == {"gpu": 2, "license": 1}
    assert cfg.getintdict("missing") == {}


def test_getintdict_minimum_reports_the_bad_key(write_file: Write) -> None:
    write_file("dagcore.toml", "[resources]\ngpu = -1\n")
    with pytest.raises(
        ConfigError, match=r"^dagcore\.toml \[resources\] gpu: expected a non-negative integer"
    ):
        get_config().getintdict("resources", minimum=0)


def test_items_and_sections(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\na = 1\n")
    write_file("dagcore.toml", "[Transform]\nb = 2\n[Load]\nc = 3\n")
    cfg = get_config()
    assert cfg.items("Transform") == [("a", "1"), ("b", 2)]
    assert cfg.sections() == ["Transform", "Load"]
    with pytest.raises(NoSectionError):
        cfg.items("Nope")


def test_source_and_describe_name_file_or_variable(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_file("dagcore.toml", "[core]\nworkers = 2\n")
    monkeypatch.setenv("DAGCORE__CORE__LOG_LEVEL", "INFO")
    cfg = get_config()
    cfg.set("Transform", "a", "x")
    assert cfg.source("core", "workers") == "dagcore.toml"
    assert cfg.source("core", "log-level") == "DAGCORE__CORE__LOG_LEVEL"
    assert cfg.describe("core", "workers") == "dagcore.toml [core] workers"
    assert cfg.describe("core", "log_level") == (
        "environment variable DAGCORE__CORE__LOG_LEVEL ([core] log_level)"
    )
    assert cfg.describe("Transform", "a") == "[Transform] a (set at runtime)"
    with pytest.raises(NoOptionError):
        cfg.source("core", "executor")


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE__CORE__WORKERS", "many")
    with pytest.raises(ConfigError) as error:
        get_config().getint("core", "workers")
    assert str(error.value) == (
        "environment variable DAGCORE__CORE__WORKERS ([core] workers): "
        "expected an integer, got 'many'"
    )


def test_parameter_default_lookup_contract(write_file: Write) -> None:
    """What dagcore.parameter relies on: has_option then get, raw strings vs typed TOML."""
    write_file("luigi.cfg", "[Transform]\nlimit = 10\n")
    write_file("dagcore.toml", "[examples.etl.Load]\nbatch-size = 500\n")
    cfg = get_config()
    assert cfg.has_option("Transform", "limit")
    assert cfg.get("Transform", "limit") == "10"
    assert cfg.has_option("examples.etl.Load", "batch_size")
    assert cfg.get("examples.etl.Load", "batch_size") == 500
    assert not cfg.has_option("Transform", "date")
    assert not cfg.has_option("Missing", "date")
