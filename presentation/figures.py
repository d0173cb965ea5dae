"""Figure builders: DataFrame (+ options) -> plotly Figure. Pure: no Streamlit, no I/O, testable directly.

Curves of runs overlaid (availability as steps: a bin is an interval), fragility, trends; the run's own
figures (timeline lanes, agents per region, events) are in ``presentation.runfigures`` and the lab map in
``presentation.labmap``, re-exported here so every view imports one module. User strings are HTML-escaped.
Long traces are downsampled here (MinMaxLTTB) unless ``max_points=None``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from presentation.downsample import DEFAULT_MAX_POINTS, downsample_xy
from presentation.labmap import lab_figure
from presentation.plotstyle import (
    CONTROL_COLOUR,
    DETECT_COLOUR,
    FAULT_COLOUR,
    PALETTE,
    RECOVER_COLOUR,
    X_SINCE_INJECTION,
    empty_figure,
    esc,
    layout,
    note,
    topology_colours,
    vline,
    vrect,
)
from presentation.runfigures import agents_figure, agents_heatmap, events_figure, lanes_figure, run_timeline_figure
from presentation.text import local_datetimes, metric

__all__ = [
    "PALETTE",
    "CONTROL_COLOUR",
    "topology_colours",
    "availability_figure",
    "metric_figure",
    "fragility_figure",
    "run_timeline_figure",
    "lanes_figure",
    "agents_figure",
    "agents_heatmap",
    "events_figure",
    "lab_figure",
    "trend_figure",
    "empty_figure",
    "MARKER_SYMBOLS",
]

#: how detection and recovery are marked on a run's curve
MARKER_SYMBOLS = {"detected": ("diamond", DETECT_COLOUR, "detected (TTD)"),
                  "recovered": ("circle", RECOVER_COLOUR, "back to baseline")}


def _line_traces(fig: go.Figure, curves: pd.DataFrame, y: str, colours: dict[str, str], max_points: int | None,
                 dash: str | None = None, suffix: str = "", show_legend: bool = True, step: bool = False) -> None:
    """One trace per run, coloured by topology (control runs in grey); the legend lists each topology once."""
    seen: set[str] = set()
    for (topo, run_id), g in curves.groupby(["topology", "run_id"], sort=True, observed=True):
        x, yy = downsample_xy(g["t"].to_numpy(), g[y].to_numpy(), max_points)
        control = "control" in g.columns and bool(g["control"].iloc[0])
        name = esc(f"{topo}{' control' if control else ''}{suffix}")
        colour = CONTROL_COLOUR if control else colours.get(str(topo), PALETTE[0])
        fig.add_trace(go.Scatter(
            x=x, y=yy, mode="lines", name=name, legendgroup=name, showlegend=show_legend and name not in seen,
            line=dict(color=colour, width=1.2 if control else 1.8, dash=dash, shape="hv" if step else "linear"),
            hovertemplate=f"{name} {esc(run_id)}<br>t=%{{x:.1f}} s<br>%{{y:.3f}}<extra></extra>",
        ))
        seen.add(name)


def _shade_windows(fig: go.Figure, windows: pd.DataFrame | None) -> list[dict]:
    """The fault's active span per topology (injection to lift), as shapes in one fault colour (spans of several
    topologies overlap: darker where they agree); named once in the legend, with what the fault did when every
    topology saw the same (a label inside the plot would sit on the curves' markers)."""
    if windows is None or windows.empty:
        return []
    windows = windows[windows["end"] > windows["start"]]
    if windows.empty:
        return []
    whats = sorted({str(w) for w in windows.get("what", pd.Series(dtype=str)).dropna() if str(w)})
    shapes = [vrect(float(g["start"].min()), float(g["end"].max()), colour=FAULT_COLOUR, opacity=0.07)
              for _, g in windows.groupby("topology", sort=True)]
    label = "fault active (injection to lift)" + (f": {whats[0]}" if len(whats) == 1 else "")
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=esc(label), hoverinfo="skip",
                             marker=dict(symbol="square", size=14, color="rgba(120,144,156,0.35)")))
    return shapes


