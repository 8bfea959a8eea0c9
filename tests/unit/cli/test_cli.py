"""The ``dagcore`` command line: run, graph, history, lineage, errors and ``dagcore.run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dagcore
from dagcore.cli import main
from dagcore.errors import TaskClassNotFoundException

ROOT = Path(__file__).resolve().parents[3]
MODULE = "tests.unit.executor.tasks"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagcore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        check=False,
    )


def test_run_prints_the_summary_and_exits_zero() -> None:
    result = _cli("run", "--module", MODULE, "Step", "--i", "2", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "===== dagcore Execution Summary =====" in result.stdout
    assert "3 ran successfully" in result.stdout
    assert Path("out/step-2").exists()


def test_family_params_and_failures_give_luigi_exit_codes() -> None:
    # --Family-param reaches a task built inside requires()
    result = _cli("run", "--module", MODULE, "Naps", "--n", "1", "--Nap-seconds", "0")
    assert result.returncode == 0, result.stderr
    failed = _cli("run", "--module", MODULE, "AfterFailure")
    assert failed.returncode == 30
    # Luigi's --retcode-* flags override [retcode] for this run.
    flagged = _cli("run", "--module", MODULE, "AfterFailure", "--retcode-task-failed", "5")
    assert flagged.returncode == 5, flagged.stderr
    assert "this task always fails" in failed.stdout


def test_bad_input_is_one_line_and_a_hint() -> None:
    unknown = _cli("run", "--module", MODULE, "Step", "--j", "1")
    assert unknown.returncode == 2
    assert "Traceback" not in unknown.stderr
    assert "Step: unknown parameter --j" in unknown.stderr and "--i" in unknown.stderr
    assert "hint:" in unknown.stderr
    bad_value = _cli("run", "--module", MODULE, "Step", "--i", "two")
    assert bad_value.returncode == 2 and "parameter 'i'" in bad_value.stderr
    missing = _cli("run", "--module", MODULE, "Step")
    assert missing.returncode == 2 and "requires the 'i' parameter" in missing.stderr
    family = _cli("run", "--module", MODULE, "Stpe", "--i", "1")
    assert family.returncode == 2 and "Did you mean: Step" in family.stderr
    module = _cli("run", "--module", "no.such.module", "Step")
    assert module.returncode == 2 and "no.such" in module.stderr and "--module" in module.stderr
    debug = _cli("run", "--module", MODULE, "Step", "--j", "1", "--debug")
    assert "Traceback" in debug.stderr


def test_help_everywhere() -> None:
    for args in (["--help"], ["run", "--help"], ["graph", "--help"], ["history", "--help"]):
        result = _cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "usage" in result.stdout.lower()
    family = _cli("run", "--module", MODULE, "Step", "--help")
    assert "--i <IntParameter>" in family.stdout and "--sleep" in family.stdout


def test_graph_formats_and_check() -> None:
    text = _cli("graph", "--module", MODULE, "Step", "--i", "2")
    assert text.returncode == 0 and text.stdout.count("Step(i=") == 3
    for fmt, marker in (("dot", "digraph"), ("mermaid", "flowchart"), ("json", '"nodes"')):
        out = _cli("graph", "--module", MODULE, "Step", "--i", "1", "--format", fmt)
        assert out.returncode == 0 and marker in out.stdout
    plan = json.loads(
        _cli("graph", "--module", MODULE, "Step", "--i", "1", "--format", "json").stdout
    )
    assert {node["family"] for node in plan["nodes"]} == {"Step"}
    assert not Path("out/step-1").exists()  # graph never runs anything
    cyclic = Path("cyclic_tasks.py")
    cyclic.write_text(
        "import dagcore\n"
        "class Ping(dagcore.Task):\n"
        "    def requires(self): return Pong()\n"
        "class Pong(dagcore.Task):\n"
        "    def requires(self): return Ping()\n"
    )
    env = {"PYTHONPATH": f"{ROOT}:{Path.cwd()}"}
    checked = _cli("graph", "--module", "cyclic_tasks", "Ping", "--check", env=env)
    assert checked.returncode == 1
    assert "Ping() -> Pong() -> Ping()" in checked.stderr
    unchecked = _cli("graph", "--module", "cyclic_tasks", "Ping", env=env)
    assert unchecked.returncode == 0


def test_history_and_lineage_commands() -> None:
    assert _cli("run", "--module", MODULE, "Step", "--i", "1").returncode == 0
    listing = _cli("history", "--json")
    assert listing.returncode == 0, listing.stderr
    (run,) = json.loads(listing.stdout)
    assert run["status"] == "SUCCESS" and run["started_at"].endswith("+00:00")
    detail = json.loads(_cli("history", "--run", run["run_id"][:8], "--json").stdout)
    assert {t["family"] for t in detail["tasks"]} == {"Step"}
    assert len(detail["attempts"]) == 2
    table = _cli("history", "--run", run["run_id"])
    assert "Step" in table.stdout
    lineage = _cli("lineage", "out/step-1", "--json")
    assert lineage.returncode == 0, lineage.stderr
    steps = json.loads(lineage.stdout)["steps"]
    assert steps[0]["producer"]["family"] == "Step"
    assert any(step["uri"].endswith("out/step-0") for step in steps)
    missing = _cli("history", "--run", "nope")
    assert missing.returncode == 2 and "dagcore history" in missing.stderr


def test_json_logs() -> None:
    result = _cli(
        "run", "--module", MODULE, "Step", "--i", "0", "--log-format", "json", "--log-level", "INFO"
    )
    assert result.returncode == 0
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)


def test_dagcore_run_function_is_luigi_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert dagcore.run(["--module", MODULE, "Step", "--i", "1", "--local-scheduler"]) is True
    summary = dagcore.run(["Step", "--i", "1"], detailed_summary=True)
    assert summary.run_id and "complete ones were encountered" in summary.summary_text
    assert dagcore.run(["AlwaysFails", "--name", "cli"]) is False
    assert dagcore.interface.run(["Step", "--i", "1"]) is True  # luigi.interface.run
    assert main(["run", "Step", "--i", "1"]) == 0
    assert "dagcore Execution Summary" in capsys.readouterr().out


_MISSING_INPUT_TASKS = (
    "import dagcore\n"
    "class Raw(dagcore.ExternalTask):\n"
    "    def output(self): return dagcore.LocalTarget('out/raw-not-there')\n"
    "class Uses(dagcore.Task):\n"
    "    def requires(self): return Raw()\n"
    "    def output(self): return dagcore.LocalTarget('out/uses')\n"
    "    def run(self): self.output().open('w').close()\n"
    "class Other(dagcore.Task):\n"
    "    def output(self): return dagcore.LocalTarget('out/other')\n"
    "    def run(self): self.output().open('w').close()\n"
    "class Both(dagcore.WrapperTask):\n"
    "    def requires(self): return [Uses(), Other()]\n"
)


def test_missing_input_runs_the_rest_and_fail_fast_refuses() -> None:
    # No PYTHONPATH for the current directory: it is importable for --module, as with celery -A.
    Path("missing_input_tasks.py").write_text(_MISSING_INPUT_TASKS)
    refused = _cli("run", "--module", "missing_input_tasks", "Both", "--fail-fast")
    assert refused.returncode == 20, refused.stderr  # [retcode] missing_data
    assert not Path("out/other").exists()
    ran = _cli("run", "--module", "missing_input_tasks", "Both")
    assert ran.returncode == 20, ran.stderr
    assert Path("out/other").exists() and not Path("out/uses").exists()
    # The summary is printed once, on standard output, and not logged a second time.
    assert (ran.stdout + ran.stderr).count("===== dagcore Execution Summary =====") == 2
    assert "had missing dependencies:" in ran.stdout
    assert "Data for Raw() does not exist" in ran.stderr


def test_run_function_reports_usage_errors_as_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The script's own command line: as `dagcore run` does.
    monkeypatch.setattr(sys, "argv", ["pipeline.py", "--module", MODULE, "Step", "--j", "1"])
    with pytest.raises(SystemExit) as exited:
        dagcore.run()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Step: unknown parameter --j" in err and "hint:" in err and "Traceback" not in err
    with pytest.raises(TypeError, match="list or tuple"):
        dagcore.run(123)  # type: ignore[arg-type]
    # An explicit list is a library call, as luigi.run: a malformed command line exits 2 as
    # argparse does, other errors are raised.
    with pytest.raises(SystemExit) as malformed:
        dagcore.run(["--module", MODULE, "Step", "--j", "1"])
    assert malformed.value.code == 2
    with pytest.raises(TaskClassNotFoundException):
        dagcore.run(["--module", MODULE, "Stpe", "--i", "1"])
    with pytest.raises(SystemExit) as no_family:
        dagcore.run(["--local-scheduler"])
    assert no_family.value.code == 2


def test_luigi_alias_switch_runs_an_unmodified_luigi_module() -> None:
    Path("luigi_tasks.py").write_text(
        "import luigi\n"
        "class Hello(luigi.Task):\n"
        "    def output(self): return luigi.LocalTarget('out/hello')\n"
        "    def run(self): self.output().open('w').close()\n"
    )
    flag = _cli("run", "--luigi-alias", "--module", "luigi_tasks", "Hello")
    assert flag.returncode == 0, flag.stderr
    assert Path("out/hello").exists() and "1 ran successfully" in flag.stdout
    Path("out/hello").unlink()
    env = _cli("run", "--module", "luigi_tasks", "Hello", env={"DAGCORE_LUIGI_ALIAS": "1"})
    assert env.returncode == 0, env.stderr
    Path("dagcore.toml").write_text("[core]\nluigi_alias = true\n")
    config = _cli("run", "--module", "luigi_tasks", "Hello")
    assert config.returncode == 0, config.stderr
