"""The Grafana export: the dashboard validates against the grafana-foundation-sdk models (what Grafana's schema
accepts), every panel queries the Prometheus collector's series through one data source, the fault windows
become annotations."""

from __future__ import annotations

import json

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from presentation.grafana import ANNOTATION_TAG, PANELS, build_dashboard, dashboard_json, fault_annotations

METRICS = ("aftershock_client_requests_total", "aftershock_client_request_duration_seconds_bucket",
           "aftershock_agents_alive", "up", "aftershock_restarts_total", "aftershock_migrations_total",
           "aftershock_client_sessions_lost_total")


def panels(doc: dict) -> list[dict]:
    return [p for p in doc["panels"] if p["type"] == "timeseries"]


@pytest.mark.parametrize("uid", [None, "prom-main"])
def test_the_dashboard_round_trips_through_the_sdk_models(uid: str | None) -> None:
    text = dashboard_json(build_dashboard(datasource_uid=uid))
    doc = json.loads(text)
    model = Dashboard.from_json(doc)  # the SDK's typed models: what Grafana's dashboard schema holds
    assert json.loads(dashboard_json(model)) == doc
    assert model.uid == "aftershock-resilience" and model.title.startswith("Aftershock")
    assert sum(isinstance(p, Panel) for p in model.panels) == len(PANELS)
    assert sum(isinstance(p, RowPanel) for p in model.panels) == 1
    want = uid or "${datasource}"
    for panel in panels(doc):
        assert panel["datasource"] == {"type": "prometheus", "uid": want}
        assert panel["targets"] and all(t["datasource"]["uid"] == want and t["expr"] for t in panel["targets"])
        assert panel["fieldConfig"]["defaults"]["unit"]
        assert panel["description"]
    names = {v["name"] for v in doc["templating"]["list"]}
    assert names == ({"lab"} if uid else {"datasource", "lab"})


def test_the_panels_cover_the_dashboards_figures_and_say_what_they_do_not() -> None:
    doc = json.loads(dashboard_json(build_dashboard()))
    exprs = " ".join(t["expr"] for p in panels(doc) for t in p["targets"])
    for metric in METRICS:
        assert metric in exprs
    assert all('aftershock_lab=~"$lab"' in t["expr"] for p in panels(doc) for t in p["targets"])
    availability = panels(doc)[0]
    assert availability["fieldConfig"]["defaults"]["min"] == 0 and availability["fieldConfig"]["defaults"]["max"] == 1
    latency = next(p for p in panels(doc) if "latency" in p["title"].lower())
    assert "NOT show the latency of successes" in latency["description"]
    grid = [(p["gridPos"]["x"], p["gridPos"]["y"], p["gridPos"]["w"]) for p in panels(doc)]
    assert len(set(grid)) == len(grid) and all(x + w <= 24 for x, _, w in grid)  # laid out without overlap


def test_fault_windows_become_tagged_region_annotations() -> None:
    runs = [{"run_id": "r1", "experiment": "node-loss", "topology": "hub <b>", "ended_at": 1030.0,
             "meta": {"lab": "hub-1"}},
            {"run_id": "r2", "experiment": "node-loss", "topology": "mesh", "ended_at": 2000.0, "meta": {}}]
    windows = {"r1": [{"start": 1000.0, "end": 1020.5, "what": "us-east was dark", "action": "kill_region",
                       "lifted_by": "restore"}],
               "r2": [{"start": 1500.0, "end": None, "name": "kill"}]}
    notes = fault_annotations(runs, windows)
    assert notes[0] == {"time": 1_000_000, "timeEnd": 1_020_500,
                        "tags": [ANNOTATION_TAG, "node-loss", "hub <b>", "run:r1", "lab:hub-1"],
                        "text": "node-loss on hub <b>: us-east was dark (kill_region, lifted by restore)"}
    assert notes[1]["timeEnd"] == 2_000_000  # never lifted: to the end of the run
    doc = json.loads(dashboard_json(build_dashboard()))
    tags_query = doc["annotations"]["list"][0]
    assert tags_query["target"]["tags"] == [ANNOTATION_TAG] and tags_query["datasource"]["type"] == "grafana"
