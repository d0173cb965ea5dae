"""A schedule: what to run (experiment, topologies, repeats, timings), when (a cron expression), and its gate.

Cron semantics come from croniter only (standard 5-field Vixie cron, ``@daily`` and friends, and an optional
6th field of seconds for demos and tests), evaluated in the machine's local time zone. APScheduler's own
``CronTrigger`` numbers days of the week differently (0 = Monday), so it is not used for matching.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, croniter

from chaos.library import load_experiment
from core.errors import AftershockError, ScheduleError
from fleet.topology import load_topology

__all__ = ["Schedule", "validate_schedule", "validate_cron", "local_tz", "next_fire_times", "prev_fire_time",
           "fires_between", "fires_back", "experiment_name", "NAME_PATTERN", "DEFAULT_GRACE_S", "DEFAULT_TIMEOUT_S"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_GRACE_S = 900.0
DEFAULT_TIMEOUT_S = 3600.0
_CRON_ERRORS = (CroniterBadCronError, CroniterBadDateError, CroniterNotAlphaError, ValueError, KeyError)


@dataclass
class Schedule:
    """One persisted schedule; times are Unix seconds."""
    name: str
    cron: str
    experiment: str
    topologies: list[str] = field(default_factory=lambda: ["centralized", "decentralized", "hybrid"])
    repeat: int = 1
    gate_budget: float | None = None
    warmup_s: float = 10.0
    observe_s: float = 15.0
    grace_s: float = DEFAULT_GRACE_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    paused: bool = False
    created_at: float = 0.0
    last_fire_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_tz() -> tzinfo:
    """The machine's time zone: crontab lines and CronJobs are read in local time."""
    import tzlocal

    return tzlocal.get_localzone()


def validate_cron(expr: str) -> str:
    """The expression stripped, or :class:`ScheduleError` saying what is wrong with it."""
    text = " ".join(str(expr).split())
    if not text:
        raise ScheduleError("cron expression is empty; e.g. --cron '0 3 * * *' (every day at 03:00)")
    fields = text.split(" ")
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise ScheduleError(f"cron expression {text!r} has {len(fields)} fields; use 5 (minute hour day month "
                            f"weekday) or 6 (plus seconds)")
    try:
        croniter(text, datetime.now(local_tz())).get_next(float)
    except _CRON_ERRORS as exc:
        raise ScheduleError(f"invalid cron expression {text!r}: {exc}") from None
    return text


def _dt(ts: float, tz: tzinfo | None) -> datetime:
    return datetime.fromtimestamp(ts, tz or local_tz())


def next_fire_times(expr: str, after: float, count: int = 1, tz: tzinfo | None = None) -> list[float]:
    """The next ``count`` fire times strictly after ``after``."""
    it = croniter(expr, _dt(after, tz))
    return [float(it.get_next(float)) for _ in range(count)]


def prev_fire_time(expr: str, at: float, tz: tzinfo | None = None) -> float:
    """The latest fire time at or before ``at`` (a job started a moment after its fire time finds it)."""
    return float(croniter(expr, _dt(at + 0.001, tz)).get_prev(float))


def fires_between(expr: str, after: float, until: float, limit: int = 10_000,
                  tz: tzinfo | None = None) -> Iterator[float]:
    """Fire times in (after, until], oldest first, at most ``limit``."""
    it = croniter(expr, _dt(after, tz))
    for _ in range(limit):
        ts = float(it.get_next(float))
        if ts > until:
            return
        yield ts


def fires_back(expr: str, after: float, until: float, limit: int, tz: tzinfo | None = None) -> list[float]:
    """The latest ``limit`` fire times in (after, until], oldest first (walks back from ``until``)."""
    it = croniter(expr, _dt(until + 0.001, tz))
    out: list[float] = []
    while len(out) < limit:
        ts = float(it.get_prev(float))
        if ts <= after:
            break
        out.append(ts)
    return out[::-1]


def experiment_name(ref: str) -> str:
    """The experiment's name as comparisons record it: the library name or the file's stem."""
    from pathlib import Path

    return Path(ref).stem if ("/" in ref or Path(ref).suffix) else ref


def validate_schedule(schedule: Schedule, *, check_references: bool = True) -> Schedule:
    """Raise :class:`ScheduleError` (one line) for the first problem; nothing is stored before this passes."""
    if not NAME_PATTERN.match(schedule.name or ""):
        raise ScheduleError(f"schedule name {schedule.name!r} must be 1-64 letters, digits, '.', '_' or '-', "
                            f"starting with a letter or digit")
    schedule.cron = validate_cron(schedule.cron)
    if schedule.repeat < 1:
        raise ScheduleError(f"schedule {schedule.name}: --repeat must be at least 1, got {schedule.repeat}")
    numbers = {"--warmup": schedule.warmup_s, "--observe": schedule.observe_s, "--grace": schedule.grace_s,
               "--timeout": schedule.timeout_s, "--gate-budget": schedule.gate_budget}
    for label, value in numbers.items():  # NaN passes every comparison below: refuse it (and infinities) first
        if value is not None and not math.isfinite(value):
            raise ScheduleError(f"schedule {schedule.name}: {label} must be a finite number, got {value}")
    if schedule.gate_budget is not None and not 0.0 <= schedule.gate_budget <= 1.0:
        raise ScheduleError(f"schedule {schedule.name}: --gate-budget is a fraction of the 30-day error budget "
                            f"in 0..1, got {schedule.gate_budget:g}")
    for label, value in (("--warmup", schedule.warmup_s), ("--observe", schedule.observe_s)):
        if value < 0:
            raise ScheduleError(f"schedule {schedule.name}: {label} must be >= 0 seconds, got {value:g}")
    if schedule.grace_s <= 0 or schedule.timeout_s <= 0:
        raise ScheduleError(f"schedule {schedule.name}: --grace and --timeout must be > 0 seconds")
    if not schedule.topologies:
        raise ScheduleError(f"schedule {schedule.name}: give at least one --topology")
    if len(set(schedule.topologies)) != len(schedule.topologies):
        raise ScheduleError(f"schedule {schedule.name}: a topology is listed twice: {', '.join(schedule.topologies)}")
    if check_references:
        schedule.experiment = _absolute(schedule.experiment)
        schedule.topologies = [_absolute(t) for t in schedule.topologies]
        _check_references(schedule)
    if not schedule.created_at:
        schedule.created_at = time.time()
    return schedule


def _absolute(ref: str) -> str:
    """A file given by a relative path is stored absolute: the scheduler may run from another directory."""
    from pathlib import Path

    path = Path(ref)
    return str(path.resolve()) if ("/" in ref or path.suffix) and path.is_file() else ref


def _check_references(schedule: Schedule) -> None:
    """The experiment and topologies must load now, not fail at 3 a.m."""
    try:
        load_experiment(schedule.experiment)
    except AftershockError as exc:
        raise ScheduleError(f"schedule {schedule.name}: {exc}") from None
    for topo in schedule.topologies:
        try:
            load_topology(topo)
        except AftershockError as exc:
            raise ScheduleError(f"schedule {schedule.name}: topology {topo}: {exc}") from None
