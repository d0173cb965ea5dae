"""Harm against fleet size: does a deployment get stronger as it scales (``aftershock sweep --scale``)?

The same fault on the same topology scaled to several sizes, with the load scaled too (same utilisation), gives
harm = 1 - R/100 per size. The shape of that curve is classified by the fragility rule (analysis/fragility.py,
size in place of intensity) and read as a trend:

- ``falls``: harm falls with size (fragility's ``antifragile``): *stronger as it scales*;
- ``flat``: within the tolerance (``robust``): size changes nothing;
- ``grows``: harm rises with size (``degrading`` or ``fragile``): *weaker as it scales*;
- ``unknown``: fewer than two sizes with a resilience figure.

Intervals: per size the median harm over repeats with its bootstrap 95 % interval (analysis/compare.py). A trend
that rises or falls is ``confirmed`` when the intervals at the smallest and the largest size do not overlap, not
confirmed when they do (then the answer is "no clear change"), and unknown (None) with fewer repeats than an
interval needs: the answer then stands on medians alone and says "repeat to confirm".
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from analysis.compare import bootstrap_median_ci, intervals_overlap
from analysis.errors import AnalysisError
from analysis.fragility import ANTIFRAGILE, DEFAULT_TOL, ROBUST, UNKNOWN, chord_gap, classify_fragility

__all__ = ["GROWS", "FLAT", "FALLS", "STRONGER", "WEAKER", "NO_CHANGE", "UNCLEAR", "SizePoint", "SizeTrend",
           "harm_by_size", "size_trend"]

GROWS, FLAT, FALLS = "grows", "flat", "falls"
STRONGER, WEAKER, NO_CHANGE, UNCLEAR = "stronger", "weaker", "no change", "unclear"
_TREND = {ANTIFRAGILE: FALLS, ROBUST: FLAT, UNKNOWN: UNKNOWN}


@dataclass(frozen=True)
class SizePoint:
    """Median harm of the runs at one size, with its bootstrap interval (None with too few runs)."""

    size: float
    runs: int
    median: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class SizeTrend:
    """How harm moves with size for one topology, and the answer to "stronger as it scales?"."""

    topology: str
    points: tuple[SizePoint, ...]
    shape: str  # fragility's class of the medians (size as the intensity)
    trend: str  # grows, flat, falls, unknown
    rise: float | None  # harm at the largest size - at the smallest
    chord_gap: float | None
    confirmed: bool | None  # intervals at the ends apart (True), overlapping (False), not available (None)
    answer: str  # stronger, weaker, no change, unclear
    text: str

    def to_dict(self) -> dict:
        """Plain dict for the JSON summary (``points`` as a list of dicts)."""
        return asdict(self) | {"points": [asdict(p) for p in self.points]}


def harm_by_size(sizes: Sequence[float], harms: Sequence[float | None], *, min_repeats: int = 2,
                 seed: int = 0, topology: str = "", n_resamples: int = 2000) -> list[SizePoint]:
    """One point per size (ascending): the median harm and, with ``min_repeats`` runs or more, its interval.
    Missing harms (partial runs have no resilience) are dropped; a size left without any is left out."""
    if len(sizes) != len(harms):
        raise AnalysisError(f"growth: {len(sizes)} sizes but {len(harms)} harms")
    by: dict[float, list[float]] = {}
    for size, harm in zip(sizes, harms, strict=True):
        if harm is None or not np.isfinite(harm) or not np.isfinite(size):
            continue
        by.setdefault(float(size), []).append(float(harm))
    out = []
    for size in sorted(by):
        values = by[size]
        if len(values) >= min_repeats:
            sub = zlib.crc32(f"{topology}\0size\0{size:g}".encode())
            median, low, high = bootstrap_median_ci(values, seed=[seed, sub], n_resamples=n_resamples)
            out.append(SizePoint(size, len(values), median, low, high))
        else:
            out.append(SizePoint(size, len(values), float(np.median(values)), None, None))
    return out


def _pct(h: float) -> str:
    return f"{100 * h:.1f} %"


def size_trend(topology: str, sizes: Sequence[float], harms: Sequence[float | None], *, tol: float = DEFAULT_TOL,
               min_repeats: int = 2, seed: int = 0, unit: str = "agents") -> SizeTrend:
    """Classify harm against size for ``topology`` (module docstring): trend, confirmation and a sentence."""
    points = tuple(harm_by_size(sizes, harms, min_repeats=min_repeats, seed=seed, topology=topology))
    xs, ys = [p.size for p in points], [p.median for p in points]
    shape = classify_fragility(xs, ys, tol=tol)
    trend = _TREND.get(shape, GROWS)
    if trend == UNKNOWN:
        return SizeTrend(topology, points, shape, trend, None, None, None, UNCLEAR,
                         f"{topology}: fewer than two sizes with a resilience figure: no trend to read")
    first, last = points[0], points[-1]
    rise = last.median - first.median
    span = f"harm {_pct(first.median)} at {first.size:g} {unit} -> {_pct(last.median)} at {last.size:g} {unit}"
    if trend == FLAT:
        return SizeTrend(topology, points, shape, trend, rise, chord_gap(xs, ys), None, NO_CHANGE,
                         f"{topology}: neither stronger nor weaker as it scales ({span}, within {_pct(tol)})")
    have_ci = None not in (first.low, first.high, last.low, last.high)
    confirmed = (not intervals_overlap((first.low, first.high), (last.low, last.high))  # type: ignore[arg-type]
                 if have_ci else None)
    verb = "falls" if trend == FALLS else "grows"
    if confirmed is False:
        answer = NO_CHANGE
        text = (f"{topology}: harm {verb} with size ({span}) but the 95 % intervals at the two ends overlap: "
                "no clear change")
    else:
        answer = STRONGER if trend == FALLS else WEAKER
        what = "stronger" if trend == FALLS else "weaker"
        why = ("the 95 % intervals at the two ends do not overlap" if confirmed else
               f"fewer than {min_repeats} runs per size: repeat (--repeat {min_repeats} or more) to confirm")
        text = f"{topology}: {what} as it scales: {span}; {why}"
    return SizeTrend(topology, points, shape, trend, rise, chord_gap(xs, ys), confirmed, answer, text)
