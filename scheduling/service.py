"""``aftershock scheduler``: the long-running scheduler (foreground, for systemd or a container).

APScheduler 3 runs the jobs: one job per schedule with ``max_instances=1``, ``coalesce=True`` and the
schedule's ``misfire_grace_time``; its events record what it could not run (``EVENT_JOB_MISSED`` -> missed,
``EVENT_JOB_MAX_INSTANCES`` -> skipped). Fire times come from croniter through :class:`CronExprTrigger`.
Schedules live in the schedule book, not in APScheduler: a sync job re-reads the book every few seconds,
so ``schedule add/remove/pause`` take effect without a restart, and fires missed while no scheduler ran are
handled at start (run once within the grace time, else recorded as missed).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from croniter import croniter

from core.settings import Settings
from scheduling.book import ScheduleBook
from scheduling.execute import RunFn, due_fires, reap_stale, run_attempt
from scheduling.model import Schedule, local_tz, prev_fire_time

__all__ = ["CronExprTrigger", "serve", "SYNC_INTERVAL_S"]

log = logging.getLogger("aftershock.scheduling")

SYNC_INTERVAL_S = 5.0
_SYNC_JOB = "__aftershock_sync__"


class CronExprTrigger(BaseTrigger):
    """An APScheduler trigger whose fire times are croniter's (standard cron semantics, optional seconds)."""
    def __init__(self, expr: str, tz: tzinfo):
        self.expr, self.tz = expr, tz

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = previous_fire_time or (now - timedelta(microseconds=1))
        return croniter(self.expr, start.astimezone(self.tz)).get_next(datetime)

    def __str__(self) -> str:
        return f"cron[{self.expr}]"


def _signature(s: Schedule) -> tuple:
    return (s.cron, s.grace_s, s.paused)


class _Service:
    def __init__(self, settings: Settings, run_fn: RunFn, clock: Callable[[], float]):
        self.settings, self.run_fn, self.clock = settings, run_fn, clock
        self.book = ScheduleBook.open(settings.home)
        self.tz = local_tz()
        self.scheduler = BackgroundScheduler(timezone=self.tz)
        self.jobs: dict[str, tuple] = {}

    def fire(self, name: str, fire_time: float | None = None, trigger: str = "cron") -> None:
        try:
            schedule = self.book.get(name)
        except Exception:  # removed since the job was planned
            return
        if schedule.paused:
            return
        when = prev_fire_time(schedule.cron, self.clock(), self.tz) if fire_time is None else fire_time
        attempt = run_attempt(self.book, self.settings, schedule, when, self.run_fn, trigger=trigger,
                              clock=self.clock)
        if attempt is not None:
            log.info("schedule %s: %s %s %s", name, attempt.outcome, attempt.comparison_id or "", attempt.reason or "")

    def on_event(self, event: JobExecutionEvent) -> None:
        name = event.job_id
        if name == _SYNC_JOB:
            return
        if event.code == EVENT_JOB_ERROR:
            log.error("schedule %s: job error: %s", name, event.exception)
            return
        try:
            schedule = self.book.get(name)
        except Exception:
            return
        fire = event.scheduled_run_time.timestamp()
        if event.code == EVENT_JOB_MISSED:
            self.book.record(schedule, fire, "cron", "missed", f"started too late (grace {schedule.grace_s:g} s)")
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            self.book.record(schedule, fire, "cron", "skipped", "the previous run of this schedule is still running")

    def catch_up(self, schedule: Schedule) -> None:
        """Fires that passed while no scheduler ran: the latest within grace runs once, the rest are missed."""
        run_now, missed = due_fires(schedule, self.clock())
        for fire in missed:
            self.book.record(schedule, fire, "catch-up", "missed",
                             f"not run: no scheduler was running at the fire time (grace {schedule.grace_s:g} s)")
        if run_now is not None:
            self.scheduler.add_job(self.fire, "date", args=[schedule.name, run_now, "catch-up"],
                                   id=f"{schedule.name}@catch-up", replace_existing=True)
        else:
            self.book.advance(schedule.name, missed[-1] if missed else self.clock())

    def sync(self) -> None:
        """Make the jobs match the book (schedules added, removed, paused, resumed or changed)."""
        try:
            reap_stale(self.book, self.settings)
            schedules = {s.name: s for s in self.book.list()}
        except Exception:
            log.exception("cannot read the schedule book")
            return
        for name in list(self.jobs):
            if name not in schedules or self.jobs[name] != _signature(schedules[name]):
                if self.scheduler.get_job(name):
                    self.scheduler.remove_job(name)
                del self.jobs[name]
        for name, schedule in schedules.items():
            if name in self.jobs or schedule.paused:
                continue
            self.catch_up(schedule)
            self.scheduler.add_job(self.fire, CronExprTrigger(schedule.cron, self.tz), args=[name], id=name,
                                   name=name, misfire_grace_time=int(max(1, schedule.grace_s)), coalesce=True,
                                   max_instances=1, replace_existing=True)
            self.jobs[name] = _signature(schedule)
            log.info("schedule %s: next fire %s", name, self.scheduler.get_job(name).next_run_time)


def serve(settings: Settings, run_fn: RunFn, *, stop: threading.Event | None = None,
          sync_interval_s: float = SYNC_INTERVAL_S, clock: Callable[[], float] = time.time,
          on_ready: Callable[[int], Any] | None = None) -> None:
    """Run schedules until ``stop`` is set (or SIGTERM/SIGINT when called from the main thread)."""
    stop = stop or threading.Event()
    service = _Service(settings, run_fn, clock)
    handlers: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            handlers[sig] = signal.signal(sig, lambda *_: stop.set())
    service.scheduler.add_listener(service.on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    service.scheduler.start()
    try:
        service.sync()
        service.scheduler.add_job(service.sync, "interval", seconds=sync_interval_s, id=_SYNC_JOB, coalesce=True,
                                  max_instances=1)
        if on_ready is not None:
            on_ready(len(service.jobs))
        stop.wait()
    finally:
        log.info("scheduler stopping: running runs get SIGTERM and roll back")
        terminate = getattr(run_fn, "terminate", None)
        if callable(terminate):
            terminate()
        service.scheduler.shutdown(wait=True)
        service.book.close()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
