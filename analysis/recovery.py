"""Baseline, impact onset, time to recover, depth and resilience from one availability series.

Missing bins (no requests): ignored for the baseline and for impact onset; for the sustain
check, the depth and the resilience-loss integral they carry the last observed availability
forward (before any observation after t0: the last one before t0). A missing bin is therefore
never counted as 100 % nor as 0 %; it only extends what was last seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = ["Recovery", "analyse_availability"]

_TOL = 1e-9


@dataclass(frozen=True)
class Recovery:
    """What the availability curve alone says about one run (times relative to t0, seconds)."""

    baseline: float
    availability_min: float | None
    onset_s: float | None
    ttr_s: float | None
    recovered: bool
    t1: float | None
    impact_end: float
    depth: float
    resilience_loss: float
    resilience: float | None
    data_end_s: float | None


def analyse_availability(
    avail: pd.DataFrame,
    t0: float,
    *,
    dt: float = 1.0,
    eps: float = 0.01,
    sustain_s: float = 10.0,
    window_s: float = 120.0,
    baseline_s: float | None = None,
    r_window_s: float | None = None,
) -> Recovery:
    """Apply the definitions of docs/analysis.md to a frame with columns ``t`` and ``availability``.

    The bins must be ``dt`` wide; bins after t0 are mapped onto the grid t0 + k*dt (absent rows are
    missing bins). The recovery search starts at the impact onset, so t1 > onset always. Recovery is
    searched over ``window_s`` (the run's own observation); R is computed over ``r_window_s`` (the fixed
    window T shared by a comparison; default ``window_s``) from the loss inside it.
    """
    if "t" not in avail.columns or "availability" not in avail.columns:
        raise AnalysisError("availability frame needs columns t and availability")
    t = avail["t"].to_numpy(dtype=float)
    a = avail["availability"].to_numpy(dtype=float)
    pre = (t + dt <= t0 + _TOL) & (np.isfinite(a))
    if baseline_s is not None:
        pre &= t >= t0 - baseline_s - _TOL
    if not pre.any():
        raise AnalysisError(
            f"no requests in the steady window before injection at {t0}: cannot measure a baseline;"
            " start the load earlier or shorten baseline_s"
        )
    a0 = float(np.mean(a[pre]))
    last_pre = float(a[pre][np.argmax(t[pre])])
    thr = a0 - eps

    n = max(1, math.ceil(window_s / dt - _TOL))
    grid = np.full(n, np.nan)
    k = np.round((t - t0) / dt).astype(np.int64)
    post = (t >= t0 - _TOL) & (k >= 0) & (k < n)
    grid[k[post]] = a[post]
    observed = np.isfinite(grid)
    filled = pd.Series(grid).ffill().fillna(last_pre).to_numpy()
    widths = np.minimum(dt, window_s - dt * np.arange(n))

    data_end = float(dt * (np.flatnonzero(observed)[-1] + 1)) if observed.any() else None
    a_min = float(np.min(grid[observed])) if observed.any() else None

    below = observed & (grid < thr - _TOL)
    onset_idx = int(np.flatnonzero(below)[0]) if below.any() else None
    if onset_idx is None:
        # no impact, or no data at all after t0 (a run cut short): nothing is known, so nothing recovered
        t1_idx: int | None = 0 if observed.any() else None
    else:
        t1_idx = _first_sustained(filled, observed, thr, onset_idx, dt, sustain_s, data_end)

    stop = t1_idx if t1_idx is not None else n
    loss = np.maximum(0.0, a0 - filled[:stop])
    rl = float(np.sum(loss * widths[:stop]))
    depth = float(np.max(loss)) if stop > 0 else 0.0
    r_window = window_s if r_window_s is None else min(r_window_s, window_s)
    n_r = max(1, math.ceil(r_window / dt - _TOL))
    stop_r = min(stop, n_r)
    rl_r = float(np.sum(loss[:stop_r] * np.minimum(dt, r_window - dt * np.arange(stop_r))))
    resilience = None
    if a0 > 0 and observed.any():
        resilience = float(min(100.0, max(0.0, 100.0 * (1.0 - rl_r / (a0 * r_window)))))
    return Recovery(
        baseline=a0,
        availability_min=a_min,
        onset_s=None if onset_idx is None else onset_idx * dt,
        ttr_s=None if t1_idx is None else t1_idx * dt,
        recovered=t1_idx is not None,
        t1=None if t1_idx is None else t0 + t1_idx * dt,
        impact_end=t0 + (t1_idx * dt if t1_idx is not None else window_s),
        depth=depth,
        resilience_loss=rl,
        resilience=resilience,
        data_end_s=data_end,
    )


def _first_sustained(
    filled: np.ndarray,
    observed: np.ndarray,
    thr: float,
    start: int,
    dt: float,
    sustain_s: float,
    data_end: float | None,
) -> int | None:
    """First bin index >= start, observed and good, from which A stays >= thr for sustain_s."""
    if data_end is None:
        return None
    need = max(1, math.ceil(sustain_s / dt - _TOL))
    good = filled >= thr - _TOL
    for i in range(start, filled.size):
        if (i + need) * dt > data_end + _TOL:
            return None
        if observed[i] and good[i] and good[i : i + need].all():
            return i
    return None
