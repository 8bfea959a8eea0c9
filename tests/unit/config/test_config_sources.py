"""Reading dagcore.toml and INI files: types, sections, normalisation, syntax errors."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from dagcore.configuration import UnknownConfigKeyWarning, get_config
from dagcore.errors import ConfigError

Write = Callable[[str, str], Path]


def test_toml_values_keep_their_type(write_file: Write) -> None:
    write_file(
        "dagcore.toml",
        """
        [Transform]
        date = 2024-01-01
        limit = 10
        ratio = 0.5
        enabled = true
        tags = ["a", "b"]
        opts = {depth = 2}
        label = "2024-01-01"
        """,
    )
    cfg = get_config()
    assert cfg.get("Transform", "date") == datetime.date(2024, 1, 1)
    assert cfg.get("Transform", "limit") == 10
    assert cfg.get("Transform", "ratio") == 0.5
    assert cfg.get("Transform", "enabled") is True
    assert cfg.get("Transform", "tags") == ["a", "b"]
    assert cfg.get("Transform", "opts") == {"depth": 2}
    assert cfg.get("Transform", "label") == "2024-01-01"


def test_dotted_family_names_are_sections_in_both_spellings(write_file: Write) -> None:
    write_file(
        "dagcore.toml",
        """
        [examples.etl.Transform]
        date = "2024-01-01"

        ["examples.etl.Load"]
        table = "sales"
        """,
    )
    cfg = get_config()
    assert cfg.get("examples.etl.Transform", "date") == "2024-01-01"
    assert cfg.get("examples.etl.Load", "table") == "sales"
    assert cfg.has_section("examples.etl.Transform")
    assert not cfg.has_option("Transform", "date")


def test_section_names_are_case_sensitive(write_file: Write) -> None:
    write_file("dagcore.toml", "[Transform]\ndate = '2024-01-01'\n[transform]\ndate = 'x'\n")
    cfg = get_config()
    assert cfg.get("Transform", "date") == "2024-01-01"
    assert cfg.get("transform", "date") == "x"
    assert not cfg.has_section("TRANSFORM")


def test_dashes_and_underscores_name_the_same_option(write_file: Write) -> None:
    write_file("dagcore.toml", "[Transform]\nparam-name = 'dashed'\n")
    write_file("luigi.cfg", "[Load]\ntarget_table = underscored\n")
    cfg = get_config()
    for option in ("param-name", "param_name"):
        assert cfg.has_option("Transform", option)
        assert cfg.get("Transform", option) == "dashed"
    assert cfg.get("Load", "target-table") == "underscored"
    assert [name for name, _ in cfg.items("Transform")] == ["param_name"]


@pytest.mark.parametrize("name", ["dagcore.toml", "luigi.cfg"])
def test_one_option_spelled_twice_is_an_error(write_file: Write, name: str) -> None:
    write_file(name, "[Transform]\na-b = 1\na_b = 2\n")
    with pytest.raises(ConfigError, match=rf"{name} \[Transform\]: 'a-b' and 'a_b'"):
        get_config()


def test_toml_syntax_error_names_file_and_line(write_file: Write) -> None:
    write_file("dagcore.toml", "[core]\nworkers = 4\nexecutor = \n")
    with pytest.raises(ConfigError, match=r"^dagcore\.toml, line 3, column \d+: invalid TOML"):
        get_config()


def test_ini_values_are_strings(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\nlimit = 10\nenabled = true\n")
    cfg = get_config()
    assert cfg.get("Transform", "limit") == "10"
    assert cfg.get("Transform", "enabled") == "true"
    assert cfg.getint("Transform", "limit") == 10
    assert cfg.getboolean("Transform", "enabled") is True


def test_ini_option_names_keep_their_case(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\nmyParam = 1\n")
    cfg = get_config()
    assert cfg.has_option("Transform", "myParam")
    assert not cfg.has_option("Transform", "myparam")


def test_ini_interpolation_and_environment_references(
    write_file: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_BUCKET", "s3://bucket")
    write_file(
        "luigi.cfg",
        """
        [DEFAULT]
        root = /data

        [Transform]
        input = %(root)s/raw
        output = ${DATA_BUCKET}/clean
        percent = 50%%
        """,
    )
    cfg = get_config()
    assert cfg.get("Transform", "input") == "/data/raw"
    assert cfg.get("Transform", "output") == "s3://bucket/clean"
    assert cfg.get("Transform", "percent") == "50%"
    # [DEFAULT] feeds interpolation only; it is not a family and does not leak into sections.
    assert not cfg.has_option("Transform", "root")
    assert not cfg.has_section("DEFAULT")


def test_ini_missing_environment_variable_names_the_key(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\noutput = ${DAGCORE_TEST_UNSET_VARIABLE}/x\n")
    with pytest.raises(ConfigError, match=r"luigi\.cfg \[Transform\] output: .*UNSET_VARIABLE"):
        get_config()


def test_ini_bad_interpolation_names_the_key(write_file: Write) -> None:
    write_file("luigi.cfg", "[Transform]\npercent = 50%\n")
    with pytest.raises(ConfigError, match=r"luigi\.cfg \[Transform\] percent: .*%%"):
        get_config()


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("workers = 4\n[core]\n", 1, "before any"),
        ("[core]\nworkers = 4\nnot an option line\n", 3, "cannot parse"),
        ("[Transform]\na = 1\na = 2\n", 3, "set twice"),
    ],
)
def test_ini_syntax_errors_name_file_and_line(
    write_file: Write, text: str, line: int, what: str
) -> None:
    write_file("luigi.cfg", text)
    with pytest.raises(ConfigError, match=rf"^luigi\.cfg, line {line}: .*{what}"):
        get_config()


def test_toml_key_outside_any_section_warns(write_file: Write) -> None:
    write_file("dagcore.toml", "workers = 4\n[core]\nworkers = 2\n")
    with pytest.warns(UnknownConfigKeyWarning, match="'workers' is outside any"):
        cfg = get_config()
    assert cfg.getint("core", "workers") == 2


def test_unreadable_file_is_a_config_error(write_file: Write) -> None:
    path = write_file("dagcore.toml", "[core]\n")
    path.write_bytes(b"[core]\nlog_level = '\xff'\n")
    with pytest.raises(ConfigError, match=r"dagcore\.toml"):
        get_config()
