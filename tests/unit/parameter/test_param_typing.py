"""Type checkers understand parameters: mypy --strict accepts typed_sample.py and catches misuse."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from pathlib import Path

import dagcore.parameter as p
from dagcore.date_interval import Month

from . import typed_sample

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = Path(typed_sample.__file__).resolve()

# Each line ends with the error code mypy must report on it.
MISUSE = textwrap.dedent(
    """
    from __future__ import annotations

    import datetime

    import dagcore.parameter as p
    from dagcore.task import Task


    class Misused(Task):
        day: p.DateParameter = p.DateParameter()
        maybe: p.OptionalIntParameter = p.OptionalIntParameter(default=None)
        items: p.ListParameter = p.ListParameter(default=[])


    Misused(day="2020-01-01")  # arg-type
    task = Misused(day=datetime.date(2020, 1, 1))
    count: int = task.maybe  # assignment
    text: str = task.day  # assignment
    p.IntParameter(default="1")  # arg-type
    Misused(items=5)  # arg-type
    Misused.day.parse(5)  # arg-type
    """
)


VALUE_ANNOTATED = textwrap.dedent(
    """
    from __future__ import annotations

    import datetime
    from typing import assert_type

    import dagcore.parameter as p
    from dagcore.task import Task


    class ValueAnnotated(Task):
        day: datetime.date = p.DateParameter()
        count: int = p.IntParameter(default=1)
        maybe: int | None = p.OptionalIntParameter(default=None)
        described: p.DateParameter = p.DateParameter()
        unannotated = p.IntParameter()


    task = ValueAnnotated(day=datetime.date(2020, 1, 1), described=datetime.date(2020, 1, 1))
    assert_type(task.day, datetime.date)
    assert_type(task.maybe, int | None)
    assert_type(task.described, datetime.date)
    assert_type(task.unannotated, int)
    assert_type(ValueAnnotated.described, p.DateParameter)
    assert_type(p.IntParameter(), p.IntParameter)
    ValueAnnotated(day="2020-01-01")  # arg-type
    ValueAnnotated(count=None)  # arg-type
    """
)

PLUGIN_CONFIG = textwrap.dedent(
    """
    [tool.mypy]
    strict = true
    python_version = "3.11"
    plugins = ["dagcore.parameter.mypy_plugin"]
    """
)


def expected_errors(source: str) -> set[tuple[int, str]]:
    """``(line, code)`` for every line of ``source`` ending with ``# <error code>``."""
    return {
        (number, text.rsplit("# ", 1)[-1])
        for number, text in enumerate(source.splitlines(), start=1)
        if text.endswith(("# arg-type", "# assignment"))
    }


def reported_errors(output: list[str], path: Path) -> set[tuple[int, str]]:
    return {
        (int(line.split(":")[1]), line.rsplit("[", 1)[-1].rstrip("]"))
        for line in output
        if line.startswith(str(path)) and ": error:" in line
    }


def run_mypy(tmp_path: Path, *files: Path, config: Path = ROOT / "pyproject.toml") -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            *map(str, files),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.splitlines()


def test_mypy_accepts_the_sample_and_reports_each_misuse(tmp_path: Path) -> None:
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE, encoding="utf-8")
    output = run_mypy(tmp_path, SAMPLE, misuse)

    assert [line for line in output if SAMPLE.name in line] == []
    expected = expected_errors(MISUSE)
    assert len(expected) == 6
    assert reported_errors(output, misuse) == expected, "\n".join(output)


def test_the_plugin_lets_annotations_name_the_value_type(tmp_path: Path) -> None:
    config = tmp_path / "mypy.toml"
    config.write_text(PLUGIN_CONFIG, encoding="utf-8")
    sample = tmp_path / "value_annotated.py"
    sample.write_text(VALUE_ANNOTATED, encoding="utf-8")
    output = run_mypy(tmp_path, sample, config=config)
    assert reported_errors(output, sample) == expected_errors(VALUE_ANNOTATED), "\n".join(output)


def test_without_the_plugin_value_annotations_are_rejected(tmp_path: Path) -> None:
    # Documents why the plugin exists: a DateParameter is not a date.
    sample = tmp_path / "value_annotated.py"
    sample.write_text(VALUE_ANNOTATED, encoding="utf-8")
    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    without_plugin = tmp_path / "no-plugin.toml"
    without_plugin.write_text(
        "\n".join(line for line in project.splitlines() if not line.startswith("plugins")),
        encoding="utf-8",
    )
    output = run_mypy(tmp_path, sample, config=without_plugin)
    assert (12, "assignment") in reported_errors(output, sample), "\n".join(output)


def test_the_sample_runs_and_its_values_have_the_stated_types() -> None:
    task, luigi_style = typed_sample.build()
    values = typed_sample.check_types(task, luigi_style)
    assert len(values) == 37
    assert task.ratio == 3 and task.day == datetime.date(2020, 5, 6)
    assert task.month == datetime.date(2020, 5, 1) and task.period == Month(2020, 1)
    assert task.hour == datetime.datetime(2020, 5, 6)
    assert task.items == (1, 2) and task.maybe_items == (3,) and task.picks == (2, 1)
    assert task.where == Path("relative/path") and task.maybe_where == Path("x")
    assert luigi_style.count == 3
    assert isinstance(typed_sample.TypedSample.size, p.NumericalParameter)
