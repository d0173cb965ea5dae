"""The sweeps over fleet size (``scale``) and provisioned capacity (``headroom``), shaped once for every view: the
rows of their tables, the frames of their charts, their sentences, and the two Plotly line charts. The CLI summary,
the dashboard's Compare page and the Markdown and HTML reports all read these, so they say the same thing.

Pure: the JSON summary's ``scale`` and ``headroom`` blocks in (docs/results.md), DataFrames, strings and figures out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from presentation.plotstyle import empty_figure, esc, layout, topology_colours
from presentation.text import fmt_interval

__all__ = ["scale_rows", "scale_points", "scale_lines", "scale_figure", "detection_figure", "headroom_rows",
           "headroom_points", "headroom_lines", "headroom_figure", "SCALE_CAPTION", "HEADROOM_CAPTION"]

SCALE_CAPTION = ("Each topology scaled to each size with its load scaled too (tasks/s and sessions x size / original "
                 "agents: the same utilisation). Medians over repeats with 95 % intervals; harm = 1 - R/100. "
                 "Detection bound: SWIM's expected first detection (1.58 probe periods + a suspicion timeout that "
                 "grows with log n) for the mesh, the health checks' for hubs.")
HEADROOM_CAPTION = ("Each topology's nodes times the factor, asked the same load as the original. Kept the SLO: "
                    "availability during the fault's window >= the SLO in every run at that capacity (shed 429s "
                    "count as unavailable); the smallest is the smallest tested capacity from which every larger one "
                    "kept it too.")


def _pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * float(value):.{digits}f} %"


def _median(m: Mapping[str, Any] | None) -> float | None:
    if not m or m.get("median_censored"):
        return None
    return m.get("median")


def _harm_interval(point: Mapping[str, Any]) -> str:
    """harm from the resilience interval: 1 - R/100 turns [low, high] into [1 - high, 1 - low]."""
    r = point.get("resilience") or {}
    if r.get("median") is None:
        return "-"
    med = 1 - r["median"] / 100
    if r.get("ci_low") is None or r.get("ci_high") is None:
        return f"{med:.3f}"
    return f"{med:.3f} [{1 - r['ci_high'] / 100:.3f}, {1 - r['ci_low'] / 100:.3f}]"


def scale_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per base topology and size: agents, load, R, harm, TTD beside the detection bound, TTR, blast radius,
    sessions lost (medians with 95 % intervals)."""
    block = (summary or {}).get("scale") or {}
    rows = []
    for p in block.get("points") or []:
        det = p.get("detection") or {}
        rows.append({
            "topology": p.get("topology"), "agents": int(p.get("agents") or p.get("size") or 0),
            "nodes": p.get("nodes"), "regions": p.get("regions"), "tasks/s": p.get("tasks_per_s"),
            "runs": p.get("runs"), "R": fmt_interval(p.get("resilience"), 1), "harm": _harm_interval(p),
            "TTD s": fmt_interval(p.get("ttd_s"), 2),
            "expected detection": "-" if not det or det.get("expected_s") is None else
            f"{float(det['expected_s']):.2f} s ({det.get('kind')}"
            + (f", n={det['n_members']})" if det.get("n_members") else ")"),
            "TTR s": fmt_interval(p.get("ttr_s"), 1),
            "blast radius (regions)": fmt_interval(p.get("blast_radius_regions"), 2),
            "sessions lost": fmt_interval(p.get("sessions_lost"), 0),
        })
    return pd.DataFrame(rows, columns=["topology", "agents", "nodes", "regions", "tasks/s", "runs", "R", "harm",
                                       "TTD s", "expected detection", "TTR s", "blast radius (regions)",
                                       "sessions lost"])


