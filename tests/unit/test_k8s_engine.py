"""The Kubernetes engine against a recorded fake API server (tests/support/kube.py; no cluster runs here):
the exact API calls per fault, the opt-in filter, the first-run dry run, cleanup after a crash."""

from __future__ import annotations

import os
from pathlib import Path

import chaosk8s
import pytest
from kubernetes import client

from chaos import actions
from core.engine import FAULTS, Engine
from core.errors import EngineError, ExperimentError, UnsupportedFault
from core.logs import read_events
from core.settings import Settings
from engines import open_target
from engines.kubernetes.engine import KubernetesEngine
from engines.kubernetes.labels import CORDON_RUN_LABEL, CORDON_TARGET_LABEL, RUN_LABEL
from engines.kubernetes.target import KubeTarget
from engines.targets import write_target
from tests.support.kube import FakeCluster, pin_no_cluster

SEL = "app=agent,aftershock.io/chaos=enabled"
HUB_SEL = "role=hub,aftershock.io/chaos=enabled"


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCluster:
    pin_no_cluster(monkeypatch, tmp_path / "user")
    return FakeCluster.agents().install(monkeypatch)


@pytest.fixture
def target(settings: Settings) -> KubeTarget:
    t = KubeTarget(name="prod", kube_context="ctx", namespace="agents", selector="app=agent",
                   hub_selector="role=hub")
    write_target(settings, t.name, t.to_file())
    return t


def _engine(settings: Settings, target: KubeTarget, *, armed: bool = True, run: str = "r-1") -> KubernetesEngine:
    engine = open_target(settings, target.name)
    assert isinstance(engine, KubernetesEngine)
    if armed:
        engine.arm({"test": True})
    engine.begin_run(run)
    return engine


def test_environment_is_pinned_so_nothing_reaches_a_real_cluster(kube: FakeCluster) -> None:
    assert "KUBECONFIG" not in os.environ and "KUBERNETES_HOST" not in os.environ
    assert "CHAOSTOOLKIT_IN_POD" not in os.environ
    assert not chaosk8s.has_local_config_file()
    api = chaosk8s.create_k8s_api_client()
    assert api.configuration.host == "http://localhost"  # chaosk8s' fallback; the API classes are fakes
    assert client.CoreV1Api(api) is client.CoreV1Api()


def test_status_maps_pods_to_agents_zones_to_regions_and_never_lists_unopted_pods(
        settings: Settings, kube: FakeCluster, target: KubeTarget) -> None:
    engine = _engine(settings, target)
    assert isinstance(engine, Engine)
    status = engine.status()
    names = [n.name for n in status.nodes]
    assert names == ["agent-a1", "agent-a2", "agent-b1", "agent-b2", "agent-c1", "agent-c2", "hub-0"]
    assert status.regions == ["zone-a", "zone-b", "zone-c"]
    assert status.node("hub-0").role == "hub" and status.node("agent-b2").region == "zone-b"
    assert all(n.alive and n.agents[0].id == n.name for n in status.nodes)
    lists = kube.called("core.list_namespaced_pod")
    assert {kw["label_selector"] for _, kw in lists} == {SEL, HUB_SEL}
    assert {a[0] for a, _ in lists} == {"agents"}


def test_a_namespace_without_the_opt_in_label_is_refused(settings: Settings, kube: FakeCluster,
                                                          target: KubeTarget) -> None:
    kube.namespaces["agents"] = {}
    engine = open_target(settings, target.name)
    with pytest.raises(EngineError, match="lacks the opt-in label aftershock.io/chaos=enabled") as exc:
        engine.status()
    assert "\n" not in str(exc.value)
    assert kube.writes() == []


def test_kube_system_is_never_a_target() -> None:
    with pytest.raises(ValueError, match="never a chaos target"):
        KubeTarget(name="x", kube_context="c", namespace="kube-system", selector="app=a")


def test_kill_node_deletes_exactly_that_pod_through_chaostoolkit_kubernetes(
        settings: Settings, kube: FakeCluster, target: KubeTarget) -> None:
    engine = _engine(settings, target)
    kube.calls.clear()
    result = engine.kill_node("agent-b1")
    assert result["killed"] == ["agent-b1"] and result["run_id"] == "r-1"
    assert kube.writes() == [("core.delete_namespaced_pod", ("agent-b1", "agents"),
                              {"body": client.V1DeleteOptions(grace_period_seconds=0)})]
    # chaostoolkit-kubernetes listed with the opt-in selector before deleting
    chaosk8s_list = kube.calls[-2]
    assert chaosk8s_list == ("core.list_namespaced_pod", ("agents",), {"label_selector": SEL})
    assert ("agents", "agent-b1") not in kube.pods
    events = read_events(engine.event_log_path)
    assert [e["kind"] for e in events] == ["node_killed"] and events[0]["node"] == "agent-b1"


