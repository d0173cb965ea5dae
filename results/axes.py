"""The sweep axes beyond intensity, for the JSON summary: ``scale`` (``sweep --scale``: harm, R, TTD, TTR, blast
radius and sessions lost against fleet size, with SWIM's expected detection time beside the measured TTD) and
``headroom`` (``sweep --capacity``: the smallest provisioned capacity that kept the SLO through the fault).

Each run of such a sweep records its axis in its settings (``settings.axis``: name, value, the base topology it
was scaled from and its size; aftershock/runner.py); the blocks group the analysed runs by base topology and axis
value. The arithmetic is analysis/growth.py and analysis/headroom.py; this module only gathers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analysis import RunMetrics, json_safe
from analysis.compare import EXCLUDED_STATUSES, summarise_metric
from analysis.growth import size_trend
from analysis.headroom import capacity_point, smallest_capacity

__all__ = ["AXES", "SCALE_METRICS", "axis_of", "annotate_results", "scale_block", "headroom_block",
           "SCALE_WORKLOAD_NOTE", "HEADROOM_DEFINITION"]

AXES = ("intensity", "scale", "capacity")
#: per size, each summarised as median and bootstrap interval over the repeats (docs/results.md)
SCALE_METRICS = ("resilience", "ttd_s", "ttr_s", "blast_radius_regions", "sessions_lost")
SCALE_WORKLOAD_NOTE = ("the load scales with the size: tasks_per_s and sessions x size / original agents, so "
                       "utilisation stays the same")
HEADROOM_DEFINITION = ("kept the SLO = availability during the fault's active window (ok / all requests that ended "
                       "in it, from the request log; shed 429s count as unavailable) >= slo in every run at that "
                       "capacity; the smallest capacity is the smallest tested one from which every larger tested "
                       "one kept it too; the asked load stays the original topology's rate")


def axis_of(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's sweep axis record (``settings.axis``), or None for a run of a plain comparison."""
    axis = (run.get("settings") or {}).get("axis")
    return dict(axis) if isinstance(axis, Mapping) and axis.get("name") in AXES else None


def annotate_results(summary: dict[str, Any], axes: Mapping[str, dict[str, Any] | None]) -> None:
    """Add ``axis`` (name, value, base topology) to each ``results[]`` entry of a sweep over scale or capacity."""
    for r in summary.get("results") or []:
        axis = axes.get(str(r.get("run_id")))
        if axis is not None:
            r["axis"] = {k: axis.get(k) for k in ("name", "value", "base_topology")}


def _usable(runs: Sequence[RunMetrics], axes: Mapping[str, dict[str, Any] | None], name: str
            ) -> dict[str, list[tuple[dict[str, Any], RunMetrics]]]:
    """Fault runs (no control, not aborted or interrupted) with this axis, by base topology."""
    out: dict[str, list[tuple[dict[str, Any], RunMetrics]]] = {}
    for r in runs:
        axis = axes.get(r.run_id)
        if axis is None or axis.get("name") != name or r.control or r.status in EXCLUDED_STATUSES:
            continue
        out.setdefault(str(axis.get("base_topology") or r.topology), []).append((axis, r))
    return out


def _detection(r: RunMetrics) -> dict[str, Any] | None:
    det = (r.bounds or {}).get("detection") or None
    if not det:
        return None
    return {"kind": det.get("kind"), "expected_s": det.get("expected_s"), "best_s": det.get("best_s"),
            "worst_s": det.get("worst_s"), "n_members": (det.get("params") or {}).get("n_members")}


def scale_block(runs: Sequence[RunMetrics], axes: Mapping[str, dict[str, Any] | None], *, seed: int = 0,
                min_repeats: int = 2, grow_regions: bool = False) -> dict[str, Any]:
    """``scale``: per base topology and size the figures (medians with intervals) and the size trend."""
    points: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    for base, pairs in sorted(_usable(runs, axes, "scale").items()):
        by_size: dict[float, list[tuple[dict[str, Any], RunMetrics]]] = {}
        for axis, r in pairs:
            by_size.setdefault(float(axis["value"]), []).append((axis, r))
        sizes, harms = [], []
        for size in sorted(by_size):
            group = by_size[size]
            axis0, first = group[0]
            metrics = [r for _, r in group]
            row: dict[str, Any] = {
                "topology": base, "size": size, "scaled_topology": first.topology, "runs": len(group),
                "agents": axis0.get("agents"), "nodes": axis0.get("nodes"), "regions": axis0.get("regions"),
                "tasks_per_s": axis0.get("tasks_per_s"), "run_ids": [r.run_id for r in metrics],
                "detection": _detection(first),
            }
            for key in SCALE_METRICS:
                row[key] = summarise_metric(metrics, first.topology, key, min_repeats=min_repeats,
                                            seed=seed).to_json_dict()
            points.append(row)
            for r in metrics:
                res = r.metrics.get("resilience")
                sizes.append(size)
                harms.append(None if res is None else 1.0 - float(res) / 100.0)
        trend = size_trend(base, sizes, harms, min_repeats=min_repeats, seed=seed)
        curves.append(trend.to_dict())
    return json_safe({"axis": "scale", "grow_regions": grow_regions, "workload": SCALE_WORKLOAD_NOTE,
                      "metrics": list(SCALE_METRICS), "points": points, "curves": curves})


def headroom_block(runs: Sequence[RunMetrics], axes: Mapping[str, dict[str, Any] | None], *,
                   slo: float | None = None) -> dict[str, Any]:
    """``headroom``: per base topology the capacity points and the smallest capacity that kept the SLO."""
    if slo is None:
        slo = next((float(r.params["slo"]) for r in runs if (r.params or {}).get("slo") is not None), 0.999)
    topologies: list[dict[str, Any]] = []
    for base, pairs in sorted(_usable(runs, axes, "capacity").items()):
        by_factor: dict[float, list[tuple[dict[str, Any], RunMetrics]]] = {}
        for axis, r in pairs:
            by_factor.setdefault(float(axis["value"]), []).append((axis, r))
        pts = []
        original = int(pairs[0][0].get("base_agents") or 0)
        for factor in sorted(by_factor):
            group = by_factor[factor]
            during = [((r.recovery or {}).get("availability_during_fault") or {}) for _, r in group]
            pts.append(capacity_point(factor, int(group[0][0].get("agents") or 0),
                                      [r.metrics.get("availability_during_fault") for _, r in group], slo,
                                      [d.get("n") for d in during]))
        head = smallest_capacity(base, pts, slo=slo, original_agents=original).to_dict()
        resilience = {f: summarise_metric([r for _, r in by_factor[f]], base, "resilience", min_repeats=2)
                      .to_json_dict() for f in sorted(by_factor)}
        for p in head["points"]:
            p["resilience"] = resilience.get(p["factor"])
            p["scaled_topology"] = by_factor[p["factor"]][0][1].topology
            p["run_ids"] = [r.run_id for _, r in by_factor[p["factor"]]]
        head["asked_tasks_per_s"] = pairs[0][0].get("tasks_per_s")
        topologies.append(head)
    return json_safe({"axis": "capacity", "slo": slo, "definition": HEADROOM_DEFINITION, "topologies": topologies})
