"""The engine contract (``core.engine.Engine``), one suite run against every engine: the embedded lab and Ray.

Every engine brings the same small topology up (3 regions, 4 nodes), answers ``status()`` with the contract's
typed record, performs every fault it claims from outside the agents, and heals back to the topology. The Ray
deployment runs inside a network namespace that has only loopback (``tests/support/netns.py``) on a local
3-region cluster that the engine starts and stops.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from chaos.targets import describe_targets
from core.engine import FAULTS, Engine
from core.records import LabStatus
from core.settings import Settings
from core.wait import wait_until
from engines.ray.engine import RayEngine, ray_lab_up
from fleet.engine import LabEngine
from fleet.lab import lab_down, lab_up, list_labs
from fleet.topology import Topology
from tests.conftest import topology_for_tests
from tests.support.labutil import alive, events, requests_between, wait_for_requests_until
from tests.support.netns import loopback_netns

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]


def small_topology() -> Topology:
    """3 regions, 4 nodes of 2 agents: small enough for a Ray cluster on 2 cores, every fault still meaningful."""
    topo = topology_for_tests(
        "decentralized",
        regions=[{"name": "us-east", "nodes": 2}, {"name": "eu-west", "nodes": 1}, {"name": "ap-south", "nodes": 1}],
        agents_per_node=2, workload={"tasks_per_s": 12, "sessions": 60},
        healing={"restart_delay_s": 60, "migrate": False})  # nobody but the test restarts what it kills
    return topo.model_copy(update={"name": "contract"})


@pytest.fixture(scope="module", params=["lab", "ray"])
def deployment(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[Engine, Settings]]:
    settings = Settings(home=tmp_path_factory.mktemp(f"contract-{request.param}")).ensure()
    if request.param == "lab":
        status = lab_up(settings, small_topology(), name="contract-lab")
        try:
            yield LabEngine(settings, status["name"]), settings
        finally:
            if any(s["name"] == status["name"] for s in list_labs(settings)):
                lab_down(settings, status["name"])
        return
    with loopback_netns():
        status = ray_lab_up(settings, small_topology(), name="contract-ray", num_cpus=1)
        try:
            yield RayEngine(settings, status["name"]), settings
        finally:
            if any(s["name"] == status["name"] for s in list_labs(settings)):
                lab_down(settings, status["name"])


@pytest.fixture
def engine(deployment: tuple[Engine, Settings]) -> Iterator[Engine]:
    """The deployment, healed back to its topology after each test (also when the test failed)."""
    eng = deployment[0]
    yield eng
    eng.heal()
    wait_until(lambda: all(n.alive and not n.paused for n in eng.status().nodes), 180, interval_s=0.2,
               what="every node back after heal")


def _serving(eng: Engine, node: str) -> bool:
    rec = eng.status().node(node)
    return bool(rec and rec.alive and rec.status == "running")


def test_is_an_engine_with_every_fault(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    assert engine.engine in ("lab", "ray")
    assert engine.capabilities() == FAULTS


def test_status_names_regions_nodes_agents_and_logs(engine: Engine) -> None:
    status = engine.status()
    assert isinstance(status, LabStatus) and status.ready and status.engine == engine.engine
    assert status.regions == ["us-east", "eu-west", "ap-south"]
    assert sorted(len(status.nodes_in(r)) for r in status.regions) == [1, 1, 2]
    for node in status.nodes:
        assert node.alive and node.role == "agent" and len(node.agents) == 2
        assert psutil.pid_exists(node.pid) and alive([node.pid]) == [node.pid]  # a real process per node
        assert all(a.alive and a.url.startswith("http://127.0.0.1:") for a in node.agents)
    start = time.time()
    wait_for_requests_until(status.request_log, start + 3)
    rows = requests_between(status.request_log, start, start + 3)
    assert rows and {r["client_region"] for r in rows} <= set(status.regions)
    assert {"node_started", "lab_started"} <= {e["kind"] for e in events(status.event_log)}


def test_metrics_endpoints_speak_prometheus(engine: Engine) -> None:
    status = engine.status()
    for node in status.nodes:
        names = {f.name for f in text_string_to_metric_families(requests.get(node.metrics_url, timeout=10).text)}
        assert {"aftershock_agents_alive", "aftershock_tasks"} <= names
    extra: list[dict[str, Any]] = list(getattr(status, "engine_metrics", None) or [])
    if engine.engine == "ray":  # Ray's own Prometheus export, one per Ray node, labelled by region
        assert {e["labels"]["region"] for e in extra} >= set(status.regions)
        text = requests.get(extra[0]["url"], timeout=10).text
        assert any(f.name.startswith("ray_") for f in text_string_to_metric_families(text))
    else:
        assert extra == []


def test_kill_node_is_sigkill_from_outside_and_restart_brings_it_back(engine: Engine) -> None:
    victim = engine.status().nodes_in("eu-west")[0]
    out = engine.kill_node(victim.name)
    assert out["killed"] is True
    assert not psutil.pid_exists(victim.pid) or alive([victim.pid]) == []
    after = engine.status().node(victim.name)
    assert after is not None and not after.alive and after.status == "killed"
    kinds = [e for e in events(engine.status().event_log, "node_killed") if e["node"] == victim.name]
    assert kinds, "the kill is in the event log"
    engine.restart_node(victim.name)
    wait_until(lambda: _serving(engine, victim.name), 120, interval_s=0.2, what="the node restarted")
    back = engine.status().node(victim.name)
    assert back is not None and back.pid != victim.pid
    assert any(e["node"] == victim.name for e in events(engine.status().event_log, "node_restarted"))


def test_kill_agent_then_heal(engine: Engine) -> None:
    node = engine.status().nodes_in("us-east")[0]
    agent = node.agents[0].id
    engine.kill_agent(agent)
    rec = engine.status().node(node.name)
    assert rec is not None and rec.alive and not next(a for a in rec.agents if a.id == agent).alive
    engine.heal()
    wait_until(lambda: all(a.alive for a in engine.status().node(node.name).agents), 60, interval_s=0.2,
               what="the agent back")


def test_pause_and_resume_stop_and_continue_the_process(engine: Engine) -> None:
    node = engine.status().nodes_in("ap-south")[0]
    engine.pause_node(node.name)
    assert psutil.Process(node.pid).status() == psutil.STATUS_STOPPED
    assert engine.status().node(node.name).paused
    engine.resume_node(node.name)
    assert psutil.Process(node.pid).status() != psutil.STATUS_STOPPED
    assert not engine.status().node(node.name).paused


def test_throttle_and_unthrottle(engine: Engine) -> None:
    node = engine.status().nodes_in("us-east")[1]
    engine.throttle_node(node.name, 30)
    assert engine.status().node(node.name).cpu_percent == 30
    engine.unthrottle_node(node.name)
    assert engine.status().node(node.name).cpu_percent is None


def test_links_are_cut_and_slowed_per_region_pair_and_heal_resets_them(engine: Engine) -> None:
    engine.set_link("us-east", "eu-west", cut=True)
    engine.set_link("eu-west", "ap-south", latency_ms=250, loss=0.2)
    links = {(link.src, link.dst): link for link in engine.status().links}
    assert links[("us-east", "eu-west")].cut and not links[("eu-west", "us-east")].cut
    assert links[("eu-west", "ap-south")].latency_ms == 250 and links[("eu-west", "ap-south")].loss == 0.2
    engine.heal()
    assert not any(link.cut or link.loss for link in engine.status().links)


def test_kill_region_and_restore(engine: Engine) -> None:
    before = engine.status()
    victims = before.nodes_in("us-east")
    out = engine.kill_region("us-east")
    assert sorted(out["killed"]) == sorted(n.name for n in victims)
    assert alive([n.pid for n in victims]) == []
    status = engine.status()
    assert not any(n.alive for n in status.nodes_in("us-east"))
    assert all(n.alive for n in status.nodes if n.region != "us-east")
    if engine.engine == "ray":  # the region's Ray node itself is gone, in Ray's own view
        assert out["ray_nodes_killed"] is True
        wait_until(lambda: any(e["region"] == "us-east" for e in events(status.event_log, "ray_node_dead")),
                   60, interval_s=0.2, what="Ray declaring the region's node dead")
    engine.restore_region("us-east")
    wait_until(lambda: all(n.alive for n in engine.status().nodes_in("us-east")), 180, interval_s=0.2,
               what="the region restored")
    kinds = {e["kind"] for e in events(status.event_log) if e.get("region") == "us-east"}
    assert {"region_killed", "region_restored", "node_restarted"} <= kinds


def test_the_dry_run_plan_names_what_exists(engine: Engine) -> None:
    status = engine.status().to_json()
    plan = describe_targets(status, "kill_node", {"region": "eu-west", "count": 1, "seed": 1})
    in_region = [n["name"] for n in status["nodes"] if n["region"] == "eu-west"]
    assert plan["kind"] == "node" and plan["targets"] == in_region
    assert describe_targets(status, "kill_region", {"region": "ap-south"})["targets"] == ["ap-south"]
    assert all(n.alive for n in engine.status().nodes), "a plan breaks nothing"
