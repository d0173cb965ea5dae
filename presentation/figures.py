"""Figure builders: DataFrame (+ options) -> plotly Figure. Pure: no Streamlit, no I/O, testable directly.

User strings (topology, experiment, activity names) are HTML-escaped before they reach plotly, whose
text fields accept a subset of HTML. Long traces are downsampled here (MinMaxLTTB) unless
``max_points=None``.
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from presentation.downsample import DEFAULT_MAX_POINTS, downsample_xy

__all__ = [
    "PALETTE",
    "CONTROL_COLOUR",
    "topology_colours",
    "availability_figure",
    "metric_figure",
    "fragility_figure",
    "run_timeline_figure",
    "agents_heatmap",
    "events_figure",
    "lab_figure",
    "trend_figure",
    "empty_figure",
]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
#: control runs (the fault replaced by a no-op) are drawn in grey: the noise the fault's effect must exceed
CONTROL_COLOUR = "#9e9e9e"
HEALTH_COLOURS = {"alive": "#2ca02c", "paused": "#ff7f0e", "dead": "#d62728"}
_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=80, b=40), height=360,
               legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def topology_colours(topologies: list[str]) -> dict[str, str]:
    """A stable colour per topology (sorted names), so every chart of a page agrees."""
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(sorted(set(map(str, topologies))))}


def empty_figure(message: str) -> go.Figure:
    fig = go.Figure(layout=_LAYOUT)
    fig.add_annotation(text=_esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _line_traces(fig: go.Figure, curves: pd.DataFrame, y: str, colours: dict[str, str], max_points: int | None,
                 dash: str | None = None, suffix: str = "", show_legend: bool = True) -> None:
    """One trace per run, coloured by topology (control runs in grey); the legend lists each topology once."""
    seen: set[str] = set()
    for (topo, run_id), g in curves.groupby(["topology", "run_id"], sort=True, observed=True):
        x, yy = downsample_xy(g["t"].to_numpy(), g[y].to_numpy(), max_points)
        control = "control" in g.columns and bool(g["control"].iloc[0])
        name = _esc(f"{topo}{' control' if control else ''}{suffix}")
        colour = CONTROL_COLOUR if control else colours.get(str(topo), PALETTE[0])
        fig.add_trace(go.Scatter(
            x=x, y=yy, mode="lines", name=name, legendgroup=name, showlegend=show_legend and name not in seen,
            line=dict(color=colour, width=1.0 if control else 1.5, dash=dash),
            hovertemplate=f"{name} {_esc(run_id)}<br>t=%{{x:.1f}} s<br>%{{y:.3f}}<extra></extra>",
        ))
        seen.add(name)


def availability_figure(curves: pd.DataFrame, windows: pd.DataFrame | None = None, *,
                        max_points: int | None = DEFAULT_MAX_POINTS, title: str = "Availability A(t)") -> go.Figure:
    """Every run's A(t) overlaid (``topology, run_id, t, availability``; control runs, with ``control`` true,
    in grey), fault windows shaded per topology.

    ``windows`` (``topology, start, end``): the fault's active span(s) from the journal (injection to lift), or
    from injection to recovery for runs without a recorded window; the widest per topology is shaded.
    """
    if curves is None or curves.empty:
        return empty_figure("no availability data")
    colours = topology_colours(curves["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=_LAYOUT)
    if windows is not None and not windows.empty:
        for topo, g in windows.groupby("topology", sort=True):
            fig.add_vrect(x0=float(g["start"].min()), x1=float(g["end"].max()), line_width=0, opacity=0.12,
                          fillcolor=colours.get(str(topo), PALETTE[0]))
    fig.add_vline(x=0, line_dash="dash", line_color="#555", annotation_text="injection")
    _line_traces(fig, curves, "availability", colours, max_points)
    fig.update_layout(title=_esc(title), xaxis_title="seconds since injection", yaxis_title="availability")
    fig.update_yaxes(range=[-0.02, 1.05])
    return fig


def metric_figure(curves: pd.DataFrame, columns: list[str], *, title: str, yaxis: str,
                  max_points: int | None = DEFAULT_MAX_POINTS, log_y: bool = False) -> go.Figure:
    """Several columns per run (e.g. p50/p99 latency, ok/failed throughput); dash tells columns apart."""
    if curves is None or curves.empty:
        return empty_figure(f"no data for {title.lower()}")
    colours = topology_colours(curves["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=_LAYOUT)
    dashes = ("solid", "dot", "dash", "dashdot")
    for i, col in enumerate(columns):
        if col in curves.columns:
            _line_traces(fig, curves, col, colours, max_points, dash=dashes[i % len(dashes)], suffix=f" {col}")
    fig.add_vline(x=0, line_dash="dash", line_color="#555")
    fig.update_layout(title=_esc(title), xaxis_title="seconds since injection", yaxis_title=_esc(yaxis))
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def fragility_figure(points: pd.DataFrame, shapes: pd.DataFrame | None = None) -> go.Figure:
    """Harm (1 - R/100) against fault intensity per topology, median per intensity, shape in the legend."""
    if points is None or points.empty:
        return empty_figure("no intensities recorded: fragility needs a sweep")
    colours = topology_colours(points["topology"].astype(str).unique().tolist())
    shape_of = dict(zip(shapes["topology"], shapes["shape"], strict=False)) if shapes is not None else {}
    fig = go.Figure(layout=_LAYOUT)
    for topo, g in points.groupby("topology", sort=True):
        med = g.groupby("intensity", sort=True)["harm"].median()
        label = _esc(f"{topo} ({shape_of.get(topo, '?')})")
        fig.add_trace(go.Scatter(x=med.index, y=med.to_numpy(), mode="lines+markers", name=label,
                                 line=dict(color=colours[str(topo)])))
        fig.add_trace(go.Scatter(x=g["intensity"], y=g["harm"], mode="markers", showlegend=False, opacity=0.4,
                                 marker=dict(color=colours[str(topo)], size=6), hoverinfo="skip"))
    fig.update_layout(title="Fragility: harm against fault intensity", xaxis_title="fault intensity",
                      yaxis_title="harm = 1 - R/100")
    return fig


def run_timeline_figure(curve: pd.DataFrame, activities: pd.DataFrame, *,
                        max_points: int | None = DEFAULT_MAX_POINTS) -> go.Figure:
    """One run's availability with every journal activity as a shaded span and a named annotation."""
    fig = go.Figure(layout={**_LAYOUT, "height": 420})
    if curve is not None and not curve.empty:
        x, y = downsample_xy(curve["t"].to_numpy(), curve["availability"].to_numpy(), max_points)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="availability", line=dict(color=PALETTE[0])))
    colours = {"action": "#d62728", "probe": "#2ca02c"}
    for i, a in enumerate((activities if activities is not None else pd.DataFrame()).itertuples(index=False)):
        colour = colours.get(a.type, "#7f7f7f")
        if a.end - a.start > 0.05:
            fig.add_vrect(x0=a.start, x1=a.end, fillcolor=colour, opacity=0.15, line_width=0)
        fig.add_vline(x=a.start, line_color=colour, line_width=1)
        fig.add_annotation(x=a.start, y=1.0 - 0.07 * (i % 6), yref="paper", text=_esc(f"{a.type}: {a.name}"),
                           showarrow=False, xanchor="left", font=dict(size=10, color=colour),
                           bgcolor="rgba(255,255,255,0.7)")
    if not fig.data and not fig.layout.annotations:
        return empty_figure("no availability data and no timeline")
    fig.update_layout(title="Timeline: availability and experiment activities",
                      xaxis_title="seconds since injection", yaxis_title="availability")
    return fig


