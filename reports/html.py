"""The self-contained HTML report: Jinja2 with autoescape, plotly.js inlined once, no external URL at all.

The plotly.js bundle carries dormant URLs (map tiles, the plotly.com logo link) in code paths a report never
takes; they are rewritten to ``about:blank`` so the file cannot reach the network even by accident. What
remains are W3C namespace names (``http://www.w3.org/2000/svg``...), which the DOM needs and never fetches;
a test checks that nothing else starting with ``http://`` or ``https://`` is left.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from typing import Any

import jinja2
import plotly.graph_objects as go
from markupsafe import Markup

from presentation import axes, figures, frames
from reports.data import ReportData
from reports.text import bounds_rows, junit_cases

__all__ = ["to_html", "offline_plotlyjs", "figures_of", "PLOT_CONFIG", "NAMESPACE_URL"]

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
# W3C namespace names (SVG, XLink, XHTML) are identifiers the DOM needs, never fetched: they stay.
_URL = re.compile(r"https?://(?!www\.w3\.org/(?:2000/svg|1999/xlink|1999/xhtml|2000/xmlns/|XML/1998/namespace))"
                  r"[^\s\"'`)<>\\]*")
NAMESPACE_URL = re.compile(r"https?://www\.w3\.org/(?:2000/svg|1999/xlink|1999/xhtml|2000/xmlns/|XML/1998/namespace)")


@functools.lru_cache(maxsize=1)
def offline_plotlyjs() -> str:
    """plotly.js with every URL literal neutralised (computed once per process)."""
    import plotly.offline

    return _URL.sub("about:blank", plotly.offline.get_plotlyjs())


def figures_of(data: ReportData) -> list[tuple[str, go.Figure]]:
    """The Compare and Run page charts: availability with fault windows, latency, throughput, timelines."""
    windows = frames.fault_windows(data.summary)
    out = [("availability", figures.availability_figure(data.availability, windows)),
           ("latency", figures.metric_figure(data.latency, ["p50", "p99"],
                                             title="Latency of successful requests (p50, p99)", yaxis="seconds")),
           ("throughput", figures.metric_figure(data.availability, ["ok_per_s", "failed_per_s"],
                                                title="Throughput (ok and failed per second)", yaxis="requests / s"))]
    capacity = frames.capacity_curves(data.summary)
    if not capacity.empty:
        out.append(("capacity", figures.metric_figure(capacity, frames.CAPACITY_COLUMNS, yaxis="agents",
                                                      title="Agents provisioned (solid) and busy (dotted)")))
    for run_id, timeline in data.timelines.items():
        curve = data.availability[data.availability["run_id"] == run_id] if not data.availability.empty else None
        out.append((f"timeline {run_id}", figures.run_timeline_figure(curve, timeline)))
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none';
  script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<title>Aftershock {{ d.kind }} {{ d.id }}: {{ d.title }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;
padding:0 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;
text-align:left;vertical-align:top}
th{background:#f4f4f4}.fail{color:#b00020;font-weight:600}.pass{color:#1b5e20}.muted{color:#666}
.chart{page-break-inside:avoid;break-inside:avoid;margin-bottom:1em}pre{white-space:pre-wrap;margin:0}
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}.modebar-container{display:none}}
</style>
<script type="text/javascript">{{ plotlyjs }}</script>
</head><body>
<h1>{{ d.title }}</h1>
<p class="muted">Aftershock {{ d.kind }} <code>{{ d.id }}</code> &middot; experiment <code>{{ d.experiment }}</code>
&middot; report generated {{ generated }}</p>
<h2>Experiment</h2>
<p>{{ d.description }}</p>
{% if d.hypothesis %}<h3>Steady-state hypothesis</h3><table><tr><th>probe</th><th>tolerance</th></tr>
{% for p in d.hypothesis %}<tr><td>{{ p.name }}</td><td><code>{{ p.tolerance | tojson }}</code></td>
</tr>{% endfor %}</table>{% endif %}
<h3>Method</h3><table><tr><th>phase</th><th>step</th><th>type</th><th>function</th><th>arguments</th></tr>
{% for s in d.steps %}<tr><td>{{ s.phase }}</td><td>{{ s.name }}</td><td>{{ s.type }}</td><td><code>{{ s.function }}
</code></td>
<td><code>{{ s.arguments | tojson }}</code></td></tr>{% endfor %}</table>
<h2>Summary</h2>
<p class="muted">Medians with bootstrap 95 % intervals over repeats (docs/analysis.md).</p>
<table><tr>{% for c in summary_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in summary_rows %}<tr>{% for c in summary_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h3>How each run recovered</h3>
<table><tr>{% for c in recovery_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in recovery_rows %}<tr>{% for c in recovery_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% for s in single %}<p>{{ s }}</p>{% endfor %}
<h3>Verdicts</h3><ul>
{% for v in verdicts %}<li>{{ v }}</li>{% else %}
<li class="muted">no clear difference, too few repeats, or one topology only</li>{% endfor %}</ul>
{% if d.regressions %}<h3 class="fail">Regressions against previous scheduled runs</h3><ul>
{% for f in d.regressions %}<li class="fail">{{ f.message }}</li>{% endfor %}</ul>{% endif %}
{% if checks %}<h3>Thresholds</h3><table><tr><th>topology</th><th>check</th><th>result</th><th>measured</th></tr>
{% for c in checks %}<tr><td>{{ c.topology }}</td><td>{{ c.name }}</td>
<td class="{{ 'fail' if c.status == 'failed' else 'pass' }}">{{ c.status }}</td><td>{{ c.message }}</td>
</tr>{% endfor %}</table>{% endif %}
<h2>Charts</h2>
{% for name, html in charts %}<div class="chart" data-chart="{{ name }}">
{% if name.startswith("timeline") %}<h3>Run {{ name[9:] }}</h3>{% endif %}{{ html }}</div>{% endfor %}
<h2>Measured against the bound of each recovery mechanism</h2>
<p class="muted">A restart never beats detection plus restart delay, a replacement never beats detection plus the
 healing delay, a failover after a refused connection can be immediate; "violated" marks a measurement faster than
 the bound of the mechanism it was attributed to. Runs without impact, or that recovered only after the lift, are
 not checked.</p>
<table><tr>{% for c in bounds_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in bounds %}<tr>{% for c in bounds_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}</table>
{% if ledger_rows %}<h2>Task ledger</h2>
<p class="muted">Every task from the client's request log and the agents' execution log together (docs/analysis.md).
</p><table><tr>{% for c in ledger_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in ledger_rows %}<tr>{% for c in ledger_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% if overload_rows %}<h2>Overload: shed, queued or scaled</h2>
<p class="muted">A shed task was answered 429 and never ran (counted apart from failures); a queued one waited for a
 slot before it ran (the execution log's queued_s). No topology has an autoscaling policy yet.</p>
<table><tr>{% for c in overload_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in overload_rows %}<tr>{% for c in overload_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% if cost_rows %}<h2>Cost: provisioned against used</h2>
<p class="muted">Provisioned agent-seconds are what a cloud bills (every agent of the topology for the analysis
 window); busy agent-seconds what the tasks used (execution log). Cost per 1,000 successful tasks is in agent-hours
 (a price of 1 per agent-hour): multiply by yours. Hubs, replacements and the network are not counted.</p>
<table><tr>{% for c in cost_cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in cost_rows %}<tr>{% for c in cost_cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endif %}
{% for sec in axis_sections %}<h2>{{ sec.title }}</h2><ul>
{% for line in sec.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{% for name, html in sec.charts %}<div class="chart" data-chart="{{ name }}">{{ html }}</div>{% endfor %}
<p class="muted">{{ sec.caption }}</p>
<table><tr>{% for c in sec.cols %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in sec.rows %}<tr>{% for c in sec.cols %}<td>{{ row[c] }}</td>{% endfor %}</tr>{% endfor %}
</table>{% endfor %}
<h2>Runs</h2><table><tr><th>run</th><th>topology</th><th>repeat</th><th>status</th></tr>
{% for r in d.runs %}<tr><td><code>{{ r.run_id }}</code></td><td>{{ r.topology }}</td><td>{{ r.repeat }}</td>
<td>{{ r.status }}</td></tr>{% endfor %}</table>
{% for n in notes %}<p class="muted">{{ n }}</p>{% endfor %}
</body></html>
"""


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return env.from_string(_TEMPLATE)


