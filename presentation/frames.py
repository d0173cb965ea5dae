"""Pure shaping of stored data into the frames the figures and tables draw (no Streamlit, no I/O).

Times are made relative to the injection ``t0`` (seconds), so runs of different topologies overlay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis import AnalysisError, availability_from_requests, availability_from_series, fragility_curves
from presentation.text import HEADLINE, fmt_interval, metric

__all__ = [
    "CURVE_COLUMNS",
    "availability_curve",
    "availability_curve_from_series",
    "latency_percentiles",
    "agents_by_region",
    "nodes_frame",
    "links_frame",
    "timeline_frame",
    "events_frame",
    "summary_table",
    "verdicts_table",
    "fault_windows",
    "fragility_points",
    "fragility_shapes",
    "hypothesis_table",
    "trend_rows",
]

CURVE_COLUMNS = ("t", "availability", "ok_per_s", "failed_per_s", "total")
SUMMARY_METRICS = tuple((key, metric(key).label) for key in HEADLINE if key != "sessions_lost")


def _aligned_start(first: float, t0: float, dt: float) -> float:
    """A bin start at or before ``first`` such that ``t0`` is a bin edge (as the analysis bins)."""
    return t0 - math.ceil(max(0.0, t0 - first) / dt) * dt


def _curve(frame: pd.DataFrame, t0: float, dt: float) -> pd.DataFrame:
    """Binned counts (from either source) as the plotted curve, ``t`` relative to ``t0``."""
    return pd.DataFrame({
        "t": frame["t"].to_numpy(dtype=float) - t0,
        "availability": frame["availability"].to_numpy(dtype=float),
        "ok_per_s": frame["ok"].to_numpy(dtype=float) / dt,
        "failed_per_s": (frame["failed"] + frame["timeout"]).to_numpy(dtype=float) / dt,
        "total": frame["total"].to_numpy(dtype=float),
    })


def availability_curve(requests: pd.DataFrame, t0: float, dt: float = 1.0) -> pd.DataFrame:
    """A(t), throughput and failures per bin from the request log, ``t`` relative to ``t0``."""
    if requests is None or requests.empty:
        return pd.DataFrame(columns=list(CURVE_COLUMNS), dtype="float64")
    start = _aligned_start(float(requests["end"].min()), t0, dt)
    frame = availability_from_requests(requests, dt=dt, start=start)
    return _curve(frame, t0, dt)


def availability_curve_from_series(series: pd.DataFrame, t0: float, dt: float = 1.0) -> pd.DataFrame:
    """The same curve from collected client counters (runs without a request log, or still running)."""
    if series is None or series.empty:
        return pd.DataFrame(columns=list(CURVE_COLUMNS), dtype="float64")
    try:
        start = _aligned_start(float(series["ts"].min()), t0, dt)
        frame = availability_from_series(series, dt=dt, start=start)
    except AnalysisError:
        return pd.DataFrame(columns=list(CURVE_COLUMNS), dtype="float64")
    return _curve(frame, t0, dt)


def latency_percentiles(requests: pd.DataFrame, t0: float, dt: float = 1.0) -> pd.DataFrame:
    """p50/p90/p99 client latency per bin of request end (all outcomes: a timeout is what the client waited)."""
    if requests is None or requests.empty:
        return pd.DataFrame(columns=["t", "p50", "p90", "p99"], dtype="float64")
    start = _aligned_start(float(requests["end"].min()), t0, dt)
    k = np.floor((requests["end"].to_numpy(dtype=float) - start) / dt).astype(np.int64)
    lat = pd.Series(requests["latency_s"].to_numpy(dtype=float), index=k)
    grouped = lat.groupby(level=0)
    out = pd.DataFrame({f"p{int(q * 100)}": grouped.quantile(q) for q in (0.5, 0.9, 0.99)})
    out.insert(0, "t", start + out.index.to_numpy(dtype=float) * dt - t0)
    return out.reset_index(drop=True)


def agents_by_region(series: pd.DataFrame, t0: float, dt: float = 1.0) -> pd.DataFrame:
    """Agents alive per region over time from ``aftershock_agents_alive`` (agent nodes only; hubs count twice).

    Returns long format ``t, region, agents``; per node the last value in each bin, summed per region.
    """
    cols = ["t", "region", "agents"]
    if series is None or series.empty or "region" not in series.columns:
        return pd.DataFrame(columns=cols)
    s = series[series["metric"].astype(str) == "aftershock_agents_alive"]
    if "role" in s.columns:
        s = s[s["role"].astype(str) != "hub"]
    s = s.dropna(subset=["region"])
    if s.empty:
        return pd.DataFrame(columns=cols)
    node = s["node"].astype(str) if "node" in s.columns else pd.Series("", index=s.index)
    frame = pd.DataFrame({
        "bin": np.floor((s["ts"].to_numpy(dtype=float) - t0) / dt).astype(np.int64),
        "region": s["region"].astype(str).to_numpy(), "node": node.to_numpy(), "value": s["value"].to_numpy(),
    })
    last = frame.groupby(["bin", "region", "node"], sort=True)["value"].last().reset_index()
    per_region = last.groupby(["bin", "region"], sort=True)["value"].sum().reset_index()
    return pd.DataFrame({"t": per_region["bin"].to_numpy(dtype=float) * dt, "region": per_region["region"],
                         "agents": per_region["value"].to_numpy(dtype=float)})


def nodes_frame(status: Mapping[str, Any] | None) -> pd.DataFrame:
    """One row per node of a lab status: name, region, role, health (alive/paused/dead), agents alive/total."""
    rows = []
    for node in (status or {}).get("nodes") or []:
        agents = node.get("agents") or []
        health = "dead" if not node.get("alive") else ("paused" if node.get("paused") else "alive")
        rows.append({"node": str(node.get("name", "")), "region": str(node.get("region", "")),
                     "role": str(node.get("role", "")), "health": health,
                     "agents_alive": sum(bool(a.get("alive")) for a in agents), "agents": len(agents)})
    return pd.DataFrame(rows, columns=["node", "region", "role", "health", "agents_alive", "agents"])


def links_frame(status: Mapping[str, Any] | None) -> pd.DataFrame:
    """Directed inter-region links: src, dst, latency_ms, loss, cut."""
    rows = [{"src": str(link.get("src", "")), "dst": str(link.get("dst", "")),
             "latency_ms": float(link.get("latency_ms") or 0.0), "loss": float(link.get("loss") or 0.0),
             "cut": bool(link.get("cut"))} for link in (status or {}).get("links") or []]
    return pd.DataFrame(rows, columns=["src", "dst", "latency_ms", "loss", "cut"])


def timeline_frame(activities: Iterable[Mapping[str, Any]], t0: float) -> pd.DataFrame:
    """Journal activities with start/end relative to t0 (an activity without an end gets its start)."""
    rows = []
    for a in activities or []:
        start = a.get("start")
        if start is None:
            continue
        end = a.get("end") if a.get("end") is not None else start
        rows.append({"name": str(a.get("name", "")), "type": str(a.get("type", "")),
                     "status": str(a.get("status", "")), "start": float(start) - t0, "end": float(end) - t0})
    return pd.DataFrame(rows, columns=["name", "type", "status", "start", "end"])


def events_frame(events: pd.DataFrame, t0: float) -> pd.DataFrame:
    """The event log with ``t`` relative to t0, for the table and the membership chart."""
    if events is None or events.empty:
        return pd.DataFrame(columns=["t", "kind", "node", "region", "agent", "by"])
    out = events.copy()
    out.insert(0, "t", out["ts"].astype(float) - t0)
    keep = [c for c in ("t", "kind", "node", "region", "agent", "by") if c in out.columns]
    return out[keep].reset_index(drop=True)


def summary_table(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """One row per topology: runs, then 'median [95% interval]' for the headline metrics."""
    rows = []
    for topo, body in sorted(((summary or {}).get("summary") or {}).items()):
        metrics = body.get("metrics") or {}
        row: dict[str, Any] = {"topology": topo, "runs": f"{body.get('runs_used', 0)}/{body.get('runs', 0)}"}
        for key, label in SUMMARY_METRICS:
            row[label] = fmt_interval(metrics.get(key), metric(key).digits)
        censored = (metrics.get("ttr_s") or {}).get("censored") or 0
        row["not recovered"] = int(censored)
        rows.append(row)
    return pd.DataFrame(rows, columns=["topology", "runs", *[label for _, label in SUMMARY_METRICS], "not recovered"])


def verdicts_table(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    rows = [{"metric": v.get("metric"), "topologies": " vs ".join(v.get("topologies") or []),
             "outcome": str(v.get("outcome", "")).replace("_", " "), "verdict": v.get("text") or ""}
            for v in (summary or {}).get("verdicts") or []]
    return pd.DataFrame(rows, columns=["metric", "topologies", "outcome", "verdict"])


def fault_windows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed run: fault window [0, TTR] relative to t0 (to the analysis window when not recovered)."""
    rows = []
    for r in (summary or {}).get("results") or []:
        m = r.get("metrics") or {}
        window = float((r.get("params") or {}).get("window_s") or 120.0)
        end = m.get("ttr_s") if m.get("recovered") else window
        rows.append({"run_id": r.get("run_id"), "topology": r.get("topology"), "start": 0.0,
                     "end": float(end or 0.0), "recovered": bool(m.get("recovered"))})
    return pd.DataFrame(rows, columns=["run_id", "topology", "start", "end", "recovered"])


