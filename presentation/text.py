"""The text of figures, written once: metric labels with their units, rounding, and the interval notation.

The terminal table (``aftershock show``/``run``), the dashboard's summary table and every report format read
labels and numbers from here, so "R" in one place is never "R (0-100)" in another, and an interval whose
upper end was censored reads the same everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["MetricText", "METRICS", "HEADLINE", "metric", "fmt_value", "fmt_interval", "CENSORED_HIGH",
           "NOT_RECOVERED", "fmt_seconds", "RECOVERY_WORDS", "recovery_words", "MECHANISM_WORDS", "local_datetimes"]

#: The upper end of an interval that some runs did not reach within the analysis window.
CENSORED_HIGH = "> window"
NOT_RECOVERED = "not self-healed"
#: the recovery classes of the JSON summary (analysis.faults.RECOVERY_CLASSES) in words
RECOVERY_WORDS = {
    "self_healed": "self-healed",
    "recovered_after_lift": "recovered after the lift",
    "not_recovered": "not recovered",
    "no_impact": "no impact",
    "no_data": "no data",
    "recovered_unattributed": "recovered (no fault window)",
}
#: the recovery mechanisms (analysis.mechanism.MECHANISMS) in words
MECHANISM_WORDS = {"failover": "failover", "restart": "restart by the orchestrator",
                   "replacement": "replacement spawned by peers", "standby_takeover": "warm standby takeover",
                   "lift": "the fault's lift", "none": "-"}


@dataclass(frozen=True)
class MetricText:
    """How one metric of the JSON summary is named and rounded wherever it is shown."""

    key: str
    label: str  # with its unit, e.g. "TTR (s)"
    short: str  # for narrow terminal columns, e.g. "TTR s"
    digits: int


METRICS: dict[str, MetricText] = {m.key: m for m in (
    MetricText("resilience", "R (0-100)", "R", 1),
    MetricText("ttr_s", "TTR (s)", "TTR s", 1),
    MetricText("ttr_after_lift_s", "back after the lift (s)", "lift+ s", 1),
    MetricText("availability_during_fault", "availability during the fault", "A fault", 3),
    MetricText("p99_ok_s", "p99 of successes (s)", "p99 ok s", 2),
    MetricText("lost_writes", "lost session writes", "lost wr", 0),
    MetricText("duplicated_tasks", "duplicated tasks", "dup", 0),
    MetricText("ttd_s", "TTD (s)", "TTD s", 1),
    MetricText("depth", "depth", "depth", 2),
    MetricText("resilience_loss", "loss (avail-s)", "loss", 1),
    MetricText("lost_tasks", "lost tasks", "lost", 0),
    MetricText("sessions_lost", "sessions lost", "sess.lost", 0),
    MetricText("p99_inflation", "p99 inflation (x)", "p99 x", 1),
    MetricText("availability_baseline", "A0", "A0", 3),
)}
#: The metrics of the headline tables, in order.
HEADLINE = ("resilience", "ttr_s", "ttd_s", "depth", "resilience_loss", "lost_tasks", "sessions_lost",
            "p99_inflation", "availability_baseline")


def metric(key: str) -> MetricText:
    """The text of ``key``; unknown metrics get their key as label and one decimal."""
    return METRICS.get(key) or MetricText(key, key, key, 1)


def fmt_value(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_seconds(value: float | None) -> str:
    """A duration for people: 0.4 s, 12 s, 3 min 05 s."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes} min {seconds:02d} s"


def fmt_interval(m: Mapping[str, Any] | None, digits: int = 1) -> str:
    """'median [low, high]' of a summary metric; censored values read "not self-healed" / "> window"."""
    if not m or not m.get("n"):
        return "-"
    if m.get("median_censored"):
        med = NOT_RECOVERED
    elif m.get("median") is None:
        return "-"
    else:
        med = f"{m['median']:.{digits}f}"
    if m.get("ci_low") is None or (m.get("ci_high") is None and not m.get("high_censored")):
        return med
    high = CENSORED_HIGH if m.get("high_censored") else f"{m['ci_high']:.{digits}f}"
    return f"{med} [{m['ci_low']:.{digits}f}, {high}]"


def recovery_words(kind: str | None) -> str:
    """A recovery class in words ("self-healed", "recovered after the lift", ...); '-' when unknown."""
    return RECOVERY_WORDS.get(kind or "", "-")


def local_datetimes(unix_s: Iterable[float] | pd.Series) -> pd.Series:
    """Unix seconds as naive datetimes in this machine's time zone (every date the dashboard shows reads alike)."""
    tz = dt.datetime.now().astimezone().tzinfo
    values = pd.Series(list(unix_s) if not isinstance(unix_s, pd.Series) else unix_s, dtype="float64")
    stamps = pd.to_datetime(values, unit="s", utc=True).dt.round("us")  # Python datetimes hold microseconds
    return stamps.dt.tz_convert(tz).dt.tz_localize(None)
