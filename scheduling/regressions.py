"""The error-budget gate and regression flags, both computed from a schedule's own history of attempts.

**Recent burn** of a deployment (topology) = the sum of ``results[].metrics.budget_burn.share_consumed``
(share of the 30-day error budget each run consumed, docs/results.md) over the schedule's completed attempts
whose fire time lies in the 30 days before the new fire. When it exceeds the schedule's gate for any of its
topologies, the run is skipped: chaos should not spend budget the deployment no longer has.

**Regression**: per topology, the per-run values of the new attempt against those of the previous attempts
(up to :data:`BASELINE_ATTEMPTS`, at least :data:`MIN_BASELINE_RUNS` runs): a bootstrap 95 % interval of the
median each (``analysis.compare.bootstrap_median_ci``); flagged only when the intervals do not overlap
(``intervals_overlap``) and the new one is worse by a margin that matters (:data:`MIN_RESILIENCE_DROP`
points of R; TTR up by :data:`MIN_TTR_RISE_S` and :data:`MIN_TTR_RISE_RATIO`): lower resilience R, or longer
TTR (a run that did not recover counts as an infinite TTR, as in the comparison).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.compare import EXCLUDED_STATUSES, bootstrap_median_ci, intervals_overlap
from scheduling.book import DB_NAME, ScheduleBook

__all__ = ["metrics_of_summary", "schedule_budget_burn", "gate_reason", "detect_regressions", "regressions_for",
           "BUDGET_WINDOW_S", "BASELINE_ATTEMPTS", "MIN_BASELINE_RUNS", "FLAG_COLUMNS", "MIN_RESILIENCE_DROP",
           "MIN_TTR_RISE_S", "MIN_TTR_RISE_RATIO"]

BUDGET_WINDOW_S = 30 * 86400.0
BASELINE_ATTEMPTS = 10
MIN_BASELINE_RUNS = 3
#: Smallest changes worth a flag: identical repeats give zero-width intervals, so a 0.1 s wobble would
#: otherwise count as "significant". Resilience points (0..100); TTR seconds and relative rise.
MIN_RESILIENCE_DROP = 1.0
MIN_TTR_RISE_S = 1.0
MIN_TTR_RISE_RATIO = 0.2
FLAG_COLUMNS = ["comparison_id", "experiment", "topology", "metric", "message", "schedule", "fire_time"]
_REGRESSION_METRICS = {"resilience": True, "ttr_s": False}  # metric -> higher is better


def metrics_of_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Per topology the per-run values the gate and the regression check need (kept with the attempt)."""
    topologies: dict[str, dict[str, list[Any]]] = {}
    for result in summary.get("results") or []:
        if result.get("status") in EXCLUDED_STATUSES:
            continue
        m = result.get("metrics") or {}
        burn = m.get("budget_burn") or {}
        entry = topologies.setdefault(str(result.get("topology")), {"resilience": [], "ttr_s": [], "recovered": [],
                                                                     "share_consumed": [], "burn_rate": []})
        entry["resilience"].append(m.get("resilience"))
        entry["ttr_s"].append(m.get("ttr_s"))
        entry["recovered"].append(m.get("recovered"))
        entry["share_consumed"].append(burn.get("share_consumed"))
        entry["burn_rate"].append(burn.get("rate"))
    return {"experiment": summary.get("experiment"), "topologies": topologies}


def schedule_budget_burn(history: Iterable[Any], topologies: Sequence[str], now: float,
                window_s: float = BUDGET_WINDOW_S) -> dict[str, float]:
    """Recent burn per topology (share of the 30-day budget) from completed attempts in (now - window, now]."""
    burn = {t: 0.0 for t in topologies}
    for attempt in history:
        if attempt.outcome != "completed" or not attempt.metrics or not now - window_s < attempt.fire_time <= now:
            continue
        for topo, entry in (attempt.metrics.get("topologies") or {}).items():
            if topo in burn:
                burn[topo] += sum(float(v) for v in entry.get("share_consumed") or [] if v is not None)
    return burn