def _value_at(curve: pd.DataFrame, t: float, column: str = "availability") -> float:
    """The bin value covering ``t`` (bins start at ``t``: the last bin starting at or before it)."""
    ts = curve["t"].to_numpy(dtype=float)
    i = int(np.searchsorted(ts, t, side="right")) - 1
    return float(curve[column].to_numpy(dtype=float)[max(0, min(i, len(ts) - 1))]) if len(ts) else float("nan")


def _markers(fig: go.Figure, curves: pd.DataFrame, markers: pd.DataFrame | None, colours: dict[str, str]) -> None:
    """Detection and recovery of each run, on its own curve (diamond: detected, circle: back to baseline)."""
    if markers is None or markers.empty:
        return
    by_run = {rid: g.sort_values("t") for rid, g in curves.groupby("run_id", sort=False)}
    for kind, (symbol, colour, label) in MARKER_SYMBOLS.items():
        rows = markers[markers["kind"] == kind]
        rows = rows[rows["run_id"].isin(list(by_run))]
        if rows.empty:
            continue
        ys = [_value_at(by_run[r.run_id], float(r.t)) for r in rows.itertuples(index=False)]
        edge = [colours.get(str(t), PALETTE[0]) for t in rows["topology"]]
        fig.add_trace(go.Scatter(
            x=rows["t"].to_numpy(dtype=float), y=ys, mode="markers", name=label, legendgroup=label,
            marker=dict(symbol=symbol, size=12, color=colour, line=dict(color=edge, width=2)),
            text=[esc(f"{t}: {label} at {x:.1f} s") for t, x in zip(rows["topology"], rows["t"], strict=True)],
            hovertemplate="%{text}<extra></extra>"))


