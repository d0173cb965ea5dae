"""A Grafana dashboard of the dashboard's panels over the Prometheus collector's series, and the experiments'
fault windows as Grafana annotations.

Built with the ``grafana-foundation-sdk`` builders (typed models, not hand-written JSON); ``aftershock grafana
export`` (aftershock/cli_grafana.py) writes it. The series are those the Prometheus collector scrapes from a lab
(docs/metrics.md; file-SD targets carry ``aftershock_lab``, ``node``, ``region``, ``role``), so the panels work on
the project's own Prometheus or any server scraping the labs.

What the Prometheus panels cannot show, and say in their descriptions: latency *of successes only* (the client
histogram mixes outcomes; the Aftershock dashboard computes it from the request log), and the fault windows,
which are not a metric: they come from the run store as annotations (:func:`fault_annotations`), to import through
Grafana's HTTP API (``POST /api/annotations``), and show on the dashboard through its built-in annotation query on
the tag ``aftershock``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard

__all__ = ["GrafanaPanel", "PANELS", "ANNOTATION_TAG", "DATASOURCE_VARIABLE", "build_dashboard", "dashboard_json",
           "fault_annotations", "DEFAULT_UID"]

ANNOTATION_TAG = "aftershock"
DATASOURCE_VARIABLE = "datasource"
DEFAULT_UID = "aftershock-resilience"
_LAB = 'aftershock_lab=~"$lab"'
_RATE = "$__rate_interval"


@dataclass(frozen=True)
class GrafanaPanel:
    """One time-series panel: PromQL targets (expr, legend), unit and axis bounds, and what it does not cover."""

    title: str
    targets: tuple[tuple[str, str], ...]
    unit: str
    description: str
    min: float | None = None
    max: float | None = None
    width: int = 12


PANELS: tuple[GrafanaPanel, ...] = (
    GrafanaPanel(
        "Availability A(t) per topology",
        ((f'sum by (topology) (rate(aftershock_client_requests_total{{outcome="ok",{_LAB}}}[{_RATE}])) / '
          f"sum by (topology) (rate(aftershock_client_requests_total{{{_LAB}}}[{_RATE}]))", "{{topology}}"),),
        "percentunit",
        "ok / (ok + error + timeout) of the load generator's requests, from its counters. The Aftershock dashboard "
        "computes the same curve from the request log (ground truth) in 1 s bins.", 0, 1, 24),
    GrafanaPanel(
        "Client latency p50 / p99 (all outcomes)",
        ((f"histogram_quantile(0.5, sum by (le, topology) "
          f"(rate(aftershock_client_request_duration_seconds_bucket{{{_LAB}}}[{_RATE}])))", "{{topology}} p50"),
         (f"histogram_quantile(0.99, sum by (le, topology) "
          f"(rate(aftershock_client_request_duration_seconds_bucket{{{_LAB}}}[{_RATE}])))", "{{topology}} p99")),
        "s",
        "From the client histogram, which mixes successes, failures (often fast) and timeouts: it does NOT show "
        "the latency of successes only. The Aftershock dashboard draws that from the request log.", 0),
    GrafanaPanel(
        "Throughput: ok and failed per second",
        ((f'sum by (topology) (rate(aftershock_client_requests_total{{outcome="ok",{_LAB}}}[{_RATE}]))',
          "{{topology}} ok/s"),
         (f'sum by (topology) (rate(aftershock_client_requests_total{{outcome!="ok",{_LAB}}}[{_RATE}]))',
          "{{topology}} failed/s")),
        "reqps", "Requests per second by outcome (failed = error + timeout).", 0),
    GrafanaPanel(
        "Agents alive per region",
        ((f'sum by (aftershock_lab, region) (aftershock_agents_alive{{role!="hub",{_LAB}}})',
          "{{aftershock_lab}} {{region}}"),),
        "short", "Agents serving on agent nodes, summed per region (hubs left out: they count agents twice). "
        "0 = the region is dead.", 0),
    GrafanaPanel(
        "Targets up per region",
        ((f"sum by (aftershock_lab, region) (up{{{_LAB}}})", "{{aftershock_lab}} {{region}}"),),
        "short", "Scrape targets answering (nodes, hubs, the load generator): a killed node stops answering.", 0),
    GrafanaPanel(
        "Recovery actions",
        ((f"sum by (aftershock_lab) (increase(aftershock_restarts_total{{{_LAB}}}[{_RATE}]))",
          "{{aftershock_lab}} restarts"),
         (f"sum by (aftershock_lab) (increase(aftershock_migrations_total{{{_LAB}}}[{_RATE}]))",
          "{{aftershock_lab}} replacements")),
        "short", "Restarts ordered by a hub's orchestrator; replacement nodes spawned by peers.", 0),
    GrafanaPanel(
        "Sessions lost",
        ((f"sum by (topology) (increase(aftershock_client_sessions_lost_total{{{_LAB}}}[{_RATE}]))",
          "{{topology}}"),),
        "short", "Requests that found their session's memory lost (the deployment answered with an older turn).", 0),
)


def _datasource(uid: str | None) -> dashboard.DataSourceRef:
    """A fixed Prometheus data source (``--datasource UID``), else the dashboard's data source variable."""
    return dashboard.DataSourceRef(type_val="prometheus", uid=uid or f"${{{DATASOURCE_VARIABLE}}}")


