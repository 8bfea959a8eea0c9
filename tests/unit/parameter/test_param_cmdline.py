"""Command lines read as Luigi reads them: ``CmdlineParser`` and dagcore's ``parse_task``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dagcore.parameter as p
from dagcore.cmdline_parser import (
    CmdlineParser,
    CommandLineError,
    luigi_command_line,
    parse_task,
)
from dagcore.configuration import get_config
from dagcore.task import Config, Task
from dagcore.task_register import Register


class CmdLeaf(Task):
    size = p.IntParameter(default=1)
    label = p.Parameter(default="leaf")


class CmdRoot(Task):
    day = p.DateParameter()
    verbose = p.BoolParameter()
    strict = p.BoolParameter(parsing=p.BoolParameter.EXPLICIT_PARSING)
    long_parameter_name = p.IntParameter(default=0)

    def requires(self) -> CmdLeaf:
        return CmdLeaf()


class CmdSettings(Config):
    use_cmdline_section = False
    threshold = p.IntParameter(default=10)


def _task(parser: CmdlineParser) -> Any:
    return parser.get_task_obj()


@pytest.fixture(autouse=True)
def no_command_line() -> Iterator[None]:
    saved = Register._get_reg()
    CmdlineParser._instance = None
    yield
    CmdlineParser._instance = None
    Register._set_reg(saved)


def test_family_flags_reach_tasks_built_inside_the_block_only() -> None:
    args = ["CmdRoot", "--day", "2024-01-02", "--CmdLeaf-size", "5", "--threshold", "3"]
    with CmdlineParser.global_instance(args) as parser:
        root: Any = parser.get_task_obj()
        assert str(root.day) == "2024-01-02"
        assert root.requires().size == 5
        assert CmdLeaf(size=9).size == 9  # an explicit argument wins
        assert CmdSettings().threshold == 3
        assert parser.known_args.CmdLeaf_size == "5"
    assert CmdLeaf().size == 1 and CmdSettings().threshold == 10


def test_flags_may_come_before_the_family_and_be_abbreviated() -> None:
    args = ["--CmdLeaf-label", "x", "CmdRoot", "--day", "2024-01-02", "--long-param", "4"]
    with CmdlineParser.global_instance(args) as parser:
        root: Any = parser.get_task_obj()
        assert root.long_parameter_name == 4
        assert CmdLeaf().label == "x"


def test_bool_flags_follow_their_parsing_mode() -> None:
    with CmdlineParser.global_instance(["CmdRoot", "--day", "2024-01-02", "--verbose"]) as cp:
        assert _task(cp).verbose is True
    args = ["CmdRoot", "--day", "2024-01-02", "--strict", "false"]
    with CmdlineParser.global_instance(args) as cp:
        assert _task(cp).strict is False
    # An implicit flag takes no value: argparse rejects the stray word.
    with pytest.raises(SystemExit):
        CmdlineParser(["CmdRoot", "--day", "2024-01-02", "--verbose", "true"])


def test_luigi_errors_exit_as_argparse_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        CmdlineParser(["CmdRoot", "--nope", "1"])
    assert caught.value.code == 2
    assert "unrecognized arguments: --nope" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="No task specified"):
        CmdlineParser(["--CmdLeaf-size", "3"])
    with pytest.raises(SystemExit) as helped:
        CmdlineParser(["CmdRoot", "--help"])
    assert helped.value.code is None
    assert "--long-parameter-name" in capsys.readouterr().out


def test_global_instance_refuses_to_nest_unless_allowed() -> None:
    with CmdlineParser.global_instance(["CmdLeaf"]):
        with pytest.raises(AssertionError):
            with CmdlineParser.global_instance(["CmdLeaf"]):
                pass
        with CmdlineParser.global_instance(["CmdLeaf", "--size", "2"], allow_override=True) as cp:
            assert _task(cp).size == 2


def test_parse_task_says_what_is_wrong() -> None:
    with pytest.raises(CommandLineError, match=r"CmdRoot: unknown parameter --nope .*--day"):
        parse_task(CmdRoot, ["--day", "2024-01-02", "--nope", "1"])
    with pytest.raises(CommandLineError, match="unexpected argument 'true'"):
        parse_task(CmdRoot, ["--day", "2024-01-02", "--verbose", "true"])
    with pytest.raises(CommandLineError, match="expected one argument"):
        parse_task(CmdRoot, ["--day"])
    with pytest.raises(ValueError, match=r"CmdLeaf.*parameter 'size'"):
        parse_task(CmdRoot, ["--day", "2024-01-02", "--CmdLeaf-size", "many"])


def test_parse_task_puts_the_command_line_in_effect_without_touching_the_config() -> None:
    with luigi_command_line():
        root = parse_task(CmdRoot, ["--day", "2024-01-02", "--CmdLeaf-size", "6"])
        assert root.requires().size == 6
        assert not get_config().has_option("CmdLeaf", "size")
    assert CmdlineParser.get_instance() is None
    assert CmdLeaf().size == 1


def test_luigi_command_line_reports_usage_errors_as_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught, luigi_command_line():
        parse_task(CmdRoot, ["--nope"])
    assert caught.value.code == 2
    assert "unknown parameter --nope" in capsys.readouterr().err
