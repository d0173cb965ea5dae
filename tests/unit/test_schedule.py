"""Schedules without real runs: validation at the CLI boundary, misfires, the lock, the gate, regressions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aftershock.cli import main
from core.settings import Settings
from scheduling import RunResult, Schedule, ScheduleBook, detect_regressions, regressions_for, run_attempt, run_due
from scheduling.book import DB_NAME
from scheduling.execute import due_fires, reap_stale
from scheduling.lock import ScheduleLock
from scheduling.model import next_fire_times


def fake_summary(cid: str, topo: str = "decentralized", resilience: float = 99.0, ttr: float | None = 3.0,
                 share: float = 0.001, runs: int = 1) -> dict[str, Any]:
    results = [{"run_id": f"r-{cid}-{i}", "topology": topo, "status": "completed",
                "metrics": {"resilience": resilience, "ttr_s": ttr, "recovered": ttr is not None,
                            "budget_burn": {"share_consumed": share, "rate": share * 1000}}} for i in range(runs)]
    return {"comparison_id": cid, "experiment": "node-loss", "results": results,
            "runs": [{"run_id": r["run_id"], "topology": topo, "status": "completed"} for r in results]}


class FakeRun:
    """Returns queued summaries (or raises), counting calls."""
    def __init__(self, *results: Any):
        self.results = list(results)
        self.calls = 0

    def __call__(self, schedule: Schedule, settings: Settings, keep_fds: Any = ()) -> RunResult:
        self.calls += 1
        item = self.results.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def book(settings: Settings) -> Any:
    with ScheduleBook.open(settings.home) as b:
        yield b


def add(book: ScheduleBook, name: str = "nightly", cron: str = "0 3 * * *", **kw: Any) -> Schedule:
    s = Schedule(name=name, cron=cron, experiment="node-loss", topologies=["decentralized"], created_at=1_000.0, **kw)
    book.add(s)
    return book.get(name)


@pytest.mark.parametrize(("argv", "message"), [
    (["--cron", "61 * * * *", "node-loss"], "invalid cron expression"),
    (["--cron", "* * *", "node-loss"], "has 3 fields"),
    (["--cron", "0 3 * * *", "no-such-experiment"], "no such experiment"),
    (["--cron", "0 3 * * *", "node-loss", "-t", "no-such-topology"], "no such topology"),
    (["--cron", "0 3 * * *", "node-loss", "--gate-budget", "1.5"], "in 0..1"),
    (["--cron", "0 3 * * *", "node-loss", "--gate-budget", "-0.1"], "in 0..1"),
    (["--cron", "0 3 * * *", "node-loss", "--repeat", "0"], "at least 1"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_stored(settings: Settings, capsys: pytest.CaptureFixture,
                                                          argv: list[str], message: str) -> None:
    assert main(["schedule", "add", "bad", *argv], settings) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (settings.home / DB_NAME).exists()


def test_duplicate_name_is_refused_and_the_first_kept(settings: Settings, capsys: pytest.CaptureFixture) -> None:
    assert main(["schedule", "add", "n1", "--cron", "0 3 * * *", "node-loss", "-t", "decentralized"], settings) == 0
    assert main(["schedule", "add", "n1", "--cron", "5 4 * * *", "node-loss"], settings) == 2
    assert "already exists" in capsys.readouterr().err
    with ScheduleBook.open(settings.home) as book:
        assert [(s.name, s.cron) for s in book.list()] == [("n1", "0 3 * * *")]


def test_list_pause_resume_remove_and_restart_keeps_the_schedule(settings: Settings,
                                                                  capsys: pytest.CaptureFixture) -> None:
    assert main(["schedule", "add", "n1", "--cron", "*/5 * * * *", "node-loss", "-t", "hybrid",
                 "--gate-budget", "0.5"], settings) == 0
    assert main(["schedule", "pause", "n1"], settings) == 0
    capsys.readouterr()
    assert main(["schedule", "list", "--json"], settings) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["paused"] and rows[0]["gate_budget"] == 0.5 and rows[0]["topologies"] == ["hybrid"]
    assert main(["schedule", "resume", "n1"], settings) == 0
    with ScheduleBook.open(settings.home) as book:  # a new process would see the same
        assert not book.get("n1").paused and book.get("n1").last_fire_at is not None
    assert main(["schedule", "remove", "n1"], settings) == 0
    assert main(["schedule", "remove", "n1"], settings) == 2


def test_misfire_within_grace_runs_once_older_fires_are_missed(settings: Settings, book: ScheduleBook) -> None:
    schedule = add(book, cron="* * * * *", grace_s=90)
    fires = next_fire_times("* * * * *", 1_000.0, 5)
    now = fires[-1] + 30  # down for five fires; the last is 30 s late
    assert due_fires(schedule, now) == (fires[-1], fires[:-1])
    run = FakeRun(RunResult(True, fake_summary("c-1")))
    attempts = run_due(book, settings, run, now=now)
    assert run.calls == 1
    outcomes = sorted((a.fire_time, a.outcome) for a in attempts)
    assert outcomes == [(f, "missed") for f in fires[:-1]] + [(fires[-1], "completed")]
    assert run_due(book, settings, run, now=now + 1) == []  # nothing due twice


def test_misfire_beyond_grace_is_recorded_missed_not_run(settings: Settings, book: ScheduleBook) -> None:
    add(book, cron="* * * * *", grace_s=10)
    fire = next_fire_times("* * * * *", 1_000.0)[0]
    run = FakeRun()
    attempts = run_due(book, settings, run, now=fire + 30)
    assert run.calls == 0 and [a.outcome for a in attempts] == ["missed"]
    assert "not run" in (attempts[0].reason or "")


def test_a_failing_run_is_recorded_and_the_schedule_goes_on(settings: Settings, book: ScheduleBook) -> None:
    schedule = add(book, cron="* * * * *")
    run = FakeRun(RuntimeError("lab exploded"), RunResult(False, None, "run exited with 1: boom"),
                  RunResult(True, fake_summary("c-3")))
    outcomes = [run_attempt(book, settings, schedule, 2_000.0 + 60 * i, run) for i in range(3)]
    assert [a.outcome for a in outcomes] == ["failed", "failed", "completed"]
    assert "lab exploded" in outcomes[0].reason and "boom" in outcomes[1].reason
    assert outcomes[2].comparison_id == "c-3"


def test_the_same_fire_runs_once_and_a_held_lock_skips(settings: Settings, book: ScheduleBook) -> None:
    schedule = add(book)
    run = FakeRun(RunResult(True, fake_summary("c-1")))
    assert run_attempt(book, settings, schedule, 5_000.0, run).outcome == "completed"
    assert run_attempt(book, settings, schedule, 5_000.0, run) is None  # claimed already (e.g. by another process)
    other = ScheduleLock(settings.home, schedule.name)
    assert other.acquire()
    try:
        attempt = run_attempt(book, settings, schedule, 5_060.0, run)
    finally:
        other.release()
    assert attempt.outcome == "skipped" and "still running" in attempt.reason and run.calls == 1


def test_a_dead_schedulers_running_attempt_is_reaped(settings: Settings, book: ScheduleBook) -> None:
    schedule = add(book)
    attempt_id = book.claim(schedule, 7_000.0, "cron", pid=2**22 + 12345)  # no such process
    assert reap_stale(book, settings) == [attempt_id]
    assert book.attempt(attempt_id).outcome == "failed"


def test_gate_skips_when_the_recent_burn_is_above_it(settings: Settings, book: ScheduleBook) -> None:
    schedule = add(book, gate_budget=0.5)
    now = 1_000_000.0
    run = FakeRun(RunResult(True, fake_summary("c-1", share=0.3)), RunResult(True, fake_summary("c-2", share=0.3)))
    clock = lambda: now  # noqa: E731
    assert run_attempt(book, settings, schedule, now - 7200, run, clock=clock).outcome == "completed"
    assert run_attempt(book, settings, schedule, now - 3600, run, clock=clock).outcome == "completed"
    skipped = run_attempt(book, settings, schedule, now, run, clock=clock)
    assert skipped.outcome == "skipped" and run.calls == 2
    assert "decentralized burnt 0.600" in skipped.reason and "gate 0.5" in skipped.reason
    later = now + 31 * 86400  # the burn has left the 30-day window
    run.results.append(RunResult(True, fake_summary("c-3", share=0.3)))
    assert run_attempt(book, settings, schedule, later, run, clock=lambda: later).outcome == "completed"


def test_regressions_are_flagged_stored_and_listed(settings: Settings, book: ScheduleBook,
                                                    capsys: pytest.CaptureFixture) -> None:
    schedule = add(book)
    good = [RunResult(True, fake_summary(f"c-{i}", resilience=99.0 + 0.1 * i, ttr=3.0 + 0.1 * i, runs=2))
            for i in range(3)]
    bad = RunResult(True, fake_summary("c-bad", resilience=60.0, ttr=None, runs=2))
    run = FakeRun(*good, bad)
    for i in range(4):
        attempt = run_attempt(book, settings, schedule, 10_000.0 + 60 * i, run)
    assert {f["metric"] for f in attempt.regressions} == {"resilience", "ttr_s"}
    flags = regressions_for(settings.home, "node-loss")
    assert set(flags["comparison_id"]) == {"c-bad"} and "dropped to 60.0" in " ".join(flags["message"])
    assert regressions_for(settings.home, "other-experiment").empty
    assert main(["schedule", "history", "nightly"], settings) == 0
    assert "REGRESSION decentralized: resilience R dropped" in capsys.readouterr().out


def test_no_flag_without_enough_history_or_when_intervals_overlap() -> None:
    base = [{"topologies": {"t": {"resilience": [90.0, 95.0], "ttr_s": [3.0, 4.0], "recovered": [True, True]}}}]
    now = {"topologies": {"t": {"resilience": [10.0], "ttr_s": [50.0], "recovered": [True]}}}
    assert detect_regressions(now, base) == []  # 2 baseline runs < 3
    base.append({"topologies": {"t": {"resilience": [5.0], "ttr_s": [80.0], "recovered": [True]}}})
    assert detect_regressions(now, base) == []  # the baseline interval covers the new value


def test_regressions_for_an_empty_home_creates_nothing(tmp_path: Path) -> None:
    assert regressions_for(tmp_path).empty and not os.listdir(tmp_path)