def gate_reason(burn: Mapping[str, float], gate: float | None) -> str | None:
    """The skip reason when a topology's recent burn is above the gate, else None."""
    if gate is None:
        return None
    over = {t: b for t, b in sorted(burn.items()) if b > gate}
    if not over:
        return None
    parts = ", ".join(f"{t} burnt {b:.3f}" for t, b in over.items())
    return f"error-budget gate: {parts} of the 30-day budget in the last 30 days (gate {gate:g})"


def _values(entry: Mapping[str, Any], metric: str) -> list[float]:
    if metric == "ttr_s":
        out = []
        for ttr, recovered in zip(entry.get("ttr_s") or [], entry.get("recovered") or [], strict=False):
            if recovered is False:
                out.append(math.inf)
            elif ttr is not None:
                out.append(float(ttr))
        return out
    return [float(v) for v in entry.get(metric) or [] if v is not None]


def _fmt(value: float) -> str:
    return "not recovered" if math.isinf(value) else f"{value:.1f}"


def detect_regressions(current: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *,
                       min_runs: int = MIN_BASELINE_RUNS, seed: int = 0) -> list[dict[str, Any]]:
    """Flags of ``current`` (metrics_of_summary) against ``history`` (previous attempts' metrics, newest first)."""
    flags = []
    for topo, entry in sorted((current.get("topologies") or {}).items()):
        for metric, higher_better in _REGRESSION_METRICS.items():
            now_values = _values(entry, metric)
            base = [v for past in history[:BASELINE_ATTEMPTS]
                    for v in _values((past.get("topologies") or {}).get(topo) or {}, metric)]
            if not now_values or len(base) < min_runs:
                continue
            cur = bootstrap_median_ci(now_values, seed=seed)
            ref = bootstrap_median_ci(base, seed=seed)
            if intervals_overlap((cur[1], cur[2]), (ref[1], ref[2])):
                continue
            if higher_better:
                worse = cur[2] < ref[1] and ref[0] - cur[0] >= MIN_RESILIENCE_DROP
            else:
                worse = cur[1] > ref[2] and cur[0] - ref[0] >= max(MIN_TTR_RISE_S, MIN_TTR_RISE_RATIO * ref[0])
            if not worse:
                continue
            label = "resilience R" if metric == "resilience" else "TTR (s)"
            flags.append({"topology": topo, "metric": metric,
                          "current": {"median": cur[0], "low": cur[1], "high": cur[2], "n": len(now_values)},
                          "baseline": {"median": ref[0], "low": ref[1], "high": ref[2], "n": len(base)},
                          "message": f"{topo}: {label} {'dropped' if higher_better else 'rose'} to {_fmt(cur[0])} "
                                     f"[{_fmt(cur[1])}, {_fmt(cur[2])}] from {_fmt(ref[0])} "
                                     f"[{_fmt(ref[1])}, {_fmt(ref[2])}] over the previous {len(base)} runs"})
    return [_json_safe(f) for f in flags]


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def regressions_for(home: Path | str, experiment: str | None = None) -> pd.DataFrame:
    """Every regression flagged by scheduled runs (of one experiment, or all), newest first.

    For the History page and the reports: columns :data:`FLAG_COLUMNS`; an empty frame when nothing was
    scheduled yet (no schedules.sqlite is created by reading).
    """

    rows: list[dict[str, Any]] = []
    if (Path(home) / DB_NAME).exists():
        with ScheduleBook.open(Path(home)) as book:
            for attempt in book.attempts(experiment=experiment):
                for flag in attempt.regressions:
                    rows.append({"comparison_id": attempt.comparison_id, "experiment": attempt.experiment,
                                 "topology": flag.get("topology"), "metric": flag.get("metric"),
                                 "message": flag.get("message"), "schedule": attempt.schedule,
                                 "fire_time": attempt.fire_time})
    return pd.DataFrame(rows, columns=FLAG_COLUMNS)
