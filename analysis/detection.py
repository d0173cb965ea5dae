"""Time to detect, from the deployment's own ``member_dead`` events in the lab's event log."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from analysis.churn import churn_detections
from analysis.errors import AnalysisError

__all__ = ["VICTIM_NODE_KINDS", "VICTIM_REGION_KINDS", "victims_from_events", "time_to_detect"]

# events that make ``node`` (or every node of ``region``) a victim of the fault
VICTIM_NODE_KINDS = ("node_killed", "node_paused")
VICTIM_REGION_KINDS = ("region_killed",)


def _check(events: pd.DataFrame) -> None:
    missing = [c for c in ("ts", "kind") if c not in events.columns]
    if missing:
        raise AnalysisError(f"event log lacks column(s) {missing} (see docs/contracts.md)")


def _column(events: pd.DataFrame, name: str) -> pd.Series:
    return events[name] if name in events.columns else pd.Series([None] * len(events), index=events.index)


def victims_from_events(
    events: pd.DataFrame, t0: float, until: float | None = None
) -> tuple[frozenset[str], frozenset[str]]:
    """(victim nodes, victim regions) of faults recorded at or after t0 (and before ``until``)."""
    _check(events)
    ts = events["ts"].astype(float)
    when = ts >= t0 if until is None else (ts >= t0) & (ts < until)
    nodes = _column(events, "node")
    regions = _column(events, "region")
    kind = events["kind"].astype(str)
    victim_nodes = {str(n) for n in nodes[when & kind.isin(VICTIM_NODE_KINDS)].dropna()}
    victim_regions = {str(r) for r in regions[when & kind.isin(VICTIM_REGION_KINDS)].dropna()}
    return frozenset(victim_nodes), frozenset(victim_regions)


def time_to_detect(
    events: pd.DataFrame,
    t0: float,
    *,
    victims: Iterable[str] | None = None,
    victim_regions: Iterable[str] | None = None,
    window_s: float | None = None,
) -> float | None:
    """Seconds from t0 to the first ``member_dead`` of a victim; None when none was declared.

    Victims default to what the event log says was killed or paused after t0. A ``member_dead``
    counts when its ``node`` is a victim node or its ``region`` a victim region, and not when it detects a
    device that left by churn (analysis/churn.py): the environment, not the fault.
    """
    _check(events)
    until = None if window_s is None else t0 + window_s
    if victims is None and victim_regions is None:
        found_nodes, found_regions = victims_from_events(events, t0, until)
    else:
        found_nodes = frozenset(victims or ())
        found_regions = frozenset(victim_regions or ())
    ts = events["ts"].astype(float)
    hit = (events["kind"].astype(str) == "member_dead") & (ts >= t0)
    if until is not None:
        hit &= ts < until
    is_victim = _column(events, "node").astype(str).isin(found_nodes)
    is_victim |= _column(events, "region").astype(str).isin(found_regions)
    detections = ts[hit & is_victim & ~churn_detections(events)]
    return None if detections.empty else round(float(detections.min() - t0), 6)
