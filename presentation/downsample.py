"""Server-side downsampling, so a long run sends a few thousand points per trace, not millions.

MinMaxLTTB (tsdownsample) keeps every local extreme that matters visually (a one-second outage in a
day-long run survives) at the cost of an LTTB pass over a min/max preselection.
"""

from __future__ import annotations

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

__all__ = ["DEFAULT_MAX_POINTS", "THRESHOLD", "downsample_indices", "downsample_xy"]

#: Points per trace kept after downsampling.
DEFAULT_MAX_POINTS = 2000
#: Traces up to this many points are sent as they are.
THRESHOLD = 4000


def downsample_indices(x: np.ndarray, y: np.ndarray, n_out: int = DEFAULT_MAX_POINTS) -> np.ndarray:
    """Indices of the points to keep (all of them when ``len(y) <= max(n_out, 2)``)."""
    n = len(y)
    if n <= max(n_out, 2):
        return np.arange(n)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    n_out = max(4, n_out - n_out % 2)  # MinMaxLTTB wants an even count
    finite = np.isfinite(ys)
    if finite.all():
        return np.unique(np.asarray(MinMaxLTTBDownsampler().downsample(xs, ys, n_out=n_out), dtype=np.int64))
    # missing bins (NaN) carry no value to keep: downsample the observed points, map back to positions
    keep = np.flatnonzero(finite)
    if keep.size <= n_out:
        return keep
    idx = MinMaxLTTBDownsampler().downsample(np.ascontiguousarray(xs[keep]), np.ascontiguousarray(ys[keep]),
                                              n_out=n_out)
    return np.unique(keep[np.asarray(idx, dtype=np.int64)])


def downsample_xy(
    x: np.ndarray, y: np.ndarray, max_points: int | None = DEFAULT_MAX_POINTS, threshold: int = THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) reduced to about ``max_points`` when longer than ``threshold``; ``max_points=None`` keeps all.

    ``x`` must be sorted ascending (times are).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if max_points is None or len(y) <= max(threshold, max_points):
        return x, y
    idx = downsample_indices(x, y, max_points)
    return x[idx], y[idx]