@pytest.mark.parametrize("victim", ["agent-unlabelled", "agent-other", "coredns-1", "nope"])
def test_pods_without_opt_in_or_elsewhere_are_never_deleted(settings: Settings, kube: FakeCluster,
                                                            target: KubeTarget, victim: str) -> None:
    engine = _engine(settings, target)
    with pytest.raises(ExperimentError, match="is not a target of prod"):
        engine.kill_agent(victim)
    assert kube.called("core.delete_namespaced_pod") == []


def test_blast_radius_through_the_chaos_actions_only_picks_opted_in_pods(
        settings: Settings, kube: FakeCluster, target: KubeTarget) -> None:
    _engine(settings, target)
    config = {"aftershock_home": str(settings.home), "aftershock_target": "prod"}
    result = actions.kill_node(role="agent", percent=50, seed=3, configuration=config)
    deleted = [a[0] for a, _ in kube.called("core.delete_namespaced_pod")]
    assert len(deleted) == 3 and deleted == result["killed"]
    assert set(deleted) <= {"agent-a1", "agent-a2", "agent-b1", "agent-b2", "agent-c1", "agent-c2"}


def test_first_run_is_a_dry_run_that_records_what_it_would_hit(settings: Settings, kube: FakeCluster,
                                                               target: KubeTarget) -> None:
    kube.install_chaos_mesh()
    engine = _engine(settings, target, armed=False, run="r-first")
    kube.calls.clear()
    assert engine.kill_node("agent-a1") == {"dry_run": True, "action": "kill_node",
                                            "would_hit": {"pods": ["agent-a1"]}, "target": "prod"}
    zone = engine.kill_region("zone-b")
    assert zone["would_hit"]["cordon"] == ["zone-b-n1", "zone-b-n2"]
    assert zone["would_hit"]["pods"] == ["agent-b1", "agent-b2"]
    assert engine.set_link("zone-a", "zone-b", latency_ms=50)["dry_run"] is True
    assert kube.writes() == []
    dry = engine.ledger.read()["dry_run"]
    assert dry["run_id"] == "r-first" and [h["action"] for h in dry["hits"]] == ["kill_node", "kill_region",
                                                                                   "set_link"]
    engine.end_run()
    second = open_target(settings, "prod")
    second.begin_run("r-second")
    assert second.armed
    second.kill_node("agent-a1")
    assert [m for m, _, _ in kube.writes()] == ["core.delete_namespaced_pod"]


def test_kill_region_cordons_labels_and_deletes_then_restore_uncordons(settings: Settings, kube: FakeCluster,
                                                                       target: KubeTarget) -> None:
    kube.add_node("zone-a-n3", "zone-a", unschedulable=True)  # the user's own cordon: never touched
    engine = _engine(settings, target)
    kube.calls.clear()
    result = engine.kill_region("zone-a")
    assert result["cordoned"] == ["zone-a-n1", "zone-a-n2"]
    assert result["killed"] == ["agent-a1", "agent-a2", "hub-0"]
    labels = {"metadata": {"labels": {CORDON_RUN_LABEL: "r-1", CORDON_TARGET_LABEL: "prod"}}}
    cordon = {"spec": {"unschedulable": True}}
    delete = {"body": client.V1DeleteOptions(grace_period_seconds=0)}
    assert kube.writes() == [
        ("core.patch_node", ("zone-a-n1", labels), {}), ("core.patch_node", ("zone-a-n1", cordon), {}),
        ("core.patch_node", ("zone-a-n2", labels), {}), ("core.patch_node", ("zone-a-n2", cordon), {}),
        ("core.delete_namespaced_pod", ("agent-a1", "agents"), delete),
        ("core.delete_namespaced_pod", ("agent-a2", "agents"), delete),
        ("core.delete_namespaced_pod", ("hub-0", "agents"), delete),
    ]
    assert ("core.list_node", (), {"field_selector": "metadata.name=zone-a-n1"}) in kube.calls
    assert kube.nodes["zone-a-n1"].spec.unschedulable and kube.nodes["zone-a-n3"].spec.unschedulable
    kube.calls.clear()
    assert engine.restore_region("zone-a")["restored"] == ["zone-a-n1", "zone-a-n2"]
    unlabel = {"metadata": {"labels": {CORDON_RUN_LABEL: None, CORDON_TARGET_LABEL: None}}}
    assert kube.writes() == [
        ("core.patch_node", ("zone-a-n1", {"spec": {"unschedulable": False}}), {}),
        ("core.patch_node", ("zone-a-n1", unlabel), {}),
        ("core.patch_node", ("zone-a-n2", {"spec": {"unschedulable": False}}), {}),
        ("core.patch_node", ("zone-a-n2", unlabel), {}),
    ]
    assert not kube.nodes["zone-a-n1"].spec.unschedulable and kube.nodes["zone-a-n3"].spec.unschedulable
    assert CORDON_RUN_LABEL not in kube.nodes["zone-a-n1"].metadata.labels