def availability_figure(curves: pd.DataFrame, windows: pd.DataFrame | None = None,
                        markers: pd.DataFrame | None = None, *, max_points: int | None = DEFAULT_MAX_POINTS,
                        title: str = "Availability A(t) of every run") -> go.Figure:
    """Every run's A(t) overlaid as steps (each bin an interval), coloured by topology (control runs in grey),
    the fault's active window shaded from injection to lift, detection and recovery marked on each curve.

    ``curves``: ``topology, run_id, t, availability`` (+ ``control``); ``windows``: ``topology, start, end``
    (+ ``what``), from the journal; ``markers``: ``topology, run_id, kind, t`` (``frames.markers_frame``).
    """
    if curves is None or curves.empty:
        return empty_figure("no availability data")
    colours = topology_colours(curves["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=layout(height=400))
    shapes = [*_shade_windows(fig, windows), vline(0)]
    _line_traces(fig, curves, "availability", colours, max_points, step=True)
    _markers(fig, curves, markers, colours)
    fig.update_layout(title=esc(title), xaxis_title=X_SINCE_INJECTION, yaxis_title="availability", shapes=shapes,
                      annotations=[note("injection", 0, 0, xanchor="left", yanchor="bottom")])
    fig.update_yaxes(range=[-0.02, 1.12], tickformat=".0%", tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    return fig


def metric_figure(curves: pd.DataFrame, columns: list[str] | dict[str, str], *, title: str, yaxis: str,
                  max_points: int | None = DEFAULT_MAX_POINTS, log_y: bool = False,
                  windows: pd.DataFrame | None = None, step: bool = True) -> go.Figure:
    """Several columns per run (p50/p99 latency, ok/failed throughput); dash tells columns apart.

    ``columns`` maps a column to its legend text (a list uses the column names)."""
    if curves is None or curves.empty:
        return empty_figure(f"no data for {title.lower()}")
    labels = dict(columns) if isinstance(columns, dict) else {c: c for c in columns}
    colours = topology_colours(curves["topology"].astype(str).unique().tolist())
    fig = go.Figure(layout=layout())
    shapes = [*_shade_windows(fig, windows), vline(0)]
    dashes = ("solid", "dot", "dash", "dashdot")
    for i, (col, label) in enumerate(labels.items()):
        if col in curves.columns:
            _line_traces(fig, curves, col, colours, max_points, dash=dashes[i % len(dashes)], suffix=f" {label}",
                         step=step)
    fig.update_layout(title=esc(title), xaxis_title=X_SINCE_INJECTION, yaxis_title=esc(yaxis), shapes=shapes)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def fragility_figure(points: pd.DataFrame, shapes: pd.DataFrame | None = None) -> go.Figure:
    """Harm (1 - R/100) against fault intensity per topology, median per intensity, shape in the legend."""
    if points is None or points.empty:
        return empty_figure("no intensities recorded: fragility needs a sweep")
    colours = topology_colours(points["topology"].astype(str).unique().tolist())
    shape_of = dict(zip(shapes["topology"], shapes["shape"], strict=False)) if shapes is not None else {}
    fig = go.Figure(layout=layout())
    for topo, g in points.groupby("topology", sort=True):
        med = g.groupby("intensity", sort=True)["harm"].median()
        label = esc(f"{topo} ({shape_of.get(topo, '?')})")
        fig.add_trace(go.Scatter(x=med.index, y=med.to_numpy(), mode="lines+markers", name=label,
                                 line=dict(color=colours[str(topo)])))
        fig.add_trace(go.Scatter(x=g["intensity"], y=g["harm"], mode="markers", showlegend=False, opacity=0.4,
                                 marker=dict(color=colours[str(topo)], size=6), hoverinfo="skip"))
    fig.update_layout(title="Fragility: harm against fault intensity", xaxis_title="fault intensity",
                      yaxis_title="harm = 1 - R/100")
    return fig


_DAY_S = 86_400.0


def trend_figure(trends: pd.DataFrame, metric_key: str, *, title: str, flags: pd.DataFrame | None = None) -> go.Figure:
    """A metric's median per comparison on a real date axis, one line per experiment/topology; comparisons
    flagged as regressions (``flags``: ``comparison_id, topology``) ringed in red."""
    if trends is None or trends.empty or trends[metric_key].isna().all():
        return empty_figure(f"no {metric(metric_key).label} values yet")
    fig = go.Figure(layout=layout())
    colours = topology_colours(trends["topology"].astype(str).unique().tolist())
    data = trends.assign(when=local_datetimes(trends["created_at"]).to_numpy())
    for (exp, topo), g in data.sort_values("created_at").groupby(["experiment", "topology"], sort=True):
        fig.add_trace(go.Scatter(x=g["when"], y=g[metric_key].astype(float).to_numpy(), mode="lines+markers",
                                 name=esc(f"{exp} / {topo}"), line=dict(color=colours[str(topo)]),
                                 marker=dict(size=8),
                                 hovertemplate=esc(f"{exp} / {topo}") + "<br>%{x|%Y-%m-%d %H:%M}<br>%{y:.1f}"
                                 "<extra></extra>"))
    if flags is not None and not flags.empty:
        hit = data.merge(flags[["comparison_id", "topology"]].drop_duplicates(), on=["comparison_id", "topology"])
        if not hit.empty:
            fig.add_trace(go.Scatter(x=hit["when"], y=hit[metric_key].astype(float), mode="markers",
                                     name="regression", marker=dict(size=16, color="rgba(0,0,0,0)",
                                                                    line=dict(color=FAULT_COLOUR, width=2.5))))
    lo, hi = float(trends["created_at"].min()), float(trends["created_at"].max())
    if hi - lo < _DAY_S:  # a single day (or point) must not zoom the axis into milliseconds
        mid = (lo + hi) / 2
        fig.update_xaxes(range=list(local_datetimes([mid - _DAY_S / 2, mid + _DAY_S / 2])))
    fig.update_xaxes(type="date", tickformat="%b %d\n%H:%M", hoverformat="%Y-%m-%d %H:%M")
    if metric_key == "resilience":
        low = float(trends[metric_key].min())
        fig.update_yaxes(range=[max(0.0, low - 5), 101])
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_layout(title=esc(title), yaxis_title=esc(metric(metric_key).label))
    return fig
