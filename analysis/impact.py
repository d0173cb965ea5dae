"""Harm figures of one run over its impact window [t0, t1): tasks, sessions, latency, reach, budget.

Figures from binned counts work for both sources; the session figures need the request log (the
series carry no session ids). Latency is analysis/latency.py's (successes only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.series import CLIENT_SESSIONS_LOST, increase_between

__all__ = [
    "BUDGET_DAYS",
    "lost_tasks",
    "blast_radius_regions",
    "budget_burn",
    "sessions_lost",
    "blast_radius_sessions",
    "sessions_lost_from_series",
    "wilson_interval",
    "availability_during",
]

BUDGET_DAYS = 30


def _not_served(part: pd.DataFrame) -> np.ndarray:
    """Requests a user did not get served: failed, timed out or shed (a frame without ``rejected`` has none)."""
    bad = part["failed"].to_numpy(dtype=float) + part["timeout"].to_numpy(dtype=float)
    if "rejected" in part.columns:
        bad = bad + part["rejected"].to_numpy(dtype=float)
    return bad


def _between(counts: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    t = counts["t"].to_numpy(dtype=float)
    return counts[(t >= start - 1e-9) & (t < end - 1e-9)]


def lost_tasks(counts: pd.DataFrame, start: float, end: float) -> float:
    """Failed, timed-out and shed requests in the bins of [start, end)."""
    part = _between(counts, start, end)
    return float(np.nansum(_not_served(part)))


def blast_radius_regions(region_counts: pd.DataFrame, start: float, end: float, slo: float) -> float | None:
    """Share of client regions whose availability over [start, end) fell below the SLO.

    The denominator is every region seen in ``region_counts``; a region without requests in the
    window saw nothing and is not counted as hit. An empty window (no impact) gives 0.
    """
    if region_counts.empty:
        return None
    regions = sorted(set(region_counts["client_region"].astype(str)))
    if end <= start:
        return 0.0
    part = _between(region_counts, start, end)
    hit = 0
    for region in regions:
        rows = part[part["client_region"].astype(str) == region]
        total = float(np.nansum(rows["total"].to_numpy(dtype=float)))
        ok = float(np.nansum(rows["ok"].to_numpy(dtype=float)))
        if total > 0 and ok / total < slo:
            hit += 1
    return hit / len(regions)


def budget_burn(counts: pd.DataFrame, start: float, end: float, slo: float) -> dict[str, float | None]:
    """Error-budget burn over [start, end): rate = error ratio / (1 - SLO), and 30-day budget used.

    ``minutes_consumed`` is error ratio x window minutes (the bad minutes this window cost);
    ``budget_minutes`` the 30-day allowance (1 - SLO) x 43,200 min; ``share_consumed`` their ratio.
    """
    part = _between(counts, start, end)
    total = float(np.nansum(part["total"].to_numpy(dtype=float)))
    bad = float(np.nansum(_not_served(part)))
    budget_minutes = (1.0 - slo) * BUDGET_DAYS * 24 * 60
    ratio = bad / total if total > 0 else None
    minutes = None if ratio is None else ratio * max(0.0, end - start) / 60.0
    return {
        "slo": slo,
        "window_s": max(0.0, end - start),
        "error_ratio": ratio,
        "rate": None if ratio is None else ratio / (1.0 - slo),
        "minutes_consumed": minutes,
        "budget_minutes": budget_minutes,
        "share_consumed": None if minutes is None else minutes / budget_minutes,
    }


def _in(df: pd.DataFrame, col: str, start: float, end: float) -> pd.DataFrame:
    t = df[col].to_numpy(dtype=float)
    return df[(t >= start) & (t < end)]


def _lost_memory(df: pd.DataFrame) -> pd.Series:
    if "session_ok" not in df.columns:
        return pd.Series(False, index=df.index)
    return pd.to_numeric(df["session_ok"], errors="coerce") == 0


def sessions_lost(requests: pd.DataFrame, start: float, end: float, time_col: str = "end") -> int | None:
    """Distinct sessions the deployment answered with lost memory (``session_ok`` 0) in [start, end)."""
    if "session" not in requests.columns or "session_ok" not in requests.columns:
        return None
    part = _in(requests, time_col, start, end)
    return int(part.loc[_lost_memory(part), "session"].astype(str).nunique())


def blast_radius_sessions(
    requests: pd.DataFrame,
    impact: tuple[float, float],
    window: tuple[float, float],
    time_col: str = "end",
) -> float | None:
    """Share of sessions active in ``window`` that saw a failure in ``impact`` or lost memory in ``window``.

    Lost memory shows on the first answer after the fault, often after recovery, hence the wider
    window for it. None when no session was active.
    """
    if "session" not in requests.columns:
        return None
    active = _in(requests, time_col, *window)
    if active.empty:
        return None
    sessions = active["session"].astype(str)
    during = _in(active, time_col, *impact)
    failed = set(during.loc[during["outcome"].astype(str) != "ok", "session"].astype(str))
    lost = set(sessions[_lost_memory(active)])
    return len(failed | lost) / sessions.nunique()


def sessions_lost_from_series(series: pd.DataFrame, start: float, end: float) -> float | None:
    """Increase of the client's sessions-lost counter over [start, end); None when not collected."""
    return increase_between(series, CLIENT_SESSIONS_LOST, start, end)



#: two-sided 95 % normal quantile
_Z95 = 1.959963984540054


def wilson_interval(ok: float, total: float, z: float = _Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion ok/total (good at 0 and 1, where the normal interval is not)."""
    if total <= 0:
        return None, None
    p = ok / total
    den = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / den
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / den
    low = 0.0 if ok <= 0 else max(0.0, centre - half)
    high = 1.0 if ok >= total else min(1.0, centre + half)
    return low, high


def availability_during(counts: pd.DataFrame, spans: Sequence[tuple[float, float]]) -> dict[str, float | None]:
    """Availability over the bins inside ``spans`` (the fault's active time), with its per-request interval.

    ``value`` = sum ok / sum total; ``low``/``high`` the Wilson 95 % interval treating requests as independent
    trials (what one run can say on its own); ``n`` the requests counted.
    """
    ok = total = 0.0
    for start, end in spans:
        part = _between(counts, start, end)
        ok += float(np.nansum(part["ok"].to_numpy(dtype=float)))
        total += float(np.nansum(part["total"].to_numpy(dtype=float)))
    low, high = wilson_interval(ok, total)
    return {"value": ok / total if total > 0 else None, "low": low, "high": high, "n": total,
            "seconds": float(sum(max(0.0, e - s) for s, e in spans))}