def _panel(spec: GrafanaPanel, ds: dashboard.DataSourceRef) -> timeseries.Panel:
    panel = (timeseries.Panel().title(spec.title).description(spec.description).unit(spec.unit).datasource(ds)
             .height(8).span(spec.width).line_width(2).fill_opacity(8).span_nulls(False)
             .line_interpolation(common.LineInterpolation.STEP_AFTER)
             .legend(common_b.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                     .placement(common.LegendPlacement.BOTTOM).show_legend(True)))
    if spec.min is not None:
        panel = panel.min(spec.min)
    if spec.max is not None:
        panel = panel.max(spec.max)
    for i, (expr, legend) in enumerate(spec.targets):
        panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend).range()
                                  .ref_id(chr(ord("A") + i)).datasource(ds))
    return panel


def build_dashboard(*, datasource_uid: str | None = None, title: str = "Aftershock: resilience of agent fleets",
                    uid: str = DEFAULT_UID, time_from: str = "now-1h", time_to: str = "now") -> dashboard.Dashboard:
    """The dashboard model: variables (data source, lab), the panels, and the annotations (fault windows tagged
    ``aftershock``; scrape targets going down, from ``up``)."""
    ds = _datasource(datasource_uid)
    builder = (dash_b.Dashboard(title).uid(uid).tags(["aftershock", "chaos", "resilience"]).editable()
               .time(time_from, time_to).refresh("10s").timezone("browser")
               .tooltip(dashboard.DashboardCursorSync.CROSSHAIR)
               .description("The panels of the Aftershock dashboard over the Prometheus collector's series. "
                            "Generated by `aftershock grafana export`."))
    if datasource_uid is None:
        builder = builder.with_variable(dash_b.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus")
                                        .type("prometheus"))
    builder = builder.with_variable(
        dash_b.QueryVariable("lab").label("Lab").datasource(ds).multi(True).include_all(True).all_value(".*")
        .query("label_values(aftershock_client_requests_total, aftershock_lab)")
        .refresh(dashboard.VariableRefresh.ON_TIME_RANGE_CHANGED))
    builder = builder.annotation(
        dash_b.AnnotationQuery().name("Fault windows (Aftershock)").enable(True).icon_color("rgba(198, 40, 40, 0.8)")
        .datasource(dashboard.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .target(dash_b.AnnotationTarget().type("tags").tags([ANNOTATION_TAG]).match_any(True).limit(500)))
    builder = builder.annotation(
        dash_b.AnnotationQuery().name("Targets down").enable(False).icon_color("rgba(239, 108, 0, 0.8)")
        .datasource(ds).expr(f"count by (aftershock_lab, node) (up{{{_LAB}}} == 0)"))
    builder = builder.with_row(dash_b.Row("How each topology bends and comes back"))
    for spec in PANELS:
        builder = builder.with_panel(_panel(spec, ds))
    return builder.build()


def dashboard_json(model: dashboard.Dashboard) -> str:
    """The model as the JSON Grafana imports (Dashboards > New > Import, or ``POST /api/dashboards/db``)."""
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True)


def fault_annotations(runs: Iterable[Mapping[str, Any]], windows_of: Mapping[str, list[dict[str, Any]]]
                      ) -> list[dict[str, Any]]:
    """Grafana annotations (``POST /api/annotations`` bodies) of every run's fault windows: region annotations
    from injection to lift (a window never lifted ends at the run's end), tagged ``aftershock``, the experiment,
    the topology and the lab, with what the fault did as text. Times in epoch milliseconds."""
    out = []
    for run in runs:
        for w in windows_of.get(str(run["run_id"])) or []:
            end = w.get("end") if w.get("end") is not None else run.get("ended_at")
            start = float(w["start"])
            what = str(w.get("what") or w.get("name") or "fault")
            lab = str((run.get("meta") or {}).get("lab") or "")
            tags = [ANNOTATION_TAG, str(run.get("experiment")), str(run.get("topology")), f"run:{run['run_id']}"]
            if lab:
                tags.append(f"lab:{lab}")
            out.append({"time": int(round(start * 1000)),
                        "timeEnd": int(round(float(end if end is not None else start) * 1000)),
                        "tags": tags, "text": f"{run.get('experiment')} on {run.get('topology')}: {what} "
                                              f"({w.get('action') or 'fault'}, lifted by {w.get('lifted_by') or '-'})"})
    return out
