"""Impact onset and recovery located inside their bin, at the resolution of the request log itself.

Why: bins of 1 s keep A(t), depth and R steady (a bin holds ~40 requests in the lab), but a bin edge is up to
one bin width away from the moment the clients' experience changed. The request log says that moment to the
millisecond: the first failure of the onset bin, the last failure before the recovery bin. Each edge is taken
halfway between the two requests that bracket the change (the last success before the first failure; the last
failure and the first success after it), so on a log with requests every g seconds the edge is within g/2 of
the truth whatever the bin width and phase (tested with bins of 0.1 to 1 s at several phases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["refine_onset", "refine_recovery"]


def _times(requests: pd.DataFrame, time_col: str) -> tuple[np.ndarray, np.ndarray]:
    t = requests[time_col].to_numpy(dtype=float)
    bad = requests["outcome"].astype(str).to_numpy() != "ok"
    order = np.argsort(t, kind="mergesort")
    return t[order], bad[order]


def refine_onset(requests: pd.DataFrame, t0: float, bin_start: float, dt: float, time_col: str = "end") -> float:
    """The onset inside the bin [bin_start, bin_start + dt) the binned analysis found; never before t0."""
    t, bad = _times(requests, time_col)
    in_bin = (t >= bin_start) & (t < bin_start + dt) & bad
    if not in_bin.any():
        return bin_start
    first_bad = float(t[np.flatnonzero(in_bin)[0]])
    before = (~bad) & (t < first_bad) & (t >= t0)
    last_ok = float(t[np.flatnonzero(before)[-1]]) if before.any() else max(t0, bin_start)
    return max(t0, bin_start, 0.5 * (last_ok + first_bad))


def refine_recovery(requests: pd.DataFrame, t1_bin: float, lower: float, time_col: str = "end") -> float:
    """Recovery t1 inside its bin: halfway between the last failure before the recovery bin ``t1_bin`` (at or
    after ``lower``, the onset) and the first success after it; ``t1_bin`` itself when no failure is found."""
    t, bad = _times(requests, time_col)
    fails = bad & (t < t1_bin) & (t >= lower)
    if not fails.any():
        return t1_bin
    last_bad = float(t[np.flatnonzero(fails)[-1]])
    after = (~bad) & (t > last_bad)
    first_ok = float(t[np.flatnonzero(after)[0]]) if after.any() else t1_bin
    return max(lower, 0.5 * (last_bad + first_ok))
