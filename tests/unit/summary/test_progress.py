"""The progress display: a throttled bar on a terminal, sparse plain lines elsewhere."""

from __future__ import annotations

import io
from typing import Any

from dagcore.plan import RunState, TaskState
from dagcore.progress import PLAIN_INTERVAL, TTY_INTERVAL, Progress, ProgressCounts

from .builders import node, plan_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountingDict(dict[str, TaskState]):
    """A state mapping that counts full scans."""

    scans = 0

    def values(self) -> Any:
        self.scans += 1
        return super().values()


def _plain(total: int = 3001) -> tuple[Progress, io.StringIO, FakeClock]:
    clock, out = FakeClock(), io.StringIO()
    return Progress(total, out, tty=False, clock=clock), out, clock


def _tty(total: int = 100, width: int = 200) -> tuple[Progress, io.StringIO, FakeClock]:
    clock, out = FakeClock(), io.StringIO()
    return Progress(total, out, tty=True, clock=clock, width=width), out, clock


def test_plain_lines_at_most_every_two_seconds_and_at_the_end() -> None:
    progress, out, clock = _plain()
    for step in range(10):  # 0.0 .. 0.9 s: nothing yet
        clock.now += 0.1
        progress.update_counts(step, 2, 0, 3001 - step - 2)
    assert out.getvalue() == ""
    clock.now = 100.0 + PLAIN_INTERVAL
    progress.update_counts(120, 2, 0, 2879)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dagcore: 120/3001 done, 2 running, 0 failed, 2879 pending")
    clock.now += 1.0
    progress.update_counts(130, 2, 0, 2869)
    assert len(out.getvalue().splitlines()) == 1  # too soon for another
    clock.now += 0.5
    progress.update_counts(3000, 0, 1, 0)
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("dagcore: 3000/3001 done, 0 running, 1 failed, 0 pending")
    assert "ETA" not in lines[1]
    progress.close()
    progress.update_counts(1, 1, 1, 1)
    assert len(out.getvalue().splitlines()) == 2  # closed: nothing more


def test_plain_final_line_is_not_repeated() -> None:
    progress, out, clock = _plain(10)
    progress.update_counts(0, 0, 0, 10)
    clock.now += PLAIN_INTERVAL
    progress.update_counts(10, 0, 0, 0)
    progress.close()
    assert len(out.getvalue().splitlines()) == 1


def test_rate_and_eta() -> None:
    progress, out, clock = _plain(300)
    progress.update_counts(0, 0, 0, 300)
    clock.now += 10.0
    progress.update_counts(90, 4, 10, 196)  # 100 finished in 10 s, 200 to go
    line = out.getvalue().splitlines()[-1]
    assert "10.0 tasks/s" in line
    assert "ETA 20s" in line


def test_tasks_complete_before_the_run_do_not_inflate_the_rate() -> None:
    progress, out, clock = _plain(1000)
    progress.update_counts(900, 0, 0, 100)  # already complete when the run started
    clock.now += 10.0
    progress.update_counts(950, 0, 0, 50)
    assert "5.0 tasks/s" in out.getvalue()
    assert "ETA 10s" in out.getvalue()


def test_skipped_tasks_are_shown() -> None:
    progress, out, _ = _plain(10)
    progress.update_counts(3, 0, 1, 2)
    progress.close()
    assert "dagcore: 3/10 done, 0 running, 1 failed, 2 pending, 4 skipped" in out.getvalue()


def test_terminal_bar_is_redrawn_in_place_and_throttled() -> None:
    progress, out, clock = _tty(100)
    for done in range(50):  # 50 updates within 0.05 s
        clock.now += 0.001
        progress.update_counts(done, 1, 0, 99 - done)
    assert out.getvalue().count("\r") == 1
    clock.now += TTY_INTERVAL
    progress.update_counts(50, 1, 0, 49)
    text = out.getvalue()
    assert text.count("\r") == 2
    assert "\n" not in text
    last = text.rsplit("\r", 1)[1]
    assert last.startswith("dagcore: [##########..........]  50/100 done  1 running  0 failed")
    assert last.endswith("\x1b[K")
    progress.update_counts(100, 0, 0, 0)
    progress.close()
    final = out.getvalue().rsplit("\r", 1)[1]
    assert final.startswith("dagcore: [####################]  100/100 done")
    assert final.endswith("\x1b[K\n")


def test_terminal_line_fits_the_width() -> None:
    progress, out, _ = _tty(1000, width=40)
    progress.update_counts(1, 2, 3, 994)
    line = out.getvalue().split("\r")[1].removesuffix("\x1b[K")
    assert len(line) == 39


def test_update_from_run_state() -> None:
    plan = plan_of(node("Root", ["A", "B", "C"]), node("A"), node("B"), node("C"), node("D"))
    state = RunState(plan)
    state.start("A")
    state.done("A")
    state.start("B")
    state.failed("D")
    assert ProgressCounts.of(state) == ProgressCounts(done=1, running=1, failed=1, pending=2)
    progress, out, _ = _plain(5)
    progress.update(state)
    progress.close()
    assert out.getvalue() == "dagcore: 1/5 done, 1 running, 1 failed, 2 pending\n"


def test_update_does_not_scan_the_states_on_every_call() -> None:
    nodes = [node(f"T{i}") for i in range(2000)]
    plan = plan_of(*nodes)
    state = RunState(plan)
    counting = CountingDict(state.state)
    state.state = counting
    progress, out, clock = _tty(len(nodes))
    for _ in range(10_000):  # 10,000 transitions within one second
        clock.now += 0.0001
        progress.update(state)
    assert counting.scans <= 12
    assert out.getvalue().count("\r") <= 11
    progress.close()
    assert out.getvalue().endswith("\n")


def test_close_shows_counts_an_update_skipped() -> None:
    plan = plan_of(node("A"), node("B"))
    state = RunState(plan)
    progress, out, clock = _tty(2)
    progress.update(state)
    state.start("A")
    state.done("A")
    clock.now += 0.01  # too soon to redraw
    progress.update(state)
    assert "1/2 done" not in out.getvalue()
    progress.close()
    assert "1/2 done" in out.getvalue().rsplit("\r", 1)[1]


def test_nothing_written_without_updates() -> None:
    for progress, out, _ in (_plain(), _tty()):
        progress.close()
        assert out.getvalue() == ""


def test_tty_is_detected_from_the_stream() -> None:
    assert Progress(1, io.StringIO()).tty is False

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Progress(1, Terminal()).tty is True


def test_long_eta_format() -> None:
    progress, out, clock = _plain(100_000)
    progress.update_counts(0, 0, 0, 100_000)
    clock.now += 100.0
    progress.update_counts(10, 0, 0, 99_990)  # 0.1 task/s: 999,900 s left
    assert "ETA 277h45m" in out.getvalue()
