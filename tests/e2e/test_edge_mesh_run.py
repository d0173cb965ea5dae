"""One real short run on the edge-mesh built-in: the library's region-loss-remote through the runner, with phones
churning meanwhile; the time to detect is the mesh's detection of a node the fault killed, never a phone's
departure by churn."""

from __future__ import annotations

import pytest

from aftershock.runner import RunPlan, run_comparison
from core.settings import Settings
from store import RunStore

pytestmark = pytest.mark.lab


def test_region_loss_on_edge_mesh_runs_and_detection_is_of_the_faults_victims(settings: Settings,
                                                                              monkeypatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_BASELINE_S", "4")
    monkeypatch.setenv("AFTERSHOCK_FAULT_S", "8")
    plan = RunPlan(experiment="region-loss-remote", topologies=["edge-mesh"], warmup_s=3, observe_s=3)
    summary = run_comparison(settings, plan)
    assert [r["status"] for r in summary["runs"]] == ["completed"]
    result = summary["results"][0]
    assert result["topology"] == "edge-mesh"
    rid = summary["runs"][0]["run_id"]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        events = store.load_events(rid).sort_values("ts").to_dict("records")
        t0 = float(store.get_run(rid)["injected_at"])
    killed = {e["node"] for e in events if e["kind"] == "node_killed"}
    assert killed and all(n.startswith("ap-south-") for n in killed)
    assert any("-phone" in n for n in killed) or any(e["kind"] == "device_left" and e["region"] == "ap-south"
                                                    for e in events), "ap-south's phones were up or away"
    assert not [e for e in events if e["kind"] == "node_migrated" and "-phone" in str(e["node"])]
    left: set[str] = set()
    first_detection = None
    for e in events:  # what the analysis must find: the first member_dead of a killed node not away by churn
        if e["kind"] == "device_left":
            left.add(e["node"])
        elif e["kind"] in ("device_joined", "node_killed"):
            left.discard(e["node"])
        elif (e["kind"] == "member_dead" and e["ts"] >= t0 and e["region"] == "ap-south" and e["node"] not in left
              and first_detection is None):
            first_detection = e["ts"] - t0
    ttd = result["metrics"]["ttd_s"]
    assert first_detection is not None and ttd == pytest.approx(first_detection, abs=1e-3)
    assert 0 < ttd < 8
