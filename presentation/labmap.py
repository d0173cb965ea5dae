"""The topology map of a lab: regions as boxes, nodes in them coloured by state, links labelled.

Regions sit on an ellipse (a row for two), each a box holding its nodes (square: hub or gateway, circle: agent
node; green alive, orange paused, red dead; agents alive/total under an agent node's name). Links between regions
are drawn once per pair and labelled with their latency, loss and cuts per direction: grey when at their
baseline, orange when lossy or slowed, red dashed when cut. Inputs are ``frames.nodes_frame`` and
``frames.links_frame`` of a lab status.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from presentation.frames import links_frame, nodes_frame
from presentation.plotstyle import HEALTH_COLOURS, empty_figure, esc, layout

__all__ = ["lab_figure", "lab_caption", "region_layout", "link_label", "HUB_ROLES"]

HUB_ROLES = frozenset({"hub", "gateway", "standby"})
_COLS = 3
_DX, _DY = 0.46, 0.72  # node spacing inside a region box (room for a two-line label under each node)
_PAD = 0.22
_CUT, _LOSSY, _OK = "#c62828", "#ef6c00", "#9e9e9e"


def region_layout(regions: list[str], sizes: dict[str, int]) -> dict[str, tuple[float, float, float, float]]:
    """Centre (x, y) and box (width, height) per region: on a circle, far enough apart not to overlap."""
    n = len(regions)
    boxes = {r: (min(_COLS, max(1, sizes.get(r, 1))) * _DX + _PAD,
                 math.ceil(max(1, sizes.get(r, 1)) / _COLS) * _DY + _PAD + 0.12) for r in regions}
    widest = max((w for w, _ in boxes.values()), default=1.0)
    tallest = max((h for _, h in boxes.values()), default=1.0)
    if n == 1:
        centres = [(0.0, 0.0)]
    elif n == 2:
        centres = [(-widest * 1.6, 0.0), (widest * 1.6, 0.0)]
    else:  # an ellipse wider than tall: link labels between the boxes get room, the figure stays short
        radius = max(widest, tallest) / (2 * math.sin(math.pi / n)) * 1.9
        centres = [(1.7 * radius * math.cos(math.pi / 2 + 2 * math.pi * i / n),
                    radius * math.sin(math.pi / 2 + 2 * math.pi * i / n)) for i in range(n)]
    return {r: (*centres[i], *boxes[r]) for i, r in enumerate(regions)}


def _edge(cx: float, cy: float, w: float, h: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the segment from the box centre towards (tx, ty) leaves the box."""
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return cx, cy
    t = min((w / 2) / abs(dx) if dx else math.inf, (h / 2) / abs(dy) if dy else math.inf)
    return cx + dx * t, cy + dy * t


def link_label(forward: pd.Series | None, backward: pd.Series | None) -> tuple[str, str]:
    """(text, colour) of the link between two regions from its two directions (either may be missing)."""
    ways = [w for w in (forward, backward) if w is not None]
    parts: list[str] = []
    cut = [f"{w.src}→{w.dst}" for w in ways if bool(w.cut)]
    if cut:
        parts.append("CUT " + ", ".join(cut) if len(cut) < len(ways) else "CUT")
    lat = sorted({round(float(w.latency_ms)) for w in ways})
    parts.append(" / ".join(f"{v} ms" for v in lat) if lat else "")
    loss = max((float(w.loss) for w in ways), default=0.0)
    if loss > 0:
        parts.append(f"{loss * 100:.0f} % loss")
    colour = _CUT if cut else _LOSSY if loss > 0 else _OK
    return " · ".join(p for p in parts if p), colour


