"""Crash trials: kill -9 at random points, and count what is lost or left behind (docs/benchmarks.md).

- 50 runner trials (``--runner-trials``): ``aftershock run`` of a partition experiment on a two-node lab, killed
  -9 in a phase drawn at random (before the lab is up, during the fault, during the rollbacks, during
  materialisation). Counted: orphan processes, faults left active, runs shown ``running`` by a reader (the store
  API read-only and ``aftershock runs --json``), readers disagreeing, ``integrity_check`` problems.
- 100 store-writer trials (``--writer-trials``): a process finishing runs one after another, killed -9 at a
  random moment. Counted: finished runs lost (missing, not completed, or short of samples), the in-flight run
  not read as interrupted, ``integrity_check`` problems.
- Dashboard trials (``--dashboard-trials``): ``aftershock dashboard`` and ``aftershock demo`` killed -9;
  counted: processes left, a server still answering.

The trial code is tests/support/crash.py (the suite runs a short version: tests/e2e/test_crash_trials.py).
Run: ``.venv/bin/python bench/bench_crash.py`` (about 30 minutes on 2 cores); ``--json`` for every trial.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.crash import PHASES, dashboard_trial, runner_trial, writer_trial  # noqa: E402

__all__ = ["main"]


def _runner(n: int, rng: random.Random, tmp: Path, out: list[dict]) -> dict:
    trials = []
    for i in range(n):
        phase = rng.choice(PHASES)
        trial = runner_trial(tmp / f"runner-{i}", phase, rng)
        trials.append(trial)
        out.append({"kind": "runner", **trial.to_json()})
        print(f"runner {i + 1}/{n}: {phase:<11} landed {trial.landed:<11} ok={trial.ok} "
              f"gone in {trial.gone_after_s:.1f} s", file=sys.stderr, flush=True)
    return {
        "trials": n,
        "phases_asked": dict(Counter(t.phase for t in trials)),
        "phases_landed": dict(Counter(t.landed for t in trials)),
        "orphan_processes": sum(len(t.orphans) for t in trials),
        "faults_left_active": sum(t.faults_active for t in trials),
        "runs_shown_running": sum(list(t.api.values()).count("running") + list(t.cli.values()).count("running")
                                  for t in trials),
        "readers_disagree": sum(t.api != t.cli for t in trials),
        "integrity_problems": sum(len(t.integrity) for t in trials),
        "runs_interrupted": sum(list(t.api.values()).count("interrupted") for t in trials),
        "deadman_heals": sum(t.deadman_healed for t in trials),
        "processes_gone_within_s_max": max((t.gone_after_s for t in trials), default=0.0),
        "all_ok": all(t.ok for t in trials),
    }


def _writer(n: int, rng: random.Random, tmp: Path, out: list[dict]) -> dict:
    trials = []
    for i in range(n):
        trial = writer_trial(tmp / f"writer-{i}", rng)
        trials.append(trial)
        out.append({"kind": "writer", **trial.to_json()})
    return {
        "trials": n,
        "finished_runs": sum(t.finished for t in trials),
        "finished_runs_lost": sum(len(t.lost) for t in trials),
        "in_flight_read_interrupted": sum(t.in_flight_status == "interrupted" for t in trials),
        "in_flight_completed": sum(t.in_flight_status == "completed" for t in trials),  # finished, not yet reported
        "in_flight_shown_running": sum(t.in_flight_status == "running" for t in trials),
        "integrity_problems": sum(len(t.integrity) for t in trials),
        "all_ok": all(t.ok for t in trials),
    }


def _dashboard(n: int, tmp: Path, out: list[dict]) -> dict:
    result = {}
    for command in ("dashboard", "demo"):
        trials = [dashboard_trial(tmp / f"{command}-{i}", command) for i in range(n)]
        out.extend({"kind": command, **t.to_json()} for t in trials)
        result[command] = {"trials": n, "processes_left": sum(len(t.left) for t in trials),
                           "still_serving": sum(t.serving_after for t in trials),
                           "gone_within_s_max": max((t.gone_after_s for t in trials), default=0.0),
                           "all_ok": all(t.ok for t in trials)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runner-trials", type=int, default=50)
    parser.add_argument("--writer-trials", type=int, default=100)
    parser.add_argument("--dashboard-trials", type=int, default=3)
    parser.add_argument("--seed", default="bench-crash-1")
    parser.add_argument("--json", action="store_true", help="print every trial as JSON lines after the summary")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    trials: list[dict] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="aftershock-crash-") as tmp:
        summary = {
            "machine": f"{os.cpu_count()} cores, {platform.python_version()}, load {os.getloadavg()[0]:.1f}",
            "seed": args.seed,
            "writer": _writer(args.writer_trials, rng, Path(tmp), trials),
            "runner": _runner(args.runner_trials, rng, Path(tmp), trials),
            "dashboard": _dashboard(args.dashboard_trials, Path(tmp), trials),
        }
    summary["minutes"] = round((time.time() - started) / 60, 1)
    print(json.dumps(summary, indent=2))
    if args.json:
        for trial in trials:
            print(json.dumps(trial, default=str))
    ok = summary["runner"]["all_ok"] and summary["writer"]["all_ok"] and all(
        d["all_ok"] for d in summary["dashboard"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