def _chart_html(fig: go.Figure, index: int) -> Markup:
    # Plotly's own serialisation escapes "</" in its JSON; user strings were HTML-escaped by the builders.
    return Markup(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"aftershock-chart-{index}",
                              config=PLOT_CONFIG, default_height="380px"))


def _axis_sections(summary: dict[str, Any], first_chart: int) -> list[dict[str, Any]]:
    """A sweep over fleet size (scale) or provisioned capacity (headroom): answer, chart(s), caption, table."""
    out = []
    scale = axes.scale_rows(summary)
    if not scale.empty:
        points = axes.scale_points(summary)
        charts = [("scale", axes.scale_figure(points)), ("scale detection", axes.detection_figure(points))]
        out.append({"title": "Scale: stronger as it scales?", "lines": axes.scale_lines(summary),
                    "charts": charts, "caption": axes.SCALE_CAPTION, "cols": list(scale.columns),
                    "rows": scale.fillna("-").to_dict("records")})
    head = axes.headroom_rows(summary)
    if not head.empty:
        fig = axes.headroom_figure(axes.headroom_points(summary), (summary.get("headroom") or {}).get("slo"))
        out.append({"title": "Headroom: what resilience costs", "lines": axes.headroom_lines(summary),
                    "charts": [("headroom", fig)], "caption": axes.HEADROOM_CAPTION, "cols": list(head.columns),
                    "rows": head.fillna("-").to_dict("records")})
    index = first_chart
    for sec in out:
        rendered = []
        for name, fig in sec["charts"]:
            rendered.append((name, _chart_html(fig, index)))
            index += 1
        sec["charts"] = rendered
    return out


