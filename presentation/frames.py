"""Pure shaping of stored data into the frames the figures and tables draw (no Streamlit, no I/O).

Times are made relative to the injection ``t0`` (seconds), so runs of different topologies overlay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis import (
    AnalysisError,
    availability_from_requests,
    availability_from_series,
    fragility_curves,
    ok_latency_curve,
)
from analysis import fault_windows as analysis_fault_windows
from presentation.text import HEADLINE, MECHANISM_WORDS, fmt_interval, fmt_seconds, metric, recovery_words

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
    "recovery_rows",
    "ledger_rows",
    "overload_rows",
    "cost_rows",
    "capacity_curves",
    "CAPACITY_COLUMNS",
    "fault_windows",
    "FAULT_WINDOW_COLUMNS",
    "timeline_fault_windows",
    "markers_frame",
    "bounds_rows",
    "filter_events",
    "fragility_points",
    "fragility_shapes",
    "hypothesis_table",
    "trend_rows",
]

CURVE_COLUMNS = ("t", "availability", "ok_per_s", "failed_per_s", "total")
FAULT_WINDOW_COLUMNS = ["run_id", "topology", "start", "end", "recovered", "recovery", "what"]
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
        "failed_per_s": (frame["failed"] + frame["timeout"] + frame["rejected"]).to_numpy(dtype=float) / dt,
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
    """p50/p90/p99 latency of *successful* requests per bin of request end (NaN in a bin without successes),
    with ``n_ok``, ``n_failed``, ``p50_fail`` (time to fail) and ``n_timeout`` beside: a refused connection
    fails in milliseconds, so mixing failures in would draw a dip ("faster") during an outage."""
    cols = ["t", "p50", "p90", "p99", "n_ok", "n_failed", "p50_fail", "n_timeout"]
    if requests is None or requests.empty:
        return pd.DataFrame(columns=cols, dtype="float64")
    return ok_latency_curve(requests, t0, dt)[cols]


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
    """One row per node of a lab status: name, region, role, node class (``default`` without one: docs/topologies.md),
    health (alive/paused/dead, or away: a device left on its churn schedule, or rejoining), agents alive/total."""
    rows = []
    for node in (status or {}).get("nodes") or []:
        agents = node.get("agents") or []
        health = "dead" if not node.get("alive") else ("paused" if node.get("paused") else "alive")
        if node.get("status") in ("away", "joining"):  # churn: the environment, not a failure (fleet/nodeclasses.py)
            health = "away"
        rows.append({"node": str(node.get("name", "")), "region": str(node.get("region", "")),
                     "role": str(node.get("role", "")), "class": str(node.get("class") or "default"),
                     "health": health, "status": str(node.get("status") or ""),
                     "agents_alive": sum(bool(a.get("alive")) for a in agents), "agents": len(agents)})
    return pd.DataFrame(rows, columns=["node", "region", "role", "class", "health", "status", "agents_alive", "agents"])


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
    """One row per topology: runs, how its runs recovered (in words), then 'median [95% interval]' for the
    headline metrics, and how many runs did not heal by themselves (never back, or back only after the lift)."""
    rows = []
    for topo, body in sorted(((summary or {}).get("summary") or {}).items()):
        metrics = body.get("metrics") or {}
        row: dict[str, Any] = {"topology": topo, "runs": f"{body.get('runs_used', 0)}/{body.get('runs', 0)}",
                               "recovery": _recovery_cell(body.get("recovery") or {})}
        for key, label in SUMMARY_METRICS:
            row[label] = fmt_interval(metrics.get(key), metric(key).digits)
        censored = (metrics.get("ttr_s") or {}).get("censored") or 0
        row["not self-healed"] = int(censored)
        rows.append(row)
    return pd.DataFrame(rows, columns=["topology", "runs", "recovery", *[label for _, label in SUMMARY_METRICS],
                                       "not self-healed"])


def _recovery_cell(rec: Mapping[str, Any]) -> str:
    """'self-healed (3/3)' or 'recovered after the lift (2/3), not recovered (1/3)'."""
    counts = {k: v for k, v in (rec.get("counts") or {}).items() if v}
    total = sum(counts.values())
    if not total:
        return "-"
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{recovery_words(k)} ({v}/{total})" for k, v in ordered)


def verdicts_table(summary: Mapping[str, Any] | None, *, deciding_only: bool = False) -> pd.DataFrame:
    """Verdicts with ``decides`` (a clear difference); ``deciding_only`` keeps only those (the others folded)."""
    rows = [{"metric": v.get("metric"), "topologies": " vs ".join(v.get("topologies") or []),
             "outcome": str(v.get("outcome", "")).replace("_", " "), "verdict": v.get("text") or "",
             "decides": v.get("outcome") == "clear"}
            for v in (summary or {}).get("verdicts") or []]
    frame = pd.DataFrame(rows, columns=["metric", "topologies", "outcome", "verdict", "decides"])
    return frame[frame["decides"]].reset_index(drop=True) if deciding_only else frame


def recovery_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed run: how it recovered, in words, with the mechanism, its bound and whether it was beaten."""
    rows = []
    for r in (summary or {}).get("results") or []:
        rec, mech = r.get("recovery") or {}, ((r.get("bounds") or {}).get("mechanism") or {})
        bound = mech.get("bound_s")
        rows.append({"run": r.get("run_id"), "topology": r.get("topology"),
                     "control": bool(r.get("control")), "recovery": recovery_words(rec.get("kind")),
                     "in words": rec.get("text") or "", "mechanism": MECHANISM_WORDS.get(mech.get("kind"), "-"),
                     "bound s": "-" if bound is None else f"{bound:.2f}",
                     "bound": "violated" if mech.get("violated") else "ok" if mech.get("violated") is False else "-",
                     "partial": "partial" if (r.get("partial") or {}).get("partial") else ""})
    cols = ["run", "topology", "control", "recovery", "in words", "mechanism", "bound s", "bound", "partial"]
    return pd.DataFrame(rows, columns=cols)


