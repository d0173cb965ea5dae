"""Latency of successful requests, and the latency of failures shown apart.

Why apart: a refused connection fails in milliseconds, so percentiles over every outcome make a region that is
fully down look *faster* than normal (p99 inflation 0.4 for a dead hub). Service latency is the latency of ``ok``
requests only; ``error`` requests give the *time to fail*, ``timeout`` requests what the client waited before it
gave up. A window without successes has no service latency: its figure is null with the reason, never a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "LATENCY_QUANTILES",
    "LatencyFigure",
    "latencies",
    "latency_figure",
    "latency_by_outcome",
    "ok_latency_inflation",
    "ok_latency_curve",
]

LATENCY_QUANTILES = (0.5, 0.9, 0.99)
_OUTCOMES = {"ok": "ok", "error": "time_to_fail", "timeout": "timeout"}


@dataclass(frozen=True)
class LatencyFigure:
    """A quantile of one outcome's latency in a window, or None with the reason."""

    value: float | None
    n: int
    reason: str | None = None


def _in(df: pd.DataFrame, col: str, start: float, end: float) -> pd.DataFrame:
    t = df[col].to_numpy(dtype=float)
    return df[(t >= start) & (t < end)]


def latencies(requests: pd.DataFrame, start: float, end: float, outcome: str = "ok",
              time_col: str = "end") -> np.ndarray:
    """Finite latencies (s) of the requests with ``outcome`` whose ``time_col`` is in [start, end)."""
    if requests.empty or "latency_s" not in requests.columns:
        return np.empty(0)
    part = _in(requests, time_col, start, end)
    lat = part.loc[part["outcome"].astype(str) == outcome, "latency_s"].to_numpy(dtype=float)
    return lat[np.isfinite(lat)]


def latency_figure(requests: pd.DataFrame, start: float, end: float, q: float, outcome: str = "ok",
                   time_col: str = "end") -> LatencyFigure:
    """The ``q`` quantile of one outcome's latency in [start, end); None with a reason when there is none."""
    lat = latencies(requests, start, end, outcome, time_col)
    if lat.size == 0:
        what = {"ok": "successful", "error": "failed", "timeout": "timed-out"}.get(outcome, outcome)
        return LatencyFigure(None, 0, f"no {what} requests in the window")
    return LatencyFigure(float(np.quantile(lat, q)), int(lat.size))


def latency_by_outcome(requests: pd.DataFrame, start: float, end: float, *, time_col: str = "end",
                       quantiles: Sequence[float] = LATENCY_QUANTILES) -> dict[str, dict[str, Any]]:
    """Per outcome (``ok``, ``time_to_fail`` for errors, ``timeout``): n and the quantiles (``p50``, ...)."""
    out: dict[str, dict[str, Any]] = {}
    for outcome, key in _OUTCOMES.items():
        lat = latencies(requests, start, end, outcome, time_col)
        row: dict[str, Any] = {"n": int(lat.size)}
        for q in quantiles:
            row[f"p{_pct(q)}"] = float(np.quantile(lat, q)) if lat.size else None
        out[key] = row
    return out


def _pct(q: float) -> str:
    value = 100 * q
    return f"{value:g}".replace(".", "_")


def ok_latency_inflation(requests: pd.DataFrame, baseline: tuple[float, float], window: tuple[float, float],
                         q: float, time_col: str = "end") -> tuple[float | None, str | None]:
    """(q-quantile of ok latency in ``window`` / the same before the fault, reason when None)."""
    during = latency_figure(requests, *window, q, "ok", time_col)
    before = latency_figure(requests, *baseline, q, "ok", time_col)
    if during.value is None:
        return None, f"{during.reason} (impact window): no service latency to inflate"
    if before.value is None or before.value <= 0:
        return None, f"{before.reason or 'zero latency'} before the fault: no baseline latency"
    return during.value / before.value, None


def ok_latency_curve(requests: pd.DataFrame, t0: float, dt: float = 1.0, time_col: str = "end",
                     quantiles: Sequence[float] = LATENCY_QUANTILES) -> pd.DataFrame:
    """Per bin of ``time_col`` relative to t0: ``t``, ``n_ok`` and the ok-latency quantiles (``p50``, ``p90``,
    ``p99``; NaN in a bin without successes), plus ``n_failed``/``p50_fail`` (time to fail) and ``n_timeout``."""
    names = [f"p{_pct(q)}" for q in quantiles]
    cols = ["t", "n_ok", *names, "n_failed", "p50_fail", "n_timeout"]
    if requests.empty:
        return pd.DataFrame(columns=cols)
    t = requests[time_col].to_numpy(dtype=float)
    k = np.floor((t - t0) / dt + 1e-9).astype(np.int64)
    outcome = requests["outcome"].astype(str).to_numpy()
    lat = requests["latency_s"].to_numpy(dtype=float)
    frame = pd.DataFrame({"k": k, "outcome": outcome, "lat": lat})
    bins = np.arange(int(k.min()), int(k.max()) + 1)
    out = pd.DataFrame({"k": bins})
    ok = frame[frame["outcome"] == "ok"].groupby("k")["lat"]
    out["n_ok"] = ok.size().reindex(bins, fill_value=0).to_numpy()
    for q, name in zip(quantiles, names, strict=True):
        out[name] = ok.quantile(q).reindex(bins).to_numpy(dtype=float)
    fail = frame[frame["outcome"] == "error"].groupby("k")["lat"]
    out["n_failed"] = fail.size().reindex(bins, fill_value=0).to_numpy()
    out["p50_fail"] = fail.median().reindex(bins).to_numpy(dtype=float)
    out["n_timeout"] = frame[frame["outcome"] == "timeout"].groupby("k").size().reindex(bins, fill_value=0).to_numpy()
    out["t"] = out["k"].to_numpy(dtype=float) * dt
    return out[cols]

