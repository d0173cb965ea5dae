"""Scheduled chaos runs: cron schedules kept in ``$AFTERSHOCK_HOME/schedules.sqlite``, one attempt at a time per
schedule, an error-budget gate, and regression flags against the schedule's own history (docs/scheduling.md).
"""

from scheduling.book import ATTEMPT_OUTCOMES, Attempt, ScheduleBook
from scheduling.execute import RunResult, SubprocessRun, run_attempt, run_due
from scheduling.model import Schedule, next_fire_times, validate_schedule
from scheduling.regressions import detect_regressions, metrics_of_summary, regressions_for, schedule_budget_burn
from scheduling.service import serve

__all__ = [
    "ATTEMPT_OUTCOMES",
    "Attempt",
    "ScheduleBook",
    "RunResult",
    "SubprocessRun",
    "run_attempt",
    "run_due",
    "Schedule",
    "next_fire_times",
    "validate_schedule",
    "schedule_budget_burn",
    "detect_regressions",
    "metrics_of_summary",
    "regressions_for",
    "serve",
]