def ledger_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed run: the task ledger's classes and its checkable properties (request log runs only)."""
    rows = []
    for r in (summary or {}).get("results") or []:
        led = r.get("ledger")
        if not led:
            continue
        props = led.get("properties") or {}
        row = {"run": r.get("run_id"), "topology": r.get("topology"), "tasks": led.get("tasks"),
               **{k: v for k, v in (led.get("classes") or {}).items()},
               "lost writes": led.get("lost_writes"),
               "no acknowledged write lost": _yes_no(props.get("no_acknowledged_write_lost"))}
        rows.append(row)
    return pd.DataFrame(rows)


def overload_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed run that shed, queued or scaled: how many, the longest wait, the agents (start -> peak -> end,
    with an autoscaling policy), the first scale-up and the time to absorb, and what it did in words (empty when no
    run was overloaded or elastic, so the section shows only where there is something to read)."""
    rows = []
    for r in (summary or {}).get("results") or []:
        o = r.get("overload")
        e = r.get("elasticity") or {}
        if not o or not (o.get("rejected") or o.get("queued") or e.get("policy")):
            continue
        agents = f"{e['agents_start']} -> {e['agents_peak']} -> {e['agents_end']}" if e.get("policy") else None
        rows.append({"run": r.get("run_id"), "topology": r.get("topology"), "shed": o.get("rejected"),
                     "shed %": None if o.get("rejected_share") is None else round(100.0 * o["rejected_share"], 1),
                     "queued": o.get("queued"),
                     "longest wait s": None if o.get("queue_wait_max_s") is None else round(o["queue_wait_max_s"], 3),
                     "agents": agents,
                     "first scale-up s": _round(e.get("first_scale_up_s"), 1),
                     "absorbed s": _round(e.get("absorbed_s"), 1),
                     "in words": o.get("text")})
    return pd.DataFrame(rows, columns=["run", "topology", "shed", "shed %", "queued", "longest wait s", "agents",
                                       "first scale-up s", "absorbed s", "in words"])


#: The capacity chart's columns and their legend text
CAPACITY_COLUMNS = {"provisioned_agents": "provisioned", "busy_agents": "busy"}


def capacity_curves(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per run and second from the injection: agents provisioned and agents' worth of work done (the cost list's
    ``over_time``), long form for the chart (columns run_id, topology, t, provisioned_agents, busy_agents)."""
    parts = []
    for entry in (summary or {}).get("cost") or []:
        series = entry.get("over_time")
        if not series or not series.get("t"):
            continue
        frame = pd.DataFrame({k: series[k] for k in ("t", *CAPACITY_COLUMNS)})
        frame.insert(0, "topology", entry.get("topology"))
        frame.insert(0, "run_id", entry.get("run_id"))
        parts.append(frame)
    columns = ["run_id", "topology", "t", *CAPACITY_COLUMNS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def _round(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def cost_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per run with cost figures (the summary's ``cost`` list): what was provisioned against what was used, and
    agent-hours per 1,000 successful tasks at the summary's unit price; a run without them says why."""
    rows = []
    for entry in (summary or {}).get("cost") or []:
        c = entry.get("cost")
        if not c:
            rows.append({"run": entry.get("run_id"), "topology": entry.get("topology"),
                         "note": entry.get("note") or "no cost figures"})
            continue
        util = c.get("utilisation")
        per_k = c.get("cost_per_1000_ok")
        rows.append({"run": entry.get("run_id"), "topology": entry.get("topology"),
                     "window s": round(float(c.get("window_s") or 0.0), 1),
                     "provisioned agent-s": round(float(c.get("provisioned_agent_s") or 0.0), 1),
                     "busy agent-s": round(float(c.get("busy_agent_s") or 0.0), 1),
                     "utilisation %": None if util is None else round(100.0 * util, 1),
                     "ok tasks": c.get("ok_tasks"),
                     "agent-h per 1,000 ok": None if per_k is None else round(float(per_k), 4),
                     "note": "; ".join(c.get("notes") or [])})
    frame = pd.DataFrame(rows, columns=["run", "topology", "window s", "provisioned agent-s", "busy agent-s",
                                        "utilisation %", "ok tasks", "agent-h per 1,000 ok", "note"])
    if frame.empty or not frame["note"].fillna("").astype(bool).any():
        frame = frame.drop(columns=["note"])
    return frame


def _yes_no(value: Any) -> str:
    return "-" if value is None else "yes" if value else "NO"


def fault_windows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed run, the fault's active window(s) relative to t0, from the journal (injection to lift);
    a run without a recorded window shades [0, back] (to the analysis window when it never came back).
    Control runs have no fault to shade."""
    rows = []
    for r in (summary or {}).get("results") or []:
        if r.get("control"):
            continue
        m = r.get("metrics") or {}
        t0 = float(r.get("injected_at") or 0.0)
        window = float((r.get("params") or {}).get("window_s") or 120.0)
        spans = [(float(w["start"]) - t0, (float(w["end"]) - t0) if w.get("end") is not None else window,
                  str(w.get("what") or ""))
                 for w in r.get("fault_windows") or []]
        if not spans:
            back = m.get("returned_s") if m.get("returned_s") is not None else m.get("ttr_s")
            spans = [(0.0, float(back) if back is not None else window, "")]
        for start, end, what in spans:
            rows.append({"run_id": r.get("run_id"), "topology": r.get("topology"), "start": start, "end": end,
                         "recovered": bool(m.get("recovered")), "recovery": m.get("recovery"), "what": what})
    return pd.DataFrame(rows, columns=FAULT_WINDOW_COLUMNS)


def timeline_fault_windows(activities: Iterable[Mapping[str, Any]], t0: float, now: float,
                           topology: str = "", run_id: str = "", *, injected: bool = False) -> pd.DataFrame:
    """The fault windows of a run still going, from its recorded timeline (``analysis.fault_windows``); a
    fault not lifted yet is shaded up to ``now``. The recording control writes an action to the timeline only
    once it has ended (its pauses included), so a run that has ``injected`` with nothing recorded yet is shaded
    from the injection to its first rollback, or to ``now``. Times relative to ``t0``."""
    acts = list(activities or [])
    rows = []
    for w in analysis_fault_windows(acts):
        end = w.end if w.end is not None else now
        rows.append({"run_id": run_id, "topology": topology, "start": float(w.start) - t0, "end": float(end) - t0,
                     "recovered": False, "recovery": None, "what": str(getattr(w, "what", "") or "")})
    if not rows and injected:
        lifts = [float(a["start"]) for a in acts if a.get("type") == "rollback" and a.get("start") is not None]
        end = min(lifts) if lifts else now
        rows.append({"run_id": run_id, "topology": topology, "start": 0.0, "end": max(0.0, end - t0),
                     "recovered": False, "recovery": None, "what": "injected, not lifted yet" if not lifts else ""})
    return pd.DataFrame(rows, columns=FAULT_WINDOW_COLUMNS)


def markers_frame(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed fault run, when the deployment detected the fault (TTD) and when availability was back at
    its baseline, relative to the injection: the markers drawn on each topology's curve."""
    rows = []
    for r in (summary or {}).get("results") or []:
        if r.get("control"):
            continue
        m = r.get("metrics") or {}
        keys = {"run_id": r.get("run_id"), "topology": r.get("topology")}
        if m.get("ttd_s") is not None:
            rows.append({**keys, "kind": "detected", "t": float(m["ttd_s"])})
        back = m.get("returned_s") if m.get("returned_s") is not None else m.get("ttr_s")
        if back is not None and back > 0 and m.get("recovery") not in ("no_impact", "no_data"):
            rows.append({**keys, "kind": "recovered", "t": float(back)})
    return pd.DataFrame(rows, columns=["run_id", "topology", "kind", "t"])


def bounds_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per analysed fault run, each measurement beside the physical bound it cannot beat: detection against
    the protocol's bound (SWIM or health checks), recovery against the bound of the mechanism it came from."""
    rows = []
    for r in (summary or {}).get("results") or []:
        if r.get("control"):
            continue
        m, b = r.get("metrics") or {}, r.get("bounds") or {}
        det, mech = b.get("detection") or {}, b.get("mechanism") or {}
        rows.append({
            "run": r.get("run_id"), "topology": r.get("topology"),
            "TTD measured": fmt_seconds(m.get("ttd_s")),
            "detection bound (best / expected / worst)": "-" if not det else " / ".join(
                fmt_seconds(det.get(k)) for k in ("best_s", "expected_s", "worst_s")) + f" ({det.get('kind')})",
            "recovered by": MECHANISM_WORDS.get(mech.get("kind"), "-"),
            "recovery measured": fmt_seconds(mech.get("measured_s")),
            "its bound": fmt_seconds(mech.get("bound_s")),
            "within bound": "-" if mech.get("violated") is None else "NO: beats physics, check" if
            mech.get("violated") else "yes",
        })
    return pd.DataFrame(rows, columns=["run", "topology", "TTD measured", "detection bound (best / expected / worst)",
                                       "recovered by", "recovery measured", "its bound", "within bound"])


def filter_events(events: pd.DataFrame, text: str = "", kinds: Iterable[str] = ()) -> pd.DataFrame:
    """The event log rows whose kind is in ``kinds`` (all when empty) and whose text matches ``text``
    (case-insensitive, in any column; plain text, not a pattern)."""
    if events is None or events.empty:
        return events
    out = events
    kinds = [str(k) for k in kinds]
    if kinds:
        out = out[out["kind"].astype(str).isin(kinds)]
    needle = (text or "").strip().lower()
    if needle:
        hay = pd.Series("", index=out.index, dtype=object)
        for col in (c for c in out.columns if c != "t"):
            hay = hay + " " + out[col].astype(object).where(out[col].notna(), "").astype(str).str.lower()
        out = out[hay.str.contains(needle, regex=False).astype(bool)]
    return out.reset_index(drop=True)


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
