"""The look shared by every figure: layout (legend under the plot, never over its title), colours, escaping.

User strings (topology, experiment, activity, node names) are HTML-escaped with :func:`esc` before they reach
Plotly, whose text fields accept a subset of HTML.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go

__all__ = ["PALETTE", "CONTROL_COLOUR", "HEALTH_COLOURS", "FAULT_COLOUR", "DETECT_COLOUR", "RECOVER_COLOUR",
           "FONT", "TEMPLATE", "layout", "legend_y", "esc", "vline", "vrect", "note", "topology_colours",
           "empty_figure", "X_SINCE_INJECTION"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
#: control runs (the fault replaced by a no-op) are drawn in grey: the noise the fault's effect must exceed
CONTROL_COLOUR = "#9e9e9e"
HEALTH_COLOURS = {"alive": "#2e7d32", "paused": "#ef6c00", "dead": "#c62828", "away": "#90a4ae"}  # away: churn
FAULT_COLOUR = "#c62828"
DETECT_COLOUR = "#6a1b9a"
RECOVER_COLOUR = "#2e7d32"
FONT = "Inter, 'Source Sans Pro', 'Segoe UI', Helvetica, Arial, sans-serif"
X_SINCE_INJECTION = "seconds since injection"
_GRID = "#e8edf3"
_AXIS = dict(gridcolor=_GRID, linecolor=_GRID, zerolinecolor=_GRID, ticks="", automargin=True)
#: a light template (plotly_white's look without its colour scales for every trace type): a Figure deep-copies
#: its template, and plotly_white's was a third of the time of building the Compare page's figures
TEMPLATE = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white", "font": {"color": "#2a3f5f"},
                       "hoverlabel": {"align": "left"}, "xaxis": _AXIS, "yaxis": _AXIS, "colorway": list(PALETTE)}}


def layout(*, height: int = 360, legend: bool = True, **extra: Any) -> dict[str, Any]:
    """Plot layout: title top left, legend below the x axis (so it never runs over the title)."""
    top, bottom = 50, (110 if legend else 50)
    base: dict[str, Any] = dict(
        template=TEMPLATE, height=height, font=dict(family=FONT, size=13),
        title=dict(x=0, xanchor="left", y=0.97, yanchor="top", font=dict(size=15)),
        margin=dict(l=60, r=20, t=top, b=bottom), hovermode="closest",
        legend=dict(orientation="h", yanchor="top", y=legend_y(height, top, bottom), x=0, xanchor="left",
                    font=dict(size=12)),
        showlegend=legend,
    )
    base.update(extra)
    return base


def legend_y(height: int, top: int = 50, bottom: int = 110, below_px: int = 62) -> float:
    """The legend's y (plot fractions) that puts it ``below_px`` under the plot area: under the tick labels and
    the axis title whatever the figure's height."""
    return -below_px / max(40, height - top - bottom)


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def topology_colours(topologies: list[str]) -> dict[str, str]:
    """A stable colour per topology (sorted names), so every chart of a page agrees."""
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(sorted(set(map(str, topologies))))}


def empty_figure(message: str, *, height: int = 220) -> go.Figure:
    """A figure that says why there is nothing to draw (no axes, no traces)."""
    fig = go.Figure(layout=layout(height=height, legend=False))
    fig.add_annotation(text=esc(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def vline(x: float, *, colour: str = "#555", dash: str = "dash", width: float = 1.0) -> dict[str, Any]:
    """A vertical line across the whole plot height, as a layout shape (collected, then set once: the
    ``add_vline`` helpers re-validate the whole layout on every call)."""
    return dict(type="line", x0=x, x1=x, xref="x", y0=0, y1=1, yref="paper",
                line=dict(color=colour, dash=dash, width=width))


def vrect(x0: float, x1: float, *, colour: str, opacity: float = 0.1) -> dict[str, Any]:
    """A shaded span across the whole plot height, under the traces."""
    return dict(type="rect", x0=x0, x1=x1, xref="x", y0=0, y1=1, yref="paper", fillcolor=colour,
                opacity=opacity, line=dict(width=0), layer="below")


def note(text: str, x: float, y: float = 0.0, *, xref: str = "x", yref: str = "paper", size: int = 11,
         colour: str = "#555", **kw: Any) -> dict[str, Any]:
    """A small text annotation (``text`` already escaped)."""
    return dict(text=text, x=x, y=y, xref=xref, yref=yref, showarrow=False, font=dict(size=size, color=colour),
                **kw)