def fragility_points(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """topology, intensity, harm (1 - R/100) per analysed run with an intensity (sweeps)."""
    rows = []
    for r in (summary or {}).get("results") or []:
        res = (r.get("metrics") or {}).get("resilience")
        if r.get("intensity") is None or res is None:
            continue
        rows.append({"topology": r.get("topology"), "intensity": float(r["intensity"]), "harm": 1 - res / 100})
    return pd.DataFrame(rows, columns=["topology", "intensity", "harm"])


def fragility_shapes(points: pd.DataFrame) -> pd.DataFrame | None:
    """Per topology the fragility classification of analysis.fragility_curves (None without points)."""
    if points is None or points.empty:
        return None
    return fragility_curves(points)


def hypothesis_table(journal: Mapping[str, Any] | None) -> pd.DataFrame:
    """Steady-state probes before/after the method, with whether their tolerance was met."""
    rows = []
    states = (journal or {}).get("steady_states") or {}
    for phase in ("before", "during", "after"):
        blocks = states.get(phase) or []
        for block in blocks if isinstance(blocks, list) else [blocks]:
            if not isinstance(block, Mapping):
                continue
            for probe in block.get("probes") or []:
                activity = probe.get("activity") or {}
                rows.append({"phase": phase, "probe": str(activity.get("name", "")),
                             "tolerance met": probe.get("tolerance_met"), "status": str(probe.get("status", "")),
                             "output": str(probe.get("output"))[:200]})
    return pd.DataFrame(rows, columns=["phase", "probe", "tolerance met", "status", "output"])


def trend_rows(comparison: Mapping[str, Any], summary: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Per topology of one comparison: median resilience and TTR, for the trend charts of History."""
    rows = []
    for topo, body in ((summary or {}).get("summary") or {}).items():
        metrics = body.get("metrics") or {}
        ttr = metrics.get("ttr_s") or {}
        rows.append({"comparison_id": comparison.get("comparison_id"), "experiment": comparison.get("experiment"),
                     "created_at": comparison.get("created_at"), "topology": topo,
                     "resilience": (metrics.get("resilience") or {}).get("median"),
                     "ttr_s": ttr.get("median"), "ttr_censored": bool(ttr.get("median_censored"))})
    return rows
