"""One attempt of a schedule, and the one-shot ``run-due`` that cron, CI and Kubernetes CronJobs call.

An attempt: claim the fire time (UNIQUE in the book: one process wins), take the schedule's lock (a previous
run still going means *skipped*), check the error-budget gate, run, record the outcome, flag regressions.
A failing run is recorded as *failed* and the schedule carries on.

Runs go through a subprocess (``aftershock run ... --json``) by default: a run starts labs, installs signal
handlers (only possible in a main thread) and may crash or hang; in a child process none of that can take the
scheduler down, a timeout can stop it with SIGTERM (rollbacks run), and memory is returned after each run.
The run function is a parameter, so tests can substitute a fast fake.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from core.audit import record
from core.runproc import RunCommand, default_command, spawn_run
from core.settings import Settings
from core.stop import stop_state
from scheduling.book import Attempt, ScheduleBook
from scheduling.lock import ScheduleLock
from scheduling.model import Schedule, fires_back
from scheduling.regressions import detect_regressions, gate_reason, metrics_of_summary, schedule_budget_burn

__all__ = ["RunResult", "RunFn", "SubprocessRun", "run_attempt", "run_due", "reap_stale", "due_fires",
           "MISSED_RECORD_LIMIT", "TERM_GRACE_S"]

log = logging.getLogger("aftershock.scheduling")

MISSED_RECORD_LIMIT = 100
TERM_GRACE_S = 60.0


@dataclass
class RunResult:
    """What a run produced: the JSON summary (docs/results.md) when it got that far."""
    ok: bool
    summary: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def comparison_id(self) -> str | None:
        return (self.summary or {}).get("comparison_id")


RunFn = Callable[[Schedule, Settings, Sequence[int]], RunResult]


@dataclass
class SubprocessRun:
    """``<command> run EXPERIMENT -t T ... --json`` in a child process; ``command`` defaults to this Python."""
    command: list[str] = field(default_factory=default_command)
    children: dict[int, subprocess.Popen] = field(default_factory=dict)

    def argv(self, schedule: Schedule) -> list[str]:
        return _run_command(schedule).argv(self.command)

    def __call__(self, schedule: Schedule, settings: Settings, keep_fds: Sequence[int] = ()) -> RunResult:
        proc = spawn_run(_run_command(schedule), settings.home, command=self.command,
                         env={"AFTERSHOCK_SCHEDULE": schedule.name}, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, pass_fds=tuple(keep_fds))
        self.children[proc.pid] = proc
        try:
            out, err = proc.communicate(timeout=schedule.timeout_s)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the runner rolls back and stores the run as interrupted
            try:
                out, err = proc.communicate(timeout=TERM_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            return RunResult(False, _parse(out), f"timed out after {schedule.timeout_s:g} s; stopped")
        finally:
            self.children.pop(proc.pid, None)
        summary = _parse(out)
        if proc.returncode != 0:
            last = next((line for line in reversed((err or "").strip().splitlines()) if line.strip()), "")
            return RunResult(False, summary, f"run exited with {proc.returncode}: {last[:300]}")
        if summary is None:
            return RunResult(False, None, "run printed no JSON summary")
        return RunResult(True, summary)

    def terminate(self) -> None:
        """SIGTERM every running child (the scheduler is stopping); each rolls back and stores its run."""
        for proc in list(self.children.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)


def _run_command(schedule: Schedule) -> RunCommand:
    return RunCommand(schedule.experiment, tuple(schedule.topologies), schedule.repeat, schedule.warmup_s,
                      schedule.observe_s)


def _parse(out: str | None) -> dict[str, Any] | None:
    text = (out or "").strip()
    if not text:
        return None
    try:
        value = json.loads(text[text.index("{"):])
    except (ValueError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _outcome(result: RunResult) -> tuple[str, str | None]:
    if not result.ok:
        return "failed", result.reason
    bad = [f"{r.get('run_id')} ({r.get('topology')}) {r.get('status')}" for r in (result.summary or {}).get("runs", [])
           if r.get("status") not in ("completed", None)]
    if bad:
        return "failed", "runs not completed: " + "; ".join(bad)
    return "completed", None


def run_attempt(book: ScheduleBook, settings: Settings, schedule: Schedule, fire_time: float, run_fn: RunFn, *,
                trigger: str = "cron", clock: Callable[[], float] = time.time) -> Attempt | None:
    """Run one fire of ``schedule``; None when another process had already claimed this fire time."""
    attempt_id = book.claim(schedule, fire_time, trigger, os.getpid())
    if attempt_id is None:
        log.info("schedule %s: fire %s already claimed elsewhere", schedule.name, fire_time)
        return None
    stopped = stop_state(settings.home)
    if stopped is not None:  # the emergency stop: recorded as skipped, the schedule carries on once cleared
        reason = f"not run: {stopped.describe()}; clear it with `aftershock stop --clear`"
        book.finish(attempt_id, "skipped", reason=reason)
        record(settings.home, "refused", f"schedule {schedule.name}", target=schedule.experiment, reason=reason)
        return book.attempt(attempt_id)
    lock = ScheduleLock(settings.home, schedule.name)
    if not lock.acquire():
        book.finish(attempt_id, "skipped", reason="the previous run of this schedule is still running")
        return book.attempt(attempt_id)
    try:
        history = [a for a in book.attempts(schedule.name, outcome="completed") if a.id != attempt_id]
        reason = gate_reason(schedule_budget_burn(history, schedule.topologies, clock()), schedule.gate_budget)
        if reason:
            book.finish(attempt_id, "skipped", reason=reason)
            return book.attempt(attempt_id)
        try:
            result = run_fn(schedule, settings, [lock.fd] if lock.fd is not None else [])
        except Exception as exc:  # noqa: BLE001 - a failing run never stops the schedule
            log.exception("schedule %s: run failed", schedule.name)
            result = RunResult(False, None, f"{type(exc).__name__}: {exc}")
        outcome, reason = _outcome(result)
        metrics = regressions = None
        if result.summary is not None:
            metrics = metrics_of_summary(result.summary)
            regressions = detect_regressions(metrics, [a.metrics for a in history if a.metrics])
            for flag in regressions:
                log.warning("schedule %s: regression: %s", schedule.name, flag["message"])
        book.finish(attempt_id, outcome, reason=reason, comparison_id=result.comparison_id, metrics=metrics,
                    regressions=regressions)
        return book.attempt(attempt_id)
    finally:
        lock.release()


def reap_stale(book: ScheduleBook, settings: Settings) -> list[int]:
    """Attempts left 'running' by a process that died (and no longer hold the lock) become 'failed'."""
    reaped = []
    for attempt in book.running():
        if attempt.pid and psutil.pid_exists(attempt.pid) and attempt.pid != os.getpid():
            continue
        if attempt.pid == os.getpid() or ScheduleLock(settings.home, attempt.schedule).held_elsewhere():
            continue
        book.finish(attempt.id, "failed", reason=f"the scheduler process {attempt.pid} died during the run")
        reaped.append(attempt.id)
    return reaped


def due_fires(schedule: Schedule, now: float) -> tuple[float | None, list[float]]:
    """(the fire to run now, or None; fires missed) since the schedule's last handled fire.

    Only the latest fire may run, and only within the schedule's grace time (misfires coalesce to one run);
    every older fire, and a latest one beyond the grace time, is missed.
    """
    since = schedule.last_fire_at if schedule.last_fire_at is not None else schedule.created_at
    fires = fires_back(schedule.cron, since, now, limit=MISSED_RECORD_LIMIT + 1)  # a long outage: the latest only
    if not fires:
        return None, []
    latest = fires[-1]
    if now - latest <= schedule.grace_s:
        return latest, fires[:-1]
    return None, fires


def run_due(book: ScheduleBook, settings: Settings, run_fn: RunFn, *, now: float | None = None,
            names: Sequence[str] | None = None) -> list[Attempt]:
    """Run what is due now (once per schedule) and record what was missed; returns the attempts recorded."""
    now = time.time() if now is None else now
    reap_stale(book, settings)
    done: list[Attempt] = []
    for schedule in book.list():
        if schedule.paused or (names and schedule.name not in names):
            continue
        run_now, missed = due_fires(schedule, now)
        for fire in missed:
            if book.record(schedule, fire, "catch-up", "missed",
                           f"not run: the scheduler was not running at the fire time (grace {schedule.grace_s:g} s)"):
                done.append(book.attempts(schedule.name, limit=1)[0])
        if run_now is None:
            book.advance(schedule.name, missed[-1] if missed else now)
            continue
        attempt = run_attempt(book, settings, schedule, run_now, run_fn, trigger="catch-up", clock=lambda: now)
        if attempt is not None:
            done.append(attempt)
    return done