def agents_heatmap(agents: pd.DataFrame) -> go.Figure:
    """Agents alive per region (rows) over time (columns) from the ``t, region, agents`` frame."""
    if agents is None or agents.empty:
        return empty_figure("no aftershock_agents_alive series with region labels")
    grid = agents.pivot_table(index="region", columns="t", values="agents", aggfunc="last").sort_index()
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=grid.columns.to_numpy(dtype=float),
                               y=[_esc(r) for r in grid.index], colorscale="Viridis",
                               colorbar=dict(title="agents"),
                               hovertemplate="%{y}<br>t=%{x:.0f} s<br>%{z} agents<extra></extra>"),
                    layout={**_LAYOUT, "height": 100 + 40 * len(grid.index)})
    fig.update_layout(title="Agents alive per region", xaxis_title="seconds since injection")
    return fig


def events_figure(events: pd.DataFrame) -> go.Figure:
    """Membership and lifecycle events as points on a time axis, one row per kind."""
    if events is None or events.empty:
        return empty_figure("no events in the event log")
    fig = go.Figure(layout={**_LAYOUT, "height": 120 + 22 * events["kind"].nunique()})
    for i, (kind, g) in enumerate(events.groupby("kind", sort=True)):
        text = [_esc(f"{n} by {b}" if isinstance(b, str) and b else n)
                for n, b in zip(g.get("node", [""] * len(g)), g.get("by", [""] * len(g)), strict=False)]
        fig.add_trace(go.Scatter(x=g["t"], y=[_esc(kind)] * len(g), mode="markers", name=_esc(kind), text=text,
                                 marker=dict(size=9, color=PALETTE[i % len(PALETTE)]),
                                 hovertemplate="%{y}<br>t=%{x:.2f} s<br>%{text}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#555")
    fig.update_layout(title="Membership and detection events", xaxis_title="seconds since injection",
                      showlegend=False)
    return fig


def lab_figure(nodes: pd.DataFrame, links: pd.DataFrame) -> go.Figure:
    """Regions as columns of nodes coloured by health; links between regions, red when cut."""
    if nodes is None or nodes.empty:
        return empty_figure("no nodes in the lab status")
    regions = list(dict.fromkeys(nodes["region"].astype(str)))
    xpos = {r: float(i) for i, r in enumerate(regions)}
    fig = go.Figure(layout={**_LAYOUT, "height": 140 + 34 * int(nodes.groupby("region").size().max())})
    for link in (links if links is not None else pd.DataFrame()).itertuples(index=False):
        if link.src in xpos and link.dst in xpos and link.src < link.dst:
            colour = "#d62728" if link.cut else ("#ff7f0e" if link.loss > 0 else "#bbbbbb")
            fig.add_trace(go.Scatter(x=[xpos[link.src], xpos[link.dst]], y=[-1, -1], mode="lines+text",
                                     line=dict(color=colour, width=3), showlegend=False,
                                     text=["", _esc(f"{link.latency_ms:.0f} ms{' CUT' if link.cut else ''}")],
                                     textposition="top left", hoverinfo="skip"))
    for health, g in nodes.groupby("health", sort=True):
        ys = [-float(list(nodes[nodes["region"] == r]["node"]).index(n)) - 2 for r, n in zip(g["region"], g["node"],
                                                                                                  strict=True)]
        fig.add_trace(go.Scatter(
            x=[xpos[str(r)] for r in g["region"]], y=ys, mode="markers+text", name=_esc(health),
            text=[_esc(f"{n} ({a}/{t})") for n, a, t in zip(g["node"], g["agents_alive"], g["agents"], strict=True)],
            textposition="middle right", marker=dict(size=16, color=HEALTH_COLOURS.get(str(health), "#7f7f7f"),
                                                     symbol=["square" if r == "hub" else "circle" for r in g["role"]]),
        ))
    fig.update_xaxes(tickvals=list(xpos.values()), ticktext=[_esc(r) for r in regions], range=[-0.5, len(regions)])
    fig.update_yaxes(visible=False)
    fig.update_layout(title="Regions, nodes and links")
    return fig


def trend_figure(trends: pd.DataFrame, metric: str, *, title: str) -> go.Figure:
    """A metric's median per comparison over time, one line per experiment/topology."""
    if trends is None or trends.empty or trends[metric].isna().all():
        return empty_figure(f"no {metric} values yet")
    fig = go.Figure(layout=_LAYOUT)
    colours = topology_colours(trends["topology"].astype(str).unique().tolist())
    for (exp, topo), g in trends.sort_values("created_at").groupby(["experiment", "topology"], sort=True):
        x = pd.to_datetime(g["created_at"].astype(float), unit="s")
        fig.add_trace(go.Scatter(x=x, y=g[metric].astype(float).to_numpy(), mode="lines+markers",
                                 name=_esc(f"{exp} / {topo}"), line=dict(color=colours[str(topo)])))
    fig.update_layout(title=_esc(title), yaxis_title=_esc(metric))
    return fig


