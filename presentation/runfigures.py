"""One run's figures: the experiment's activities in lanes over its availability, agents alive per region,
membership and detection events. Pure: DataFrames in, Plotly figures out.

Why lanes: activity names written as annotations on one axis overprinted each other wherever activities
were close (the rollback right after the last probe); here each activity has its row, named on the axis.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from presentation.downsample import DEFAULT_MAX_POINTS, downsample_xy
from presentation.plotstyle import (
    FAULT_COLOUR,
    PALETTE,
    X_SINCE_INJECTION,
    empty_figure,
    esc,
    layout,
    legend_y,
    note,
    vline,
    vrect,
)

__all__ = ["ACTIVITY_COLOURS", "lanes_figure", "run_timeline_figure", "agents_figure", "agents_heatmap",
           "events_figure", "lane_labels"]

ACTIVITY_COLOURS = {"hypothesis": "#1565c0", "action": "#c62828", "probe": "#2e7d32", "rollback": "#6d4c41"}
_MIN_BAR_S = 0.25  # an instantaneous activity still gets a visible bar
_LABEL_CHARS = 44


def lane_labels(activities: pd.DataFrame) -> list[str]:
    """One label per activity, in order of start: "type · name", shortened (equal labels share a lane)."""
    labels: list[str] = []
    for a in activities.itertuples(index=False):
        text = f"{a.type} · {a.name}"
        text = text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
        labels.append(text)
    return labels


def _add_lanes(fig: go.Figure, activities: pd.DataFrame, row: int | None = None) -> None:
    acts = activities.sort_values("start", kind="stable").reset_index(drop=True)
    labels = [esc(label) for label in lane_labels(acts)]
    kw = {"row": row, "col": 1} if row else {}
    for kind in dict.fromkeys(acts["type"].astype(str)):
        mask = acts["type"].astype(str) == kind
        g = acts[mask]
        width = (g["end"] - g["start"]).clip(lower=_MIN_BAR_S)
        fig.add_trace(go.Bar(
            y=[labels[i] for i in g.index], x=width, base=g["start"], orientation="h", name=esc(kind),
            marker=dict(color=ACTIVITY_COLOURS.get(kind, "#757575")), legendgroup=f"lane-{kind}",
            customdata=list(zip(g["status"].astype(str), (g["end"] - g["start"]), strict=True)),
            hovertemplate="%{y}<br>from %{base:.1f} s for %{customdata[1]:.1f} s<br>%{customdata[0]}"
                          "<extra></extra>"), **kw)
    fig.update_yaxes(categoryorder="array", categoryarray=list(dict.fromkeys(reversed(labels))), automargin=True, **kw)


def lanes_figure(activities: pd.DataFrame) -> go.Figure:
    """The experiment's activities (journal order by start), one lane each, coloured by type."""
    if activities is None or activities.empty:
        return empty_figure("no activity timeline stored for this run")
    fig = go.Figure(layout=layout(height=120 + 26 * len(activities), barmode="overlay"))
    _add_lanes(fig, activities)
    fig.update_layout(title="Experiment activities", xaxis_title=X_SINCE_INJECTION, shapes=[vline(0)])
    return fig