def test_kill_region_of_an_unknown_zone_names_the_zones(settings: Settings, kube: FakeCluster,
                                                        target: KubeTarget) -> None:
    engine = _engine(settings, target)
    with pytest.raises(ExperimentError, match=r"no zone 'zone-x'.*zone-a, zone-b, zone-c"):
        engine.kill_region("zone-x")
    assert kube.writes() == []


def test_link_faults_without_chaos_mesh_fail_in_one_line_naming_what_to_install(
        settings: Settings, kube: FakeCluster, target: KubeTarget) -> None:
    engine = _engine(settings, target)
    assert "set_link" not in engine.capabilities()
    with pytest.raises(UnsupportedFault, match="Chaos Mesh.*networkchaos.chaos-mesh.org.*helm install") as exc:
        engine.set_link("zone-a", "zone-b", cut=True)
    assert "\n" not in str(exc.value)
    assert kube.writes() == []


def test_link_faults_create_network_chaos_objects_labelled_with_the_run(settings: Settings, kube: FakeCluster,
                                                                        target: KubeTarget) -> None:
    kube.install_chaos_mesh()
    engine = _engine(settings, target, run="r-7")
    assert "set_link" in engine.capabilities()
    kube.calls.clear()
    out = engine.set_link("zone-a", "zone-b", latency_ms=40, loss=0.25)
    assert out["links"] == [{"src": "zone-a", "dst": "zone-b", "latency_ms": 40.0, "loss": 0.25, "cut": False}]
    created = kube.called("custom.create_namespaced_custom_object")
    assert [a[:4] for a, _ in created] == [("chaos-mesh.org", "v1alpha1", "agents", "networkchaos")] * 2
    delay, loss = created[0][0][4], created[1][0][4]
    assert delay["kind"] == "NetworkChaos" and delay["spec"]["action"] == "delay"
    assert delay["spec"]["delay"] == {"latency": "40ms"} and loss["spec"]["loss"] == {"loss": "25"}
    assert delay["metadata"]["labels"][RUN_LABEL] == "r-7"
    assert delay["spec"]["selector"] == {"namespaces": ["agents"],
                                         "labelSelectors": {"app": "agent", "aftershock.io/chaos": "enabled"},
                                         "nodeSelectors": {"topology.kubernetes.io/zone": "zone-a"}}
    assert delay["spec"]["target"]["selector"]["nodeSelectors"] == {"topology.kubernetes.io/zone": "zone-b"}
    assert delay["spec"]["direction"] == "to" and delay["spec"]["target"]["mode"] == "all"
    # replacing a fault deletes the old object first, under a new name
    kube.calls.clear()
    engine.set_link("zone-a", "zone-b", latency_ms=90)
    (m1, a1, _), (m2, a2, _) = kube.writes()
    assert m1 == "custom.delete_namespaced_custom_object" and a1[4] == delay["metadata"]["name"]
    assert m2 == "custom.create_namespaced_custom_object" and a2[4]["metadata"]["name"] != a1[4]
    assert engine.status().links[0].latency_ms == 90.0
    engine.set_link("zone-a", "zone-b", latency_ms=0, loss=0)
    assert kube.objects == {}


def test_partition_through_the_chaos_action_cuts_both_directions(settings: Settings, kube: FakeCluster,
                                                                 target: KubeTarget) -> None:
    kube.install_chaos_mesh()
    _engine(settings, target)
    config = {"aftershock_home": str(settings.home), "aftershock_target": "prod"}
    actions.partition_regions(region="zone-c", other="zone-a", configuration=config)
    bodies = [a[4] for a, _ in kube.called("custom.create_namespaced_custom_object")]
    pairs = sorted((b["spec"]["selector"]["nodeSelectors"]["topology.kubernetes.io/zone"],
                    b["spec"]["target"]["selector"]["nodeSelectors"]["topology.kubernetes.io/zone"]) for b in bodies)
    assert pairs == [("zone-a", "zone-c"), ("zone-c", "zone-a")]
    assert {b["spec"]["action"] for b in bodies} == {"partition"}
    actions.heal(configuration=config)
    assert kube.objects == {}


