"""The target's named queries read from a real Prometheus (the ``prometheus`` binary on port 0) scraping
a kube-state-metrics look-alike, and materialised into the run store under the queries' names."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from aftershock.target_run import materialise_queries
from collectors.base import Target
from collectors.promserver import PrometheusServer
from core.settings import Settings
from engines.kubernetes.target import KubeTarget
from store import RunStore
from tests.support.collectors import require_prometheus, wait_for

pytestmark = pytest.mark.prometheus


def test_named_queries_land_in_the_store_and_read_only_the_targets_namespace(settings: Settings,
                                                                             tmp_path: Path) -> None:
    require_prometheus()
    registry = CollectorRegistry()
    ready = Gauge("kube_pod_status_ready", "ready", ["namespace", "condition"], registry=registry)
    ready.labels("agents", "true").set(5)
    ready.labels("agents", "false").set(1)
    ready.labels('evil"ns', "true").set(100)  # another namespace: must never be summed in
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    target = KubeTarget(name="prod", kube_context="c", namespace="agents", selector="app=a",
                        queries={"k8s_pods_ready": 'sum(kube_pod_status_ready{namespace="${namespace}",'
                                                   'condition="true"})', "broken": "sum(("})
    try:
        prom = PrometheusServer(tmp_path / "prom", scrape_interval_s=1.0)
        prom.write_targets("prod", [Target(f"http://127.0.0.1:{server.server_port}/metrics", {})])
        with prom:
            source = prom.source(timeout_s=5)
            t0 = time.time()
            wait_for(lambda: len(source.query_range("kube_pod_status_ready", t0 - 5, time.time(), 1.0)) >= 6,
                     30, "two scrapes")
            with RunStore.open(settings.store_dir) as store:
                run_id = store.create_run(experiment="x", topology="prod", repeat=0)
                n = materialise_queries(source, store, run_id, target, start=t0 - 5, end=time.time(), step=1.0)
                series = store.load_series(run_id)
    finally:
        server.shutdown()
        server.server_close()
    assert n >= 2
    rows = series[series["metric"] == "k8s_pods_ready"]
    assert len(rows) == n and set(rows["value"]) == {5.0}  # the other namespace's 100 never summed in
    assert set(series["metric"]) == {"k8s_pods_ready"}  # the broken query was skipped, not fatal
    assert set(rows["target"]) == {"prod"}