def scale_points(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """The chart frame: topology, agents, harm (median, low, high), TTD median, expected detection."""
    rows = []
    for p in ((summary or {}).get("scale") or {}).get("points") or []:
        r = p.get("resilience") or {}
        det = p.get("detection") or {}
        rows.append({
            "topology": p.get("topology"), "agents": float(p.get("agents") or p.get("size") or 0),
            "harm": None if r.get("median") is None else 1 - r["median"] / 100,
            "harm_low": None if r.get("ci_high") is None else 1 - r["ci_high"] / 100,
            "harm_high": None if r.get("ci_low") is None else 1 - r["ci_low"] / 100,
            "ttd_s": _median(p.get("ttd_s")), "expected_detection_s": det.get("expected_s"),
            "detection_kind": det.get("kind"),
        })
    return pd.DataFrame(rows, columns=["topology", "agents", "harm", "harm_low", "harm_high", "ttd_s",
                                       "expected_detection_s", "detection_kind"])


def scale_lines(summary: Mapping[str, Any] | None) -> list[str]:
    """One sentence per topology answering "stronger as it scales?", and the workload note."""
    block = (summary or {}).get("scale") or {}
    if not block:
        return []
    lines = [str(c.get("text")) for c in block.get("curves") or []]
    if block.get("workload"):
        lines.append(f"({block['workload']}{'; regions added, not nodes' if block.get('grow_regions') else ''})")
    return lines


def _axis_x(values: pd.Series) -> dict[str, Any]:
    """A log axis when the sizes span a factor of 8 or more (9, 27, 81 read evenly spaced), ticks at the sizes."""
    xs = sorted({float(v) for v in values if v and v > 0})
    out: dict[str, Any] = {"tickvals": xs, "ticktext": [f"{x:g}" for x in xs]}
    if xs and xs[-1] / xs[0] >= 8:
        out["type"] = "log"
    return out


def scale_figure(points: pd.DataFrame) -> go.Figure:
    """Harm (1 - R/100) against size, one line per topology, 95 % intervals as error bars when there are any."""
    if points is None or points.empty or points["harm"].isna().all():
        return empty_figure("no resilience figure at any size yet")
    colours = topology_colours(points["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=layout())
    for topo, g in points.sort_values("agents").groupby("topology", sort=True):
        g = g[g["harm"].notna()]
        err = None
        if g["harm_low"].notna().any():
            err = dict(type="data", symmetric=False, array=(g["harm_high"] - g["harm"]).fillna(0).to_numpy(),
                       arrayminus=(g["harm"] - g["harm_low"]).fillna(0).to_numpy(), thickness=1.2, width=4)
        fig.add_trace(go.Scatter(x=g["agents"], y=g["harm"], mode="lines+markers", name=esc(topo), error_y=err,
                                 line=dict(color=colours[str(topo)], width=2.5), marker=dict(size=9),
                                 hovertemplate=esc(topo) + "<br>%{x:g} agents<br>harm %{y:.3f}<extra></extra>"))
    fig.update_layout(title="Scale: harm against fleet size (load scaled with it)", xaxis_title="agents",
                      yaxis_title="harm = 1 - R/100")
    fig.update_xaxes(**_axis_x(points["agents"]))
    fig.update_yaxes(rangemode="tozero")
    return fig


def detection_figure(points: pd.DataFrame) -> go.Figure:
    """Measured TTD (solid) beside the expected detection of each topology's protocol (dashed) against size:
    SWIM's grows with log n, a hub's health checks do not depend on n."""
    if points is None or points.empty or (points["ttd_s"].isna().all() and points["expected_detection_s"].isna().all()):
        return empty_figure("no detection measured or bounded at any size")
    colours = topology_colours(points["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=layout())
    for topo, g in points.sort_values("agents").groupby("topology", sort=True):
        colour = colours[str(topo)]
        m = g[g["ttd_s"].notna()]
        if not m.empty:
            fig.add_trace(go.Scatter(x=m["agents"], y=m["ttd_s"], mode="lines+markers",
                                     name=esc(f"{topo} TTD measured"), line=dict(color=colour, width=2.5),
                                     marker=dict(size=9)))
        b = g[g["expected_detection_s"].notna()]
        if not b.empty:
            kind = str(b["detection_kind"].iloc[0])
            fig.add_trace(go.Scatter(x=b["agents"], y=b["expected_detection_s"], mode="lines",
                                     name=esc(f"{topo} expected ({kind})"),
                                     line=dict(color=colour, dash="dash", width=1.5)))
    fig.update_layout(title="Detection against size: measured TTD, expected (dashed)",
                      xaxis_title="agents", yaxis_title="seconds")
    fig.update_xaxes(**_axis_x(points["agents"]))
    fig.update_yaxes(rangemode="tozero")
    return fig


def _kept_words(kept: bool | None) -> str:
    return "-" if kept is None else "yes" if kept else "NO"


def headroom_rows(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """Per base topology and capacity factor: provisioned agents, R, availability during the fault (worst run),
    whether the SLO was kept, and which capacity is the smallest that kept it."""
    block = (summary or {}).get("headroom") or {}
    rows = []
    for t in block.get("topologies") or []:
        for p in t.get("points") or []:
            rows.append({
                "topology": t.get("topology"), "capacity": f"{p.get('factor'):g}x", "agents": p.get("agents"),
                "asked tasks/s": t.get("asked_tasks_per_s"), "runs": p.get("runs"),
                "R": fmt_interval(p.get("resilience"), 1),
                "availability during fault (worst run)": _pct(p.get("availability_min")),
                "requests in fault": None if p.get("requests") is None else int(p["requests"]),
                "kept SLO": _kept_words(p.get("kept")),
                "smallest that kept it": "<- smallest" if t.get("min_factor") == p.get("factor") else "",
            })
    return pd.DataFrame(rows, columns=["topology", "capacity", "agents", "asked tasks/s", "runs", "R",
                                       "availability during fault (worst run)", "requests in fault", "kept SLO",
                                       "smallest that kept it"])


def headroom_points(summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """The chart frame: topology, factor, agents, R median, kept, smallest."""
    rows = []
    for t in ((summary or {}).get("headroom") or {}).get("topologies") or []:
        for p in t.get("points") or []:
            rows.append({"topology": t.get("topology"), "factor": float(p.get("factor")),
                         "agents": float(p.get("agents") or 0), "resilience": _median(p.get("resilience")),
                         "availability": p.get("availability_min"), "kept": p.get("kept"),
                         "smallest": t.get("min_factor") == p.get("factor")})
    return pd.DataFrame(rows, columns=["topology", "factor", "agents", "resilience", "availability", "kept",
                                       "smallest"])


def headroom_lines(summary: Mapping[str, Any] | None) -> list[str]:
    """One sentence per topology: the smallest capacity that kept the SLO, or that none did."""
    block = (summary or {}).get("headroom") or {}
    return [str(t.get("text")) for t in block.get("topologies") or []]


def headroom_figure(points: pd.DataFrame, slo: float | None = None) -> go.Figure:
    """Resilience against provisioned agents, one line per topology ("what resilience costs"): filled markers
    kept the SLO, open ones did not, a ring marks the smallest capacity that kept it."""
    if points is None or points.empty or points["resilience"].isna().all():
        return empty_figure("no resilience figure at any capacity yet")
    colours = topology_colours(points["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=layout())
    for topo, g in points.sort_values("agents").groupby("topology", sort=True):
        g = g[g["resilience"].notna()]
        colour = colours[str(topo)]
        symbols = ["circle" if k else "circle-open" for k in g["kept"]]
        text = [f"{f:g}x, {'kept' if k else 'broke' if k is False else '?'} the SLO (worst {_pct(a)})"
                for f, k, a in zip(g["factor"], g["kept"], g["availability"], strict=True)]
        fig.add_trace(go.Scatter(x=g["agents"], y=g["resilience"], mode="lines+markers", name=esc(topo),
                                 line=dict(color=colour, width=2.5), marker=dict(size=11, symbol=symbols,
                                                                                 line=dict(width=2, color=colour)),
                                 text=[esc(t) for t in text],
                                 hovertemplate=esc(topo) + "<br>%{x:g} agents: %{text}<br>R %{y:.1f}<extra></extra>"))
        best = g[g["smallest"]]
        if not best.empty:
            fig.add_trace(go.Scatter(x=best["agents"], y=best["resilience"], mode="markers", showlegend=False,
                                     marker=dict(size=22, symbol="circle-open", line=dict(width=2, color=colour)),
                                     hoverinfo="skip"))
    slo_txt = f" (SLO {100 * slo:g} % during the fault)" if slo else ""
    fig.update_layout(title="Headroom: resilience against provisioned capacity, same load" + esc(slo_txt),
                      xaxis_title="provisioned agents (filled: kept the SLO; ringed: the smallest that did)",
                      yaxis_title="R (0-100)")
    fig.update_xaxes(tickvals=sorted(set(points["agents"])), ticktext=[f"{x:g}" for x in sorted(set(points["agents"]))])
    return fig