def lab_figure(nodes: pd.DataFrame, links: pd.DataFrame, *, title: str = "Topology map",
               baseline_ms: dict[tuple[str, str], float] | None = None) -> go.Figure:
    """Regions, their nodes by state and the links between them (``nodes_frame``/``links_frame`` of a status)."""
    if nodes is None or nodes.empty:
        return empty_figure("no nodes in the lab status")
    regions = list(dict.fromkeys(nodes["region"].astype(str)))
    sizes = nodes.groupby("region").size().to_dict()
    place = region_layout(regions, {str(k): int(v) for k, v in sizes.items()})
    left = min(cx - w / 2 for cx, _, w, _ in place.values()) - 0.3
    right = max(cx + w / 2 for cx, _, w, _ in place.values()) + 0.3
    bottom = min(cy - h / 2 for _, cy, _, h in place.values()) - 0.2
    top = max(cy + h / 2 for _, cy, _, h in place.values()) + 0.45  # the region names sit above their boxes
    # the axes hug the boxes; the height follows their aspect for a ~900 px wide plot (bounded both ways)
    height = int(min(640, max(340, 110 + 900 * (top - bottom) / (right - left))))
    fig = go.Figure(layout=layout(height=height, legend=True))
    shapes: list[dict] = []
    notes: list[dict] = []
    by_pair: dict[tuple[str, str], dict[str, pd.Series]] = {}
    for link in (links if links is not None else pd.DataFrame()).itertuples(index=False):
        if str(link.src) in place and str(link.dst) in place and link.src != link.dst:
            key = tuple(sorted((str(link.src), str(link.dst))))
            by_pair.setdefault(key, {})["fwd" if str(link.src) == key[0] else "bwd"] = link
    for (a, b), ways in sorted(by_pair.items()):
        text, colour = link_label(ways.get("fwd"), ways.get("bwd"))
        if baseline_ms is not None and colour == _OK:
            slowed = any(float(w.latency_ms) > baseline_ms.get((str(w.src), str(w.dst)), math.inf)
                         for w in ways.values())
            colour = _LOSSY if slowed else colour
        (ax, ay, aw, ah), (bx, by_, bw, bh) = place[a], place[b]
        x0, y0 = _edge(ax, ay, aw, ah, bx, by_)
        x1, y1 = _edge(bx, by_, bw, bh, ax, ay)
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y1], mode="lines", showlegend=False, hoverinfo="skip",
                                 line=dict(color=colour, width=3, dash="dash" if colour == _CUT else "solid")))
        notes.append(dict(x=(x0 + x1) / 2, y=(y0 + y1) / 2, text=esc(text), showarrow=False,
                          font=dict(size=11, color=colour if colour != _OK else "#555"),
                          bgcolor="rgba(255,255,255,0.9)", borderpad=2))
    xs: dict[str, list[float]] = {}
    ys: dict[str, list[float]] = {}
    labels: dict[str, list[str]] = {}
    symbols: dict[str, list[str]] = {}
    for region in regions:
        cx, cy, w, h = place[region]
        shapes.append(dict(type="rect", x0=cx - w / 2, x1=cx + w / 2, y0=cy - h / 2, y1=cy + h / 2, layer="below",
                           line=dict(color="#90a4ae", width=1.5), fillcolor="rgba(236,239,241,0.6)"))
        notes.append(dict(x=cx, y=cy + h / 2, text=f"<b>{esc(region)}</b>", showarrow=False, yanchor="bottom",
                          font=dict(size=13, color="#37474f")))
        members = nodes[nodes["region"].astype(str) == region].reset_index(drop=True)
        cols = min(_COLS, len(members))
        for i, node in members.iterrows():
            col, row = i % _COLS, i // _COLS
            x = cx - (cols - 1) * _DX / 2 + col * _DX
            y = cy + h / 2 - _PAD / 2 - 0.16 - row * _DY
            health = str(node["health"])
            xs.setdefault(health, []).append(x)
            ys.setdefault(health, []).append(y)
            short = str(node["node"]).removeprefix(f"{region}-")
            agents = f"<br>{node['agents_alive']}/{node['agents']}" if int(node["agents"]) else ""
            labels.setdefault(health, []).append(f"{esc(short)}{agents}")
            symbols.setdefault(health, []).append("square" if str(node["role"]) in HUB_ROLES else "circle")
    away = ("away",) if "away" in xs else ()  # devices left by churn (node classes): only where there are any
    for health in ("alive", "paused", "dead", *away):  # every state in the legend, so the colours read without a key
        fig.add_trace(go.Scatter(
            x=xs.get(health, [None]), y=ys.get(health, [None]), mode="markers+text", name=health,
            text=labels.get(health, [""]),
            textposition="bottom center", textfont=dict(size=10, color="#37474f"),
            marker=dict(size=18, color=HEALTH_COLOURS[health], symbol=symbols.get(health, ["circle"]),
                        line=dict(color="#fff", width=1.5)),
            hovertemplate="%{text}<br>" + health + " (agents alive/total)<extra></extra>"))
    fig.update_xaxes(visible=False, scaleanchor="y", scaleratio=1, range=[left, right])
    fig.update_yaxes(visible=False, range=[bottom, top])
    fig.update_layout(title=esc(title), margin=dict(l=20, r=20, t=50, b=60), plot_bgcolor="#fff",
                      legend=dict(y=-0.04), shapes=shapes, annotations=notes)
    return fig


def lab_caption(lab: dict) -> str:
    """'7/9 nodes alive · 2 directed link(s) cut · regions: us-east, eu-west, ap-south' of a lab status."""
    nodes, links = nodes_frame(lab), links_frame(lab)
    alive = int((nodes["health"] == "alive").sum()) if not nodes.empty else 0
    cut = int(links["cut"].sum()) if not links.empty else 0
    lossy = int((links["loss"] > 0).sum()) if not links.empty else 0
    parts = [f"{alive}/{len(nodes)} nodes alive"]
    away = int((nodes["health"] == "away").sum()) if not nodes.empty else 0
    if away:
        parts.append(f"{away} device(s) away (churn)")
    if cut:
        parts.append(f"{cut} directed link(s) cut")
    if lossy:
        parts.append(f"{lossy} lossy")
    parts.append("regions: " + ", ".join(map(str, lab.get("regions") or [])))
    return " · ".join(parts)
