"""``make compat``: Luigi's own authoring-API tests, run on Luigi and on dagcore side by side.

Downloads Luigi's sdist with pip (its ``test/`` folder is the specification), runs the listed
test files once against Luigi itself and once against dagcore through the ``luigi`` alias
(``DAGCORE_LUIGI_ALIAS``), with no edit to Luigi's files, and prints per file how many of the
tests that pass under Luigi also pass under dagcore. Exits 1 when the share falls below
``--minimum`` (the figure reached so far, kept in ``tests/compat/minimum.txt``).

Each side runs in its own copy of the test folder: dagcore's copy has no ``luigi`` package
beside it, so nothing from Luigi can leak into the dagcore run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VERSION = "3.8.1"
FILES = (
    "task parameter task_register clone decorator date_parameter dict_parameter list_parameter "
    "choice_parameter numerical_parameter optional_parameter local_target target mock instance "
    "instance_wrap date_interval range util event_callbacks execution_summary retcodes "
    "interface cmdline config_env config_toml task_serialize visible_parameters set_task_name "
    "task_forwarded_attributes wrap subtask recursion fib factorial dynamic_import "
    "customized_run task_bulk_complete task_progress_percentage task_status_message "
    "most_common helpers priority task_running_resources worker_task worker_external_task "
    "custom_metrics util_previous"
).split()


@dataclass
class FileResult:
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


def fetch_sdist(cache: Path, version: str) -> Path:
    """Download and unpack Luigi's sdist once; return its folder."""
    folder = cache / f"luigi-{version}"
    if (folder / "test").is_dir():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"luigi-{version}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--no-binary", ":all:", f"luigi=={version}", "-d", str(cache)],
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(cache, filter="data")
    return folder


def prepare_side(sdist: Path, side: str, work: Path, name: str) -> Path:
    """A fresh copy of Luigi's test folder for one side."""
    where = work / name
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copytree(sdist / "test", where / "test")
    return where


def run_side(where: Path, side: str, files: Sequence[str], timeout: int) -> Path:
    report = where / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUIGI_", "DAGCORE_"))}
    env["PYTHONPATH"] = str(where) + os.pathsep + str(where / "test")
    if side == "luigi":
        _check_luigi_version()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["-o", "addopts=", "-o", "filterwarnings=", f"--timeout={timeout}"]
    cmd += ["--continue-on-collection-errors"]
    cmd += [f"--junitxml={report}", "--rootdir", str(where / "test")]
    if side == "dagcore":
        env["DAGCORE_LUIGI_ALIAS"] = "1"
        env["PYTHONPATH"] = str(where / "test") + os.pathsep + str(ROOT)
    cmd += [f"test/{name}_test.py" for name in files]
    log = where / "pytest.log"
    with log.open("w") as out:
        subprocess.run(cmd, cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    return report


def _check_luigi_version() -> None:
    from importlib.metadata import version

    if version("luigi") != VERSION:
        raise SystemExit(f"the Luigi side needs luigi=={VERSION} installed (make venv)")


def parse_report(report: Path) -> dict[str, FileResult]:
    results: dict[str, FileResult] = {}
    if not report.exists():
        return results
    for case in ET.parse(report).getroot().iter("testcase"):
        classname = case.get("classname", "")
        module = classname.split(".")[0] if classname else case.get("file", "?")
        name = f"{classname}.{case.get('name', '')}"
        result = results.setdefault(module.removeprefix("test."), FileResult())
        problem = next(
            (c for c in case if c.tag in ("failure", "error", "skipped")),
            None,
        )
        if problem is None:
            result.passed.add(name)
        else:
            message = (problem.get("message") or problem.tag).splitlines()
            result.failed[name] = f"{problem.tag}: {message[0][:160] if message else ''}"
    return results


def compare(
    luigi: dict[str, FileResult], dagcore: dict[str, FileResult], files: Sequence[str]
) -> tuple[int, int, list[str]]:
    total_ref = total_ok = 0
    lines = [f"{'file':32} {'luigi':>6} {'dagcore':>8} {'share':>6}"]
    failures: list[str] = []
    for name in files:
        module = f"{name}_test"
        ref = luigi.get(module, FileResult()).passed
        mine = dagcore.get(module, FileResult())
        ok = ref & mine.passed
        total_ref += len(ref)
        total_ok += len(ok)
        share = f"{100 * len(ok) / len(ref):.0f}%" if ref else "-"
        lines.append(f"{module:32} {len(ref):6} {len(ok):8} {share:>6}")
        for test in sorted(ref - mine.passed):
            failures.append(f"{test}: {mine.failed.get(test, 'not collected')}")
    share_all = 100 * total_ok / max(total_ref, 1)
    lines.append(f"{'TOTAL':32} {total_ref:6} {total_ok:8} {share_all:5.1f}%")
    print("\n".join(lines))
    return total_ref, total_ok, failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--cache", type=Path, default=ROOT / ".compat")
    parser.add_argument("--minimum", type=float, default=None, help="percent; default: file")
    parser.add_argument("--files", nargs="*", default=list(FILES))
    parser.add_argument("--timeout", type=int, default=60, help="seconds per test")
    parser.add_argument("--side", choices=("both", "dagcore"), default="both")
    parser.add_argument("--failures", action="store_true", help="list every failing test")
    parser.add_argument("--tag", default="", help="run dagcore's side in runs/dagcore-TAG")
    args = parser.parse_args(argv)
    sdist = fetch_sdist(args.cache, args.version)
    work = args.cache / "runs"
    sides = ("luigi", "dagcore") if args.side == "both" else ("dagcore",)
    reports = {}
    for side in sides:
        name = f"{side}-{args.tag}" if side == "dagcore" and args.tag else side
        where = work / name
        if side == "dagcore" or not (where / "report.xml").exists():
            where = prepare_side(sdist, side, work, name)
            run_side(where, side, args.files, args.timeout)
        reports[side] = parse_report(where / "report.xml")
    if "luigi" not in reports:
        reports["luigi"] = parse_report(work / "luigi" / "report.xml")
    total_ref, total_ok, failures = compare(reports["luigi"], reports["dagcore"], args.files)
    reasons = Counter(line.split(": ", 1)[1][:100] for line in failures)
    if args.failures:
        print("\n".join(failures))
    else:
        print("most common reasons:")
        for reason, count in reasons.most_common(15):
            print(f"  {count:4}  {reason}")
    minimum = args.minimum
    if minimum is None:
        minimum = float((HERE / "minimum.txt").read_text().split()[0])
    share = 100 * total_ok / max(total_ref, 1)
    if total_ref == 0 or share < minimum:
        print(f"FAIL: {share:.1f}% of Luigi's passing tests pass on dagcore (minimum {minimum}%)")
        return 1
    print(f"OK: {share:.1f}% of Luigi's passing tests pass on dagcore (minimum {minimum}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