def test_the_next_start_after_a_crash_removes_what_the_dead_run_left(settings: Settings, kube: FakeCluster,
                                                                      target: KubeTarget) -> None:
    kube.install_chaos_mesh()
    engine = _engine(settings, target, run="r-crashed")
    engine.set_link("zone-a", "zone-b", cut=True)
    engine.kill_region("zone-c")
    assert len(kube.objects) == 1 and kube.nodes["zone-c-n1"].spec.unschedulable
    with engine.ledger.update() as state:  # the run's process died by kill -9: its pid is gone
        state["run"]["pid"], state["run"]["pid_started"] = 2**22 + 12345, 1.0
    engine.ledger.path.unlink()  # ... and even the ledger is lost: the labels still find everything
    kube.calls.clear()
    left = open_target(settings, "prod").begin_run("r-next")
    assert len(left["removed"]) == 1 and left["uncordoned"] == ["zone-c-n1", "zone-c-n2"]
    assert kube.objects == {} and not kube.nodes["zone-c-n1"].spec.unschedulable
    assert ("core.list_node", (), {"label_selector": "aftershock.io/cordoned-for=prod"}) in [
        (m, a, {k: v for k, v in kw.items() if k != "_request_timeout"}) for m, a, kw in kube.calls]
    # the dry-run state went with the ledger: the target is unarmed again, on the safe side
    assert not open_target(settings, "prod").armed


def test_a_target_owned_by_a_live_run_of_another_process_is_refused(settings: Settings, kube: FakeCluster,
                                                                     target: KubeTarget) -> None:
    engine = _engine(settings, target)
    with engine.ledger.update() as state:
        state["run"]["pid"], state["run"]["pid_started"] = os.getppid(), None
    with pytest.raises(EngineError, match="in use by run r-1"):
        open_target(settings, "prod").begin_run("r-2")
    with pytest.raises(EngineError, match="in use by run r-1"):
        open_target(settings, "prod").kill_node("agent-a1")
    assert kube.called("core.delete_namespaced_pod") == []


@pytest.mark.parametrize("fault,call", [
    ("pause_node", lambda e: e.pause_node("agent-a1")),
    ("resume_node", lambda e: e.resume_node("agent-a1")),
    ("restart_node", lambda e: e.restart_node("agent-a1")),
    ("throttle_node", lambda e: e.throttle_node("agent-a1", 20)),
    ("unthrottle_node", lambda e: e.unthrottle_node("agent-a1")),
])
def test_faults_the_cluster_cannot_do_are_refused_with_the_reason(settings: Settings, kube: FakeCluster,
                                                                  target: KubeTarget, fault: str, call) -> None:
    engine = _engine(settings, target)
    with pytest.raises(UnsupportedFault, match=f"kubernetes engine cannot {fault} \\(target prod\\): ") as exc:
        call(engine)
    assert "\n" not in str(exc.value)
    assert fault not in engine.capabilities() and engine.capabilities() < FAULTS
    assert kube.writes() == []


def test_pause_through_the_chaos_action_fails_with_the_engine_line(settings: Settings, kube: FakeCluster,
                                                                   target: KubeTarget) -> None:
    _engine(settings, target)
    with pytest.raises(UnsupportedFault, match="cannot freeze a pod"):
        actions.pause_node(name="agent-a1", configuration={"aftershock_home": str(settings.home),
                                                           "aftershock_target": "prod"})


def test_api_failures_become_one_line(settings: Settings, kube: FakeCluster, target: KubeTarget) -> None:
    import urllib3

    engine = open_target(settings, "prod")
    kube.fail["read_namespace"] = urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/agents",
                                                                    "Connection refused")
    with pytest.raises(EngineError, match="cannot reach the API server of kube context ctx") as exc:
        engine.status()
    assert "\n" not in str(exc.value)
    from kubernetes.client.rest import ApiException
    kube.fail["read_namespace"] = ApiException(status=403, reason="Forbidden")
    with pytest.raises(EngineError, match="refused reading namespace agents \\(HTTP 403 Forbidden\\).*RBAC"):
        engine.status()


def test_heal_is_idempotent_and_leaves_the_users_cordons(settings: Settings, kube: FakeCluster,
                                                        target: KubeTarget) -> None:
    kube.add_node("zone-b-n9", "zone-b", unschedulable=True)
    engine = _engine(settings, target)
    engine.kill_region("zone-b")
    first = engine.heal()
    assert first["uncordoned"] == ["zone-b-n1", "zone-b-n2"]
    kube.calls.clear()
    assert engine.heal() == {"target": "prod", "action": "heal", "removed": [], "uncordoned": []}
    assert kube.writes() == [] and kube.nodes["zone-b-n9"].spec.unschedulable
