"""One run in, its resilience figures out: the composition of the other modules.

``analyse_run`` takes plain inputs (frames already loaded by the caller) and never reads files,
so the dashboard, the reports and the CLI get the same numbers for the same run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.availability import availability_from_requests, availability_from_series
from analysis.bounds import DetectionBound, ttr_is_suspect
from analysis.detection import time_to_detect
from analysis.errors import AnalysisError
from analysis.impact import (
    blast_radius_regions,
    blast_radius_sessions,
    budget_burn,
    latency_inflation,
    latency_inflation_from_series,
    lost_tasks,
    sessions_lost,
    sessions_lost_from_series,
)
from analysis.jsonsafe import json_safe
from analysis.params import DEFAULT_PARAMS, AnalysisParams
from analysis.recovery import analyse_availability

__all__ = ["METRIC_KEYS", "RunInput", "RunMetrics", "analyse_run"]

# the keys of ``metrics`` in the JSON summary, in this order (docs/results.md)
METRIC_KEYS = (
    "availability_baseline",
    "availability_min",
    "impact_onset_s",
    "ttd_s",
    "ttr_s",
    "recovered",
    "depth",
    "resilience_loss",
    "resilience",
    "lost_tasks",
    "sessions_lost",
    "p99_inflation",
    "blast_radius_regions",
    "blast_radius_sessions",
    "budget_burn",
)


@dataclass(frozen=True)
class RunInput:
    """Everything one run's analysis needs; give ``requests`` (preferred) or ``series``.

    ``victims``/``victim_regions`` None: taken from the event log (nodes killed or paused, regions
    killed after injection). ``detection`` and ``restart_delay_s`` enable the suspect-TTR check.
    """

    run_id: str
    topology: str
    injected_at: float
    repeat: int = 0
    status: str = "completed"
    requests: pd.DataFrame | None = None
    series: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    request_log_path: str | None = None
    victims: frozenset[str] | None = None
    victim_regions: frozenset[str] | None = None
    detection: DetectionBound | None = None
    restart_delay_s: float | None = None
    intensity: float | None = None
    params: AnalysisParams = DEFAULT_PARAMS


@dataclass(frozen=True)
class RunMetrics:
    """The figures of one run; ``metrics`` holds exactly :data:`METRIC_KEYS` (None where unknown)."""

    run_id: str
    topology: str
    repeat: int
    status: str
    source: str
    injected_at: float
    request_log: str | None
    metrics: dict[str, Any]
    bounds: dict[str, Any]
    params: dict[str, Any]
    intensity: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json_dict(self) -> dict[str, Any]:
        """The run's entry of ``results`` in the JSON summary (JSON-safe)."""
        out = {
            "run_id": self.run_id,
            "topology": self.topology,
            "repeat": self.repeat,
            "status": self.status,
            "source": self.source,
            "injected_at": self.injected_at,
            "request_log": self.request_log,
            "intensity": self.intensity,
            "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "bounds": self.bounds,
            "params": self.params,
            "notes": list(self.notes),
        }
        return json_safe(out)


def _counts(run: RunInput, start: float, end: float) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    p = run.params
    if run.requests is not None:
        kw = {"time_col": p.time_col}
        total = availability_from_requests(run.requests, p.dt, start, end, **kw)
        regions = availability_from_requests(run.requests, p.dt, start, end, per_region=True, **kw)
        return "request_log", total, regions
    if run.series is not None:
        total = availability_from_series(run.series, p.dt, start, end)
        regions = availability_from_series(run.series, p.dt, start, end, per_region=True)
        return "series", total, regions
    raise AnalysisError(f"run {run.run_id}: give a request log or collected series to analyse")


def _data_start(run: RunInput) -> float:
    if run.requests is not None:
        col = run.requests[run.params.time_col]
    elif run.series is not None:
        col = run.series["ts"]
    else:
        raise AnalysisError(f"run {run.run_id}: give a request log or collected series to analyse")
    if col.empty:
        what = "request log" if run.requests is not None else "series"
        raise AnalysisError(f"run {run.run_id}: the {what} is empty")
    return float(col.min())


