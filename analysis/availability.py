"""Availability A(t) = ok / (ok + failed + timeout + rejected) per bin, from either source.

A shed request (``rejected``: the deployment refused it, nothing ran) is as unavailable to its user as a failed
one; it is counted in its own column so overload reads apart from breakage.

Both functions return the same frame: ``t`` (bin start, Unix seconds), ``ok``, ``failed``,
``timeout``, ``rejected``, ``total``, ``availability``; with ``per_region=True`` also ``client_region``
(one row per bin and region). A bin without requests has ``total`` 0 and availability NaN:
it is missing, never 100 % nor 0 %.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.series import CLIENT_REQUESTS, series_increase_on_grid
from core.logs import REQUEST_OUTCOMES

__all__ = [
    "OUTCOMES",
    "AVAILABILITY_COLUMNS",
    "bin_edges",
    "availability_from_requests",
    "availability_from_series",
]

OUTCOMES = REQUEST_OUTCOMES
# request-log outcome -> frame column
_COLUMN = {"ok": "ok", "error": "failed", "timeout": "timeout", "rejected": "rejected"}
AVAILABILITY_COLUMNS = ("t", "ok", "failed", "timeout", "rejected", "total", "availability")


def bin_edges(start: float, end: float, dt: float) -> np.ndarray:
    """Edges start, start + dt, ... covering [start, end); the last bin may stick out past end."""
    if dt <= 0:
        raise AnalysisError(f"bin width dt must be > 0, got {dt}")
    if not end > start:
        raise AnalysisError(f"empty time range: start {start} is not before end {end}")
    n = max(1, math.ceil((end - start) / dt - 1e-9))
    return start + dt * np.arange(n + 1, dtype=float)


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    frame["total"] = frame["ok"] + frame["failed"] + frame["timeout"] + frame["rejected"]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = frame["ok"].to_numpy(dtype=float) / frame["total"].to_numpy(dtype=float)
    frame["availability"] = np.where(frame["total"].to_numpy(dtype=float) > 0, a, np.nan)
    return frame


def _range(values: pd.Series, start: float | None, end: float | None, dt: float) -> tuple[float, float]:
    if start is None:
        start = math.floor(float(values.min()) / dt) * dt
    if end is None:
        end = float(values.max()) + dt
    return float(start), float(end)


def availability_from_requests(
    df: pd.DataFrame,
    dt: float = 1.0,
    start: float | None = None,
    end: float | None = None,
    *,
    per_region: bool = False,
    time_col: str = "end",
) -> pd.DataFrame:
    """Bin the ground-truth request log; the reference every other source is checked against.

    Requests are binned by ``time_col`` (default ``end``: when the client learns the outcome).
    ``start``/``end`` default to the data range; requests outside [start, end) are left out.
    """
    needed = [time_col, "outcome"] + (["client_region"] if per_region else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise AnalysisError(f"request log lacks column(s) {missing} (see docs/contracts.md)")
    if df.empty and (start is None or end is None):
        raise AnalysisError("request log is empty and no time range was given")
    start, end = _range(df[time_col], start, end, dt)
    edges = bin_edges(start, end, dt)
    n = edges.size - 1
    outcome = df["outcome"].astype(str).to_numpy()
    unknown = sorted(set(np.unique(outcome)) - set(OUTCOMES))
    if unknown:
        raise AnalysisError(f"request log has unknown outcome(s) {unknown}; expected {list(OUTCOMES)}")
    t = df[time_col].to_numpy(dtype=float)
    k = np.floor((t - start) / dt).astype(np.int64)
    inside = (k >= 0) & (k < n) & (t < edges[-1])
    k, outcome = k[inside], outcome[inside]
    regions = df["client_region"].astype(str).to_numpy()[inside] if per_region else None

    def counts(mask: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame({"t": edges[:-1]})
        for name, col in _COLUMN.items():
            frame[col] = np.bincount(k[mask & (outcome == name)], minlength=n).astype(np.int64)
        return _finish(frame)

    if not per_region:
        return counts(np.ones(k.size, dtype=bool))
    frames = []
    for region in sorted(set(regions)):
        frame = counts(regions == region)
        frame.insert(1, "client_region", region)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["t", "client_region", *AVAILABILITY_COLUMNS[1:]])
    return pd.concat(frames, ignore_index=True)


def availability_from_series(
    df: pd.DataFrame,
    dt: float = 1.0,
    start: float | None = None,
    end: float | None = None,
    *,
    per_region: bool = False,
    metric: str = CLIENT_REQUESTS,
) -> pd.DataFrame:
    """Bin collected client counters (``metric`` with labels ``outcome`` and ``client_region``).

    Per-bin counts are counter increases interpolated onto the bins, so they may be fractional;
    a request shows up within one scrape interval of its end. Bins outside the scraped range are
    missing (NaN counts and availability).
    """
    sub = df[df["metric"] == metric] if "metric" in df.columns else df
    if sub.empty:
        raise AnalysisError(f"series frame has no samples of {metric}")
    if "outcome" not in sub.columns or (per_region and "client_region" not in sub.columns):
        raise AnalysisError(f"series of {metric} lack the outcome/client_region label columns")
    unknown = sorted(set(sub["outcome"].astype(str)) - set(OUTCOMES))
    if unknown:
        raise AnalysisError(f"series of {metric} have unknown outcome(s) {unknown}")
    start, end = _range(sub["ts"], start, end, dt)
    edges = bin_edges(start, end, dt)
    by = ["outcome"] + (["client_region"] if per_region else [])
    inc = series_increase_on_grid(sub, metric, edges, by)
    regions = sorted(set(inc["client_region"].astype(str))) if per_region else [None]
    frames = []
    for region in regions:
        frame = pd.DataFrame({"t": edges[:-1]})
        part = inc if region is None else inc[inc["client_region"].astype(str) == region]
        known = np.zeros(edges.size - 1, dtype=bool)
        for name, col in _COLUMN.items():
            rows = part[part["outcome"] == name]
            values = np.zeros(edges.size - 1)
            if not rows.empty:
                grouped = rows.groupby("bin")["increase"].sum(min_count=1)
                got = grouped.reindex(range(edges.size - 1)).to_numpy(dtype=float)
                known |= ~np.isnan(got)
                values = np.nan_to_num(got, nan=0.0)
            frame[col] = values
        frame = _finish(frame)
        frame.loc[~known, ["ok", "failed", "timeout", "rejected", "total", "availability"]] = np.nan
        if region is not None:
            frame.insert(1, "client_region", region)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
