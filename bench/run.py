"""``make bench``: dagcore beside Luigi, Dask and Celery on the same workloads, in one run.

Each system runs as its own subprocess (the anchors from ``../shared/anchors``) and prints one
``<system> ... tasks_per_s=...`` line; this harness collects them and prints the ratios. Figures
vary between machines: compare ratios measured in the same run.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.celery_fleet import BROKER, fleet, history_url

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = Path(os.environ.get("DAGCORE_ANCHORS", ROOT.parent / "shared" / "anchors"))
N = int(os.environ.get("BENCH_N", "1000"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
RESOLVE_NODES = int(os.environ.get("BENCH_RESOLVE_NODES", "300000"))
SEMAPHORE_N = int(os.environ.get("BENCH_SEMAPHORE_N", "200"))
SEMAPHORE_ROUNDS = int(os.environ.get("BENCH_SEMAPHORE_ROUNDS", "3"))
_FIELD = re.compile(r"(\w+)=(\S+)")


def _run(name: str, argv: list[str], env: dict[str, str] | None = None) -> dict[str, str]:
    print(f"-- {name}: {' '.join(argv)}", flush=True)
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=1800,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if "wall_s=" in line]
    if proc.returncode != 0 or not lines:
        print(f"   {name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
        return {}
    print(f"   {lines[-1]}", flush=True)
    return dict(_FIELD.findall(lines[-1]))


def _etl(name: str, argv: list[str]) -> dict[str, str]:
    out = tempfile.mkdtemp(prefix=f"bench-{name}-")
    return _run(name, [*argv, str(N), str(WORKERS), out], env={"ETL_OUT": out})


def _clear(directory: str) -> None:
    for entry in Path(directory).iterdir():
        if entry.is_file() and entry.name not in ("worker.log", "worker.heartbeat"):
            entry.unlink()


def _ratios(rate: dict[str, float], ours: str, others: tuple[tuple[str, float], ...]) -> None:
    if ours not in rate:
        return
    for other, target in others:
        if other in rate:
            ratio = rate[ours] / rate[other]
            verdict = "" if not target else ("ok" if ratio >= target else "BELOW TARGET")
            goal = f"(target >= {target:g}x) " if target else "(for reference) "
            print(f"{ours} / {other}: {ratio:.2f}x {goal}{verdict}")


def _celery(python: str) -> dict[str, dict[str, str]]:
    """dagcore's Celery executor (PostgreSQL history) beside the raw-Celery anchors."""
    out: dict[str, dict[str, str]] = {}
    workdir = tempfile.mkdtemp(prefix="bench-dagcore-celery-")
    env = {"ETL_OUT": workdir, "DAGCORE_BROKER_URL": BROKER, "DAGCORE_HISTORY_URL": history_url()}
    argv = [python, "-m", "bench.dagcore_etl", str(N), str(WORKERS), workdir, "celery"]
    with fleet("bench.dagcore_etl", WORKERS, env):
        out["dagcore-celery"] = _run("dagcore-celery", argv, env=env)
        # The same DAG with a max_running on Transform that is never reached, alternated with
        # the plain one on the same fleet (outputs cleared in between): the semaphore's cost.
        plain: list[float] = []
        limited: list[float] = []
        for _ in range(SEMAPHORE_ROUNDS):
            for walls, extra in ((plain, []), (limited, ["limited"])):
                _clear(workdir)
                result = _run("dagcore-celery" + "-semaphore" * bool(extra), argv + extra, env)
                if result:
                    walls.append(float(result["wall_s"]))
        if plain and limited:
            out["semaphore-overhead"] = {
                "plain_wall_s": f"{statistics.median(plain):.2f}",
                "limited_wall_s": f"{statistics.median(limited):.2f}",
                "rounds": str(len(plain)),
            }
    with fleet("bench.semaphore_latency", WORKERS, env):
        latency_argv = [python, "-m", "bench.semaphore_latency", str(SEMAPHORE_N), str(WORKERS)]
        out["semaphore-latency"] = _run("semaphore-latency", latency_argv, env=env)
    out["celery-canvas"] = _etl("celery-canvas", [python, str(ANCHORS / "celery_etl.py")])
    for name, script in (
        ("celery-noop", "celery_noop.py"),
        ("celery-ceiling", "celery_ceiling.py"),
    ):
        argv = [python, str(ANCHORS / script), str(3 * N), str(WORKERS)]
        out[name] = _run(name, argv)
    return out


def _semaphore_report(overhead: dict[str, str], latency: dict[str, str]) -> None:
    if overhead:
        plain, limited = float(overhead["plain_wall_s"]), float(overhead["limited_wall_s"])
        slower = (limited / plain - 1) * 100
        verdict = "ok" if slower < 10 else "ABOVE TARGET"
        print(
            f"\n== semaphore: max_running on Transform, never reached: {slower:+.1f}% time "
            f"(median of {overhead['rounds']} alternated runs each: {limited:.2f} s against "
            f"{plain:.2f} s; target < 10%) {verdict}"
        )
    if latency:
        median = float(latency["median_ms"])
        verdict = "ok" if median < 20 else "ABOVE TARGET"
        print(
            f"== semaphore: release -> next waiter starts: median {median:.1f} ms, "
            f"p90 {latency['p90_ms']} ms over {latency['n']} hand-overs (target median < 20 ms) "
            f"{verdict}"
        )


def main() -> int:
    python = sys.executable
    results: dict[str, dict[str, str]] = {}
    results["dagcore-local"] = _etl("dagcore-local", [python, "-m", "bench.dagcore_etl"])
    results["luigi"] = _etl("luigi", [python, str(ANCHORS / "luigi_etl.py")])
    results["dask"] = _etl("dask", [python, str(ANCHORS / "dask_etl.py")])
    resolve = _run("resolve", [python, "-m", "bench.resolve", str(RESOLVE_NODES)])
    if os.environ.get("BENCH_CELERY", "1") != "0":
        results.update(_celery(python))

    print(f"\n== ETL DAG: {3 * N + 1} tasks, {WORKERS} workers ==")
    latency = results.pop("semaphore-latency", {})
    overhead = results.pop("semaphore-overhead", {})
    rate = {k: float(v["tasks_per_s"]) for k, v in results.items() if v}
    for name, value in rate.items():
        print(f"{name:>16}: {value:8.1f} tasks/s")
    _ratios(rate, "dagcore-local", (("dask", 1.0), ("luigi", 10.0)))
    _ratios(
        rate,
        "dagcore-celery",
        (("celery-canvas", 1.0), ("celery-noop", 0.8), ("celery-ceiling", 0.0)),
    )
    _semaphore_report(overhead, latency)
    if resolve:
        print(
            f"\n== resolve: {resolve.get('n_nodes')} nodes in {resolve.get('wall_s')} s, "
            f"peak RSS {resolve.get('peak_rss_mb')} MB =="
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