def analyse_run(run: RunInput) -> RunMetrics:
    """Compute every per-run figure of docs/analysis.md for one run."""
    p = run.params
    t0 = float(run.injected_at)
    first = t0 - p.baseline_s if p.baseline_s is not None else _data_start(run)
    # bins aligned on t0, so t0 and t1 are bin edges
    start = t0 - math.ceil((t0 - first) / p.dt - 1e-9) * p.dt if first < t0 else t0 - p.dt
    end = t0 + p.window_s
    source, counts, regions = _counts(run, start, end)
    rec = analyse_availability(
        counts, t0, dt=p.dt, eps=p.eps, sustain_s=p.sustain_s, window_s=p.window_s, baseline_s=p.baseline_s
    )
    notes: list[str] = []
    if not rec.recovered:
        notes.append(f"not recovered within {p.window_s:g} s (or before the data ends): TTR censored")
    if rec.data_end_s is not None and rec.data_end_s < p.window_s:
        notes.append(f"data ends {rec.data_end_s:g} s after injection, before the {p.window_s:g} s window")
    impact = (t0, rec.impact_end)
    window = (t0, end)
    baseline = (start, t0)
    # an empty impact window (no impact) still has a latency: take the sustain window after t0
    latency_window = impact if rec.impact_end > t0 else (t0, t0 + max(p.sustain_s, p.dt))
    burn = window if p.burn_window == "analysis" else impact

    if source == "request_log":
        lost_sessions: float | None = sessions_lost(run.requests, *window, time_col=p.time_col)
        br_sessions = blast_radius_sessions(run.requests, impact, window, time_col=p.time_col)
        inflation = latency_inflation(run.requests, baseline, latency_window, p.quantile, p.time_col)
    else:
        lost_sessions = sessions_lost_from_series(run.series, *window)
        br_sessions = None
        inflation = latency_inflation_from_series(run.series, baseline, latency_window, p.quantile)
        notes.append("series source: blast_radius_sessions needs the request log")

    ttd = None
    if run.events is not None and not run.events.empty:
        ttd = time_to_detect(
            run.events, t0, victims=run.victims, victim_regions=run.victim_regions, window_s=p.window_s
        )
    if ttd is None:
        notes.append("no member_dead event for a victim: TTD unknown")

    lost = lost_tasks(counts, *impact)
    metrics: dict[str, Any] = {
        "availability_baseline": rec.baseline,
        "availability_min": rec.availability_min,
        "impact_onset_s": rec.onset_s,
        "ttd_s": ttd,
        "ttr_s": rec.ttr_s,
        "recovered": rec.recovered,
        "depth": rec.depth,
        "resilience_loss": rec.resilience_loss,
        "resilience": rec.resilience,
        "lost_tasks": int(round(lost)) if source == "request_log" else lost,
        "sessions_lost": lost_sessions,
        "p99_inflation": inflation,
        "blast_radius_regions": blast_radius_regions(regions, *impact, p.slo),
        "blast_radius_sessions": br_sessions,
        "budget_burn": budget_burn(counts, *burn, p.slo),
    }
    suspect = ttr_is_suspect(rec.ttr_s, run.detection, run.restart_delay_s)
    if suspect:
        notes.append(
            "TTR beats detection + restart delay: check clocks, or recovery came from client failover"
        )
    bounds: dict[str, Any] = {
        "detection": run.detection.to_dict() if run.detection else None,
        "restart_delay_s": run.restart_delay_s,
        "min_ttr_s": (
            run.detection.best_s + run.restart_delay_s
            if run.detection is not None and run.restart_delay_s is not None
            else None
        ),
        "ttr_suspect": suspect,
    }
    return RunMetrics(
        run_id=run.run_id,
        topology=run.topology,
        repeat=run.repeat,
        status=run.status,
        source=source,
        injected_at=t0,
        request_log=run.request_log_path,
        metrics=metrics,
        bounds=bounds,
        params=p.to_dict(),
        intensity=run.intensity,
        notes=tuple(notes),
    )
