"""The ``luigi`` alias: ``import luigi`` and every ``luigi.X`` resolve to dagcore's modules."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import dagcore
import dagcore.task
import dagcore.tools.range
from dagcore import luigi_alias
from dagcore.task_register import Register

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def alias() -> Iterator[None]:
    was_installed = luigi_alias.installed()
    luigi_alias.install()
    try:
        yield
    finally:
        if not was_installed:
            luigi_alias.uninstall()


def test_luigi_and_its_modules_are_dagcores_own_objects(alias: None) -> None:
    luigi = importlib.import_module("luigi")
    assert luigi is dagcore
    assert importlib.import_module("luigi.task") is dagcore.task
    assert importlib.import_module("luigi.tools.range") is dagcore.tools.range
    assert luigi.Task is dagcore.Task
    assert dagcore.task.__spec__ is not None
    assert dagcore.task.__spec__.name == "dagcore.task"  # aliasing leaves the module's own spec


def test_a_module_dagcore_lacks_never_falls_through_to_a_real_luigi(alias: None) -> None:
    with pytest.raises(ModuleNotFoundError, match="dagcore.no_such_module"):
        importlib.import_module("luigi.no_such_module")


def test_a_task_declared_through_the_alias_is_found_through_dagcore(alias: None) -> None:
    luigi = importlib.import_module("luigi")

    class AliasedFamily(luigi.Task):  # type: ignore[name-defined,misc]
        x = luigi.IntParameter()

    assert Register.get_task_cls("AliasedFamily") is AliasedFamily
    assert AliasedFamily(x=3).task_id.startswith("AliasedFamily_3_")


def test_uninstall_gives_back_the_real_luigi() -> None:
    luigi_alias.install()
    luigi_alias.uninstall()
    assert "luigi" not in sys.modules or sys.modules["luigi"] is not dagcore
    assert os.environ.get(luigi_alias.ENV_VAR) is None


def test_a_luigi_script_runs_unmodified_through_python_m(tmp_path: Path) -> None:
    script = tmp_path / "mypipe.py"
    script.write_text(
        textwrap.dedent(
            """
            import luigi

            class Hello(luigi.Task):
                name = luigi.Parameter(default="world")

                def output(self):
                    return luigi.LocalTarget(f"hello-{self.name}.txt")

                def run(self):
                    with self.output().open("w") as out:
                        out.write(f"hello {self.name} from {luigi.__name__}")

            if __name__ == "__main__":
                ok = luigi.build([Hello(name="luigi")], local_scheduler=True)
                raise SystemExit(0 if ok else 1)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(luigi_alias.ENV_VAR, None)
    result = subprocess.run(
        [sys.executable, "-m", "dagcore.luigi_alias", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "hello-luigi.txt").read_text() == "hello luigi from dagcore"
