"""Collected Prometheus series -> increases per bin, the way ``increase()`` would, but onto a grid.

A scraped counter only tells the total at scrape times. Per-bin counts come from the
reset-corrected cumulative increase, interpolated linearly onto bin edges, so irregular scrape
times and scrape intervals longer than a bin are handled without inventing requests.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = [
    "CLIENT_REQUESTS",
    "CLIENT_DURATION_BUCKET",
    "CLIENT_SESSIONS_LOST",
    "SERIES_COLUMNS",
    "counter_increase",
    "series_increase_on_grid",
    "increase_between",
    "histogram_quantile",
    "quantile_from_series",
]

CLIENT_REQUESTS = "aftershock_client_requests_total"
CLIENT_DURATION_BUCKET = "aftershock_client_request_duration_seconds_bucket"
CLIENT_SESSIONS_LOST = "aftershock_client_sessions_lost_total"
SERIES_COLUMNS = ("ts", "metric", "value")


def _check_series(df: pd.DataFrame) -> None:
    missing = [c for c in SERIES_COLUMNS if c not in df.columns]
    if missing:
        raise AnalysisError(f"series frame lacks column(s) {missing}; expected ts, metric, value + labels")


def counter_increase(ts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative increase of one counter at its sample times, starting at 0.

    A drop in value is a counter reset (the process restarted from 0): the increase over that
    scrape interval is the new value, as Prometheus' ``increase()`` assumes.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    d = np.diff(values)
    reset = d < 0
    d[reset] = values[1:][reset]
    return np.concatenate([[0.0], np.cumsum(d)])


def _label_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in SERIES_COLUMNS]


def _per_series(df: pd.DataFrame, metric: str):
    """Yield (labels dict, ts, cumulative increase) for every series of ``metric``.

    A labelled prometheus_client counter only appears after its first increment, so a series
    first seen after the target's first scrape is taken to be 0 at the scrape before it.
    """
    _check_series(df)
    sub = df[df["metric"] == metric]
    if sub.empty:
        return
    scrapes = np.unique(sub["ts"].to_numpy(dtype=float))
    labels = _label_columns(sub)
    groups = sub.groupby(labels, dropna=False, sort=True) if labels else [((), sub)]
    for key, g in groups:
        g = g.sort_values("ts", kind="mergesort")
        ts = g["ts"].to_numpy(dtype=float)
        vals = g["value"].to_numpy(dtype=float)
        keep = ~np.isnan(vals)
        ts, vals = ts[keep], vals[keep]
        if ts.size == 0:
            continue
        before = scrapes[scrapes < ts[0]]
        if before.size:
            ts = np.concatenate([[before[-1]], ts])
            vals = np.concatenate([[0.0], vals])
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(labels, key, strict=True)), ts, counter_increase(ts, vals)


def series_increase_on_grid(df: pd.DataFrame, metric: str, edges: np.ndarray, by: list[str]) -> pd.DataFrame:
    """Increase of ``metric`` per bin (between consecutive ``edges``), summed over series per ``by``.

    Rows: one per bin and ``by`` combination; columns ``bin`` (index), the ``by`` labels and
    ``increase``. Bins not fully inside the scraped time range get NaN: unknown, not zero.
    """
    edges = np.asarray(edges, dtype=float)
    rows: dict[tuple, np.ndarray] = {}
    first, last = math.inf, -math.inf
    for labels, ts, cum in _per_series(df, metric):
        first, last = min(first, ts[0]), max(last, ts[-1])
        at_edges = np.interp(edges, ts, cum)
        key = tuple(labels.get(b) for b in by)
        rows[key] = rows.get(key, 0.0) + np.diff(at_edges)
    covered = (edges[:-1] >= first - 1e-9) & (edges[1:] <= last + 1e-9)
    out = []
    for key, inc in sorted(rows.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        frame = pd.DataFrame({"bin": np.arange(inc.size), "increase": np.where(covered, inc, np.nan)})
        for b, v in zip(by, key, strict=True):
            frame[b] = v
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=["bin", *by, "increase"])
    return pd.concat(out, ignore_index=True)


def increase_between(df: pd.DataFrame, metric: str, start: float, end: float) -> float | None:
    """Total increase of ``metric`` (all series) over [start, end]; None when never scraped."""
    edges = np.array([start, end], dtype=float)
    total, seen = 0.0, False
    for _, ts, cum in _per_series(df, metric):
        seen = True
        total += float(np.diff(np.interp(edges, ts, cum))[0])
    return total if seen else None


def histogram_quantile(upper_bounds: np.ndarray, counts: np.ndarray, q: float) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative bucket counts (linear inside a bucket)."""
    order = np.argsort(upper_bounds)
    le = np.asarray(upper_bounds, dtype=float)[order]
    cum = np.maximum.accumulate(np.asarray(counts, dtype=float)[order])
    if le.size == 0 or cum[-1] <= 0:
        return None
    rank = q * cum[-1]
    i = int(np.searchsorted(cum, rank, side="left"))
    i = min(i, le.size - 1)
    if math.isinf(le[i]):
        finite = le[np.isfinite(le)]
        return float(finite[-1]) if finite.size else None
    lo_le = le[i - 1] if i > 0 else 0.0
    lo_cum = cum[i - 1] if i > 0 else 0.0
    width = cum[i] - lo_cum
    if width <= 0:
        return float(le[i])
    return float(lo_le + (le[i] - lo_le) * (rank - lo_cum) / width)


def quantile_from_series(
    df: pd.DataFrame, q: float, start: float, end: float, metric: str = CLIENT_DURATION_BUCKET
) -> float | None:
    """Quantile of the latency histogram's increase over [start, end], summed over all series."""
    edges = np.array([start, end], dtype=float)
    per_le: dict[float, float] = {}
    for labels, ts, cum in _per_series(df, metric):
        if "le" not in labels:
            raise AnalysisError(f"histogram series {metric} lacks the 'le' label column")
        le = float(str(labels["le"]).replace("+Inf", "inf"))
        per_le[le] = per_le.get(le, 0.0) + float(np.diff(np.interp(edges, ts, cum))[0])
    if not per_le:
        return None
    les = np.array(sorted(per_le))
    return histogram_quantile(les, np.array([per_le[x] for x in les]), q)