def to_html(data: ReportData, min_resilience: float | None = None, *, now: _dt.datetime | None = None) -> bytes:
    """One file that opens offline: every chart interactive, every user string escaped."""
    table = frames.summary_table(data.summary)
    verdicts = [v.get("text") for v in data.summary.get("verdicts") or [] if v.get("outcome") == "clear"]
    notes: list[Any] = list(data.summary.get("notes") or [])
    notes += [f"{s.get('run_id')} not analysed: {s.get('error')}" for s in data.summary.get("not_analysed") or []]
    notes += data.problems
    bounds = bounds_rows(data)
    recovery = frames.recovery_rows(data.summary)
    ledger = frames.ledger_rows(data.summary)
    overload = frames.overload_rows(data.summary)
    cost = frames.cost_rows(data.summary)
    single = [f"{topo} ({body['single_run']['label']}): {stmt['text']}"
              for topo, body in sorted((data.summary.get("summary") or {}).items()) if body.get("single_run")
              for stmt in body["single_run"].get("statements") or []]
    charts = [(n, _chart_html(f, i)) for i, (n, f) in enumerate(figures_of(data))]
    page = _template().render(
        d=data, plotlyjs=Markup(offline_plotlyjs()),
        generated=(now or _dt.datetime.now()).strftime("%Y-%m-%d %H:%M"),
        summary_cols=list(table.columns), summary_rows=table.to_dict("records"), verdicts=verdicts,
        checks=junit_cases(data, min_resilience), charts=charts,
        axis_sections=_axis_sections(data.summary, len(charts)),
        bounds=bounds, bounds_cols=list(bounds[0]) if bounds else [], notes=notes,
        recovery_cols=list(recovery.columns), recovery_rows=recovery.to_dict("records"), single=single,
        ledger_cols=list(ledger.columns), ledger_rows=ledger.fillna("-").to_dict("records"),
        overload_cols=list(overload.columns), overload_rows=overload.fillna("-").to_dict("records"),
        cost_cols=list(cost.columns), cost_rows=cost.fillna("-").to_dict("records"))
    return page.encode("utf-8")
