"""Two real ``aftershock scheduler`` processes on one schedule: each fire runs once, runs never overlap, and a
restarted scheduler picks the schedule up again. Runs are a fake command (a real run takes tens of seconds;
tests/test_reports.py fires a real one end to end)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aftershock.cli import main
from core.settings import Settings
from core.wait import wait_until
from scheduling import ScheduleBook

FAKE_RUN = textwrap.dedent('''
    import json, os, sys, time
    log = sys.argv[1]
    start = time.time()
    time.sleep(float(os.environ.get("FAKE_RUN_S", "2.5")))
    end = time.time()
    with open(log, "a") as fh:
        fh.write(f"{os.getpid()} {start} {end}\\n")
    cid = f"c-fake-{os.getpid()}"
    print(json.dumps({"comparison_id": cid, "experiment": "node-loss", "results": [], "runs": []}))
''')


@pytest.fixture
def schedulers(settings: Settings, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    """Start scheduler processes; every one is stopped at teardown, even when an assertion failed."""
    fake = tmp_path / "fake_run.py"
    fake.write_text(FAKE_RUN)
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home),
           "AFTERSHOCK_SCHEDULE_RUN_COMMAND": f"{sys.executable} {fake} {tmp_path / 'runs.log'}"}
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "aftershock.cli", "scheduler", "--sync-interval", "0.5"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _intervals(log: Path) -> list[tuple[float, float]]:
    if not log.exists():
        return []
    return sorted((float(s), float(e)) for _, s, e in (line.split() for line in log.read_text().splitlines()))


def test_two_schedulers_never_double_run_and_a_restart_keeps_the_schedule(
        settings: Settings, tmp_path: Path, schedulers: Callable[[], subprocess.Popen]) -> None:
    assert main(["schedule", "add", "every2s", "--cron", "* * * * * */2", "node-loss", "-t", "decentralized",
                 "--grace", "30"], settings) == 0
    first, second = schedulers(), schedulers()
    book = ScheduleBook.open(settings.home)
    try:
        def completed() -> list:
            return [a for a in book.attempts("every2s") if a.outcome == "completed"]

        wait_until(lambda: len(completed()) >= 2, timeout_s=45, interval_s=0.2, what="two completed scheduled runs")
        _stop(first)
        _stop(second)
        attempts = book.attempts("every2s")
        assert first.returncode == 0 and second.returncode == 0, second.stderr.read() if second.stderr else ""
        runs = _intervals(tmp_path / "runs.log")
        done = [a for a in attempts if a.outcome == "completed"]
        assert len(runs) == len(done), "every run the fake saw is one completed attempt, no double run"
        for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
            assert start >= end, "two runs of one schedule overlapped"
        fires = [a.fire_time for a in attempts]
        assert len(fires) == len(set(fires))
        for a in done:
            assert a.fire_time % 2 == 0 and 0 <= a.started_at - a.fire_time < 30, "fired at its cron time"
        assert all(a.outcome in ("completed", "skipped", "missed", "failed") for a in attempts), \
            [a.outcome for a in attempts]
        stopped_at = time.time()
        third = schedulers()
        wait_until(lambda: any(a.fire_time > stopped_at for a in completed()), timeout_s=45, interval_s=0.2,
                   what="a run fired by the restarted scheduler")
        _stop(third)
        assert third.returncode == 0
        assert book.running() == []
    finally:
        book.close()
