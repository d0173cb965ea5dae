"""Crash trials, short version (the 50 + 100 trials are bench/bench_crash.py, figures in docs/benchmarks.md):
the runner killed -9 once in each phase of an experiment, a store writer killed -9 mid-write ten times, the
dashboard and the demo killed -9. Nothing may be left running, no fault active, no run shown running, no
finished run lost, the store's integrity check clean."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.support.crash import PHASES, dashboard_trial, runner_trial, writer_trial

WRITER_TRIALS = 10


@pytest.mark.parametrize("phase", PHASES)
def test_runner_killed_9_leaves_nothing_and_every_reader_says_interrupted(tmp_path: Path, phase: str) -> None:
    trial = runner_trial(tmp_path, phase, random.Random(f"suite:{phase}"))
    print(trial.to_json())  # noqa: T201 - the trial, shown with -s
    assert trial.orphans == [] and trial.faults_active == 0
    assert trial.integrity == [] and trial.api == trial.cli
    assert "running" not in trial.api.values()
    if trial.landed not in ("startup", "finished"):  # the run existed and was cut short
        assert set(trial.api.values()) == {"interrupted"}, trial.api


def test_store_writer_killed_9_mid_write_loses_no_finished_run(tmp_path: Path) -> None:
    rng = random.Random("suite:writer")
    trials = [writer_trial(tmp_path / f"w{i}", rng) for i in range(WRITER_TRIALS)]
    assert sum(t.finished for t in trials) > 0, "the writers finished runs before they were killed"
    assert [t.lost for t in trials] == [[]] * WRITER_TRIALS
    assert all(t.integrity == [] for t in trials)
    assert all(t.in_flight_status in (None, "interrupted", "completed") for t in trials)


@pytest.mark.parametrize("command", ["dashboard", "demo"])
def test_dashboard_killed_9_takes_its_server_with_it(tmp_path: Path, command: str) -> None:
    trial = dashboard_trial(tmp_path, command)
    print(trial.to_json())  # noqa: T201
    assert trial.tree >= 1, "the server was running before the kill"
    assert trial.left == [] and not trial.serving_after