def run_timeline_figure(curve: pd.DataFrame, activities: pd.DataFrame, *, windows: pd.DataFrame | None = None,
                        max_points: int | None = DEFAULT_MAX_POINTS) -> go.Figure:
    """Activities in lanes above the run's availability (steps), on one time axis; the fault window shaded."""
    has_curve = curve is not None and not curve.empty
    has_acts = activities is not None and not activities.empty
    if not has_curve and not has_acts:
        return empty_figure("no availability data and no timeline")
    n = len(activities) if has_acts else 0
    lanes_px, curve_px = 26 * max(n, 1), 220
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        row_heights=[lanes_px / (lanes_px + curve_px), curve_px / (lanes_px + curve_px)])
    height = 140 + lanes_px + curve_px
    fig.update_layout(**layout(height=height, barmode="overlay"))
    fig.update_layout(legend=dict(y=legend_y(height)))
    if has_acts:
        _add_lanes(fig, activities, row=1)
    if has_curve:
        x, y = downsample_xy(curve["t"].to_numpy(), curve["availability"].to_numpy(), max_points)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="availability", line=dict(color=PALETTE[0],
                                 width=1.8, shape="hv"),
                                 hovertemplate="t=%{x:.1f} s<br>%{y:.3f}<extra></extra>"), row=2, col=1)
    shapes = []
    for xref, yref in (("x", "y domain"), ("x2", "y2 domain")):  # both rows share the time axis
        if windows is not None and not windows.empty and (windows["end"] > windows["start"]).any():
            shapes.append({**vrect(float(windows["start"].min()), float(windows["end"].max()),
                                   colour=FAULT_COLOUR, opacity=0.08), "xref": xref, "yref": yref})
        shapes.append({**vline(0), "xref": xref, "yref": yref})
    fig.update_layout(shapes=shapes)
    fig.update_yaxes(range=[-0.02, 1.05], tickformat=".0%", title_text="availability", row=2, col=1)
    fig.update_xaxes(title_text=X_SINCE_INJECTION, row=2, col=1)
    fig.update_layout(title="Timeline: the experiment's activities and availability")
    return fig


def agents_figure(agents: pd.DataFrame) -> go.Figure:
    """Agents alive per region over time, as steps on a 0-based axis: a region with no agent left sits on
    the zero line, shaded red (``t, region, agents``)."""
    if agents is None or agents.empty:
        return empty_figure("no aftershock_agents_alive series with region labels")
    top = max(1.0, float(agents["agents"].max()))
    fig = go.Figure(layout=layout(height=320))
    dead_band = dict(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=-0.04 * top, y1=0.5, fillcolor=FAULT_COLOUR,
                     opacity=0.08, line=dict(width=0), layer="below")
    for i, (region, g) in enumerate(agents.sort_values("t").groupby("region", sort=True)):
        fig.add_trace(go.Scatter(x=g["t"], y=g["agents"], mode="lines", name=esc(region),
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2, shape="hv"),
                                 hovertemplate=esc(region) + "<br>t=%{x:.0f} s<br>%{y:.0f} agents alive"
                                 "<extra></extra>"))
    fig.update_yaxes(range=[-0.04 * top, top * 1.1], rangemode="tozero", title_text="agents alive")
    fig.update_layout(title="Agents alive per region", xaxis_title=X_SINCE_INJECTION, shapes=[dead_band, vline(0)],
                      annotations=[note("dead", 0, 0, xref="paper", yref="y", colour=FAULT_COLOUR, xanchor="left",
                                        yanchor="bottom")])
    return fig


#: the former name (a heat map); the figure is now steps per region on a 0-based axis
agents_heatmap = agents_figure


def events_figure(events: pd.DataFrame) -> go.Figure:
    """Membership and lifecycle events as points on a time axis, one row per kind."""
    if events is None or events.empty:
        return empty_figure("no membership or detection events in the event log")
    fig = go.Figure(layout=layout(height=130 + 26 * events["kind"].nunique(), legend=False))
    for i, (kind, g) in enumerate(events.groupby("kind", sort=True)):
        nodes = g["node"] if "node" in g.columns else pd.Series([""] * len(g))
        by = g["by"] if "by" in g.columns else pd.Series([""] * len(g))
        text = [esc(f"{n} by {b}" if isinstance(b, str) and b else n) for n, b in zip(nodes, by, strict=False)]
        fig.add_trace(go.Scatter(x=g["t"], y=[esc(kind)] * len(g), mode="markers", name=esc(kind), text=text,
                                 marker=dict(size=10, color=PALETTE[i % len(PALETTE)], line=dict(color="#fff",
                                                                                                  width=1)),
                                 hovertemplate="%{y}<br>t=%{x:.2f} s<br>%{text}<extra></extra>"))
    fig.update_yaxes(automargin=True)
    fig.update_layout(title="Membership and detection events", xaxis_title=X_SINCE_INJECTION, shapes=[vline(0)])
    return fig
