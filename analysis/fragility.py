"""Fragility curves: how harm grows with fault intensity, and what shape that growth has.

The rule (docs/analysis.md), with points sorted by intensity and missing harms dropped:

1. fewer than 2 points: ``unknown``;
2. rise = last harm - first harm; rise < -tol: ``antifragile``; |rise| <= tol: ``robust``;
3. otherwise the curve rises. With 3+ points, ``gap`` = mean over interior points of
   (chord - harm), the chord being the straight line from the first to the last point;
   gap > tol (harm sags below its chord, i.e. accelerates, convex): ``fragile``;
   else (linear or saturating, and every 2-point rise, whose curvature cannot be seen): ``degrading``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError

__all__ = [
    "FRAGILE",
    "DEGRADING",
    "ROBUST",
    "ANTIFRAGILE",
    "UNKNOWN",
    "DEFAULT_TOL",
    "harm_from_resilience",
    "chord_gap",
    "classify_fragility",
    "fragility_curves",
]

FRAGILE, DEGRADING, ROBUST, ANTIFRAGILE, UNKNOWN = "fragile", "degrading", "robust", "antifragile", "unknown"
DEFAULT_TOL = 0.02


def harm_from_resilience(resilience: float | None) -> float | None:
    """harm = 1 - R/100 (R on the 0..100 scale); None stays None."""
    return None if resilience is None else 1.0 - float(resilience) / 100.0


def _clean(intensities: Sequence[float], harms: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    if len(intensities) != len(harms):
        raise AnalysisError(f"fragility: {len(intensities)} intensities but {len(harms)} harms")
    x = np.asarray(intensities, dtype=float)
    y = np.asarray([np.nan if h is None else h for h in harms], dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    order = np.argsort(x, kind="mergesort")
    return x[order], y[order]


def chord_gap(intensities: Sequence[float], harms: Sequence[float | None]) -> float | None:
    """Mean over interior points of (chord - harm); positive = convex (accelerating harm)."""
    x, y = _clean(intensities, harms)
    if x.size < 3 or x[-1] == x[0]:
        return None
    chord = y[0] + (y[-1] - y[0]) * (x[1:-1] - x[0]) / (x[-1] - x[0])
    return float(np.mean(chord - y[1:-1]))


def classify_fragility(
    intensities: Sequence[float], harms: Sequence[float | None], *, tol: float = DEFAULT_TOL
) -> str:
    """``fragile``, ``degrading``, ``robust``, ``antifragile`` or ``unknown``, by the rule above."""
    x, y = _clean(intensities, harms)
    if x.size < 2:
        return UNKNOWN
    rise = float(y[-1] - y[0])
    if rise < -tol:
        return ANTIFRAGILE
    if rise <= tol:
        return ROBUST
    gap = chord_gap(x, y)
    return FRAGILE if gap is not None and gap > tol else DEGRADING


def fragility_curves(df: pd.DataFrame, *, harm: str = "harm", tol: float = DEFAULT_TOL) -> pd.DataFrame:
    """One row per topology: points, first/last harm, rise, chord gap and shape.

    ``df`` has columns ``topology``, ``intensity`` and ``harm`` (or ``resilience``, turned into
    harm = 1 - R/100, when ``harm`` is absent). Repeats at one intensity are reduced to their median.
    """
    if harm not in df.columns and "resilience" in df.columns:
        df = df.assign(**{harm: 1.0 - df["resilience"].astype(float) / 100.0})
    missing = [c for c in ("topology", "intensity", harm) if c not in df.columns]
    if missing:
        raise AnalysisError(f"fragility frame lacks column(s) {missing}")
    rows = []
    for topo, g in df.groupby("topology", sort=True):
        med = g.groupby("intensity", sort=True)[harm].median()
        x, y = _clean(list(med.index), list(med.to_numpy(dtype=float)))
        rows.append(
            {
                "topology": topo,
                "points": int(x.size),
                "harm_first": float(y[0]) if x.size else None,
                "harm_last": float(y[-1]) if x.size else None,
                "rise": float(y[-1] - y[0]) if x.size >= 2 else None,
                "chord_gap": chord_gap(x, y),
                "shape": classify_fragility(x, y, tol=tol),
            }
        )
    cols = ["topology", "points", "harm_first", "harm_last", "rise", "chord_gap", "shape"]
    return pd.DataFrame(rows, columns=cols)
