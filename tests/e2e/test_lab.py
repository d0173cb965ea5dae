"""The lab with real processes and sockets: topologies serve, fail and recover as they should."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from core.wait import wait_until
from fleet.lab import ControlClient, lab_down, lab_status, lab_up
from fleet.topology import load_topology
from tests.conftest import topology_for_tests
from tests.support.labutil import (
    alive,
    availability,
    events,
    lab_pids,
    recovered_for,
    requests_between,
    wait_for_requests_until,
)

pytestmark = pytest.mark.lab


def test_every_topology_serves_its_workload(lab) -> None:
    """All three labs up at once, measured over the same 10 s window."""
    labs = {name: lab(name) for name in ("centralized", "decentralized", "hybrid")}
    start = time.time()
    for topology, status in labs.items():
        wait_for_requests_until(status["request_log"], start + 10)
        rows = requests_between(status["request_log"], start, start + 10)
        topo = load_topology(topology)
        assert len(rows) >= 0.6 * topo.workload.tasks_per_s * 10, topology  # the load generator keeps its rate
        assert availability(rows) >= 0.99, topology
        assert {r["client_region"] for r in rows} == set(topo.region_names)
        assert all(r["session_ok"] == "1" for r in rows if r["outcome"] == "ok"), topology
        names = set()
        for node in status["nodes"] + [status["clients"]]:
            text = requests.get(node["metrics_url"], timeout=5).text
            names |= {f.name for f in text_string_to_metric_families(text)}
        assert {"aftershock_agents_alive", "aftershock_tasks", "aftershock_members_alive",
                "aftershock_client_requests", "aftershock_client_request_duration_seconds"} <= names


@pytest.fixture(scope="module")
def shared_mesh(tmp_path_factory) -> Iterator[dict]:
    """One decentralized lab for the tests that heal what they break."""
    settings = Settings(home=tmp_path_factory.mktemp("mesh")).ensure()
    status = lab_up(settings, "decentralized", name="shared-mesh")
    try:
        yield status
    finally:
        lab_down(settings, status["name"])


@pytest.fixture
def mesh(shared_mesh: dict) -> Iterator[dict]:
    yield shared_mesh
    ControlClient.for_lab(shared_mesh).heal()


def swim_detection_bound_s(membership: dict, n_members: int) -> float:
    """Worst case until some member declares a dead peer dead: the victim may be last in a prober's
    shuffled round (n-1 periods), the probe and indirect probes take a period, then the suspicion
    timeout runs out; plus a second of scheduling slack on a loaded 2-core machine."""
    period = membership["probe_period_s"]
    suspicion = membership["suspicion_mult"] * max(1.0, math.log10(n_members)) * period
    return (n_members - 1) * period + period + suspicion + 1.0


def test_decentralized_detects_a_killed_node_within_the_swim_bound_and_recovers(lab) -> None:
    status = lab("decentralized")
    control = ControlClient.for_lab(status)
    victim = "eu-west-n2"
    killed_at = time.time()
    control.kill_node(victim)
    bound = swim_detection_bound_s(status["membership"], len(status["nodes"]))
    deaths = wait_until(lambda: [e for e in events(status["event_log"], "member_dead") if e["node"] == victim],
                        bound + 5, what=f"a member_dead event for {victim}")
    detected_after = deaths[0]["ts"] - killed_at
    assert deaths[0]["by"] != victim
    assert 0 < detected_after <= bound, f"detected after {detected_after:.2f}s, bound {bound:.2f}s"
    # The survivors spawn a replacement after the restart delay; service is back to normal after that.
    restart_delay = status["healing"]["restart_delay_s"]
    wait_until(lambda: events(status["event_log"], "node_migrated"), bound + restart_delay + 15,
               what="a replacement node")
    wait_until(lambda: recovered_for(status, 8.0), 60, interval_s=0.5, what="availability back at 99%")
    assert len([n for n in lab_status_nodes(status) if n["alive"]]) == len(status["nodes"])


def lab_status_nodes(status: dict) -> list[dict]:
    return ControlClient.for_lab(status).status()["nodes"]


def test_centralized_home_region_loss_is_an_outage_until_restored(lab) -> None:
    status = lab("centralized")
    control = ControlClient.for_lab(status)
    killed_at = time.time()
    control.kill_region("us-east")
    wait_for_requests_until(status["request_log"], killed_at + 5)
    assert availability(requests_between(status["request_log"], killed_at + 1, killed_at + 5)) <= 0.05
    control.restore_region("us-east")
    # Back once the hub has health-checked its agents again: 5 s in a row at >= 99%.
    wait_until(lambda: recovered_for(status, 5.0), 90, interval_s=0.5, what="service to come back")
    kinds = [e["kind"] for e in events(status["event_log"])]
    assert "region_killed" in kinds and "region_restored" in kinds


def test_decentralized_serves_both_sides_of_a_partition(mesh) -> None:
    status = mesh
    control = ControlClient.for_lab(status)
    control.set_link("us-east", "eu-west", cut=True)
    control.set_link("eu-west", "us-east", cut=True)
    start = time.time()
    wait_for_requests_until(status["request_log"], start + 8)
    for region in ("us-east", "eu-west"):
        assert availability(requests_between(status["request_log"], start, start + 8, region)) >= 0.97
    links = {(li["src"], li["dst"]): li for li in control.status()["links"]}
    assert links[("us-east", "eu-west")]["cut"] and not links[("us-east", "ap-south")]["cut"]
    control.heal()
    assert not any(li["cut"] for li in control.status()["links"])


def test_link_latency_is_applied_between_regions(mesh) -> None:
    """Measured from outside: a call through the us-east egress proxy to an ap-south agent."""
    status = mesh
    control = ControlClient.for_lab(status)
    target = next(n for n in status["nodes"] if n["region"] == "ap-south")["agents"][0]["url"] + "/health"
    proxy = {"http": status["proxies"]["us-east"]}

    def round_trip() -> float:
        best = math.inf
        for _ in range(5):
            t = time.perf_counter()
            requests.get(target, proxies=proxy, timeout=10).raise_for_status()
            best = min(best, time.perf_counter() - t)
        return best

    base = round_trip()
    assert base >= 2 * 0.090  # 90 ms each way in the topology
    control.set_link("us-east", "ap-south", latency_ms=400)
    slowed = round_trip()
    assert slowed - base >= 0.3  # +310 ms one way
    control.heal()
    assert round_trip() < base + 0.1


def test_control_api_requires_the_token(mesh) -> None:
    status = mesh
    resp = requests.post(f"{status['control_url']}/kill-node", json={"node": "us-east-n1"}, timeout=5)
    assert resp.status_code == 401
    assert all(n["alive"] for n in ControlClient.for_lab(status).status()["nodes"])
    assert status["control_url"].startswith("http://127.0.0.1:")
    assert oct(os.stat(status["token_file"]).st_mode & 0o777) == "0o600"


def test_pause_silences_a_node_and_resume_brings_it_back(mesh) -> None:
    status = mesh
    control = ControlClient.for_lab(status)
    node = next(n for n in status["nodes"] if n["name"] == "ap-south-n1")
    control.pause_node(node["name"])
    with pytest.raises(requests.Timeout):
        requests.get(node["metrics_url"], timeout=1)
    control.resume_node(node["name"])
    assert requests.get(node["metrics_url"], timeout=5).status_code == 200


def test_no_process_survives_kill_9_of_the_supervisor(lab, settings) -> None:
    status = lab("hybrid")
    pids = lab_pids(status)
    assert len(alive(pids)) == len(pids)
    os.kill(status["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(pids), 5.0, what="every lab process to end")
    with pytest.raises(Exception, match="no running lab"):
        lab_status(settings, status["name"])


def test_centralized_warm_standby_takes_over_when_the_hub_dies(lab) -> None:
    topo = topology_for_tests("centralized", regions=[{"name": "us-east", "nodes": 3}, {"name": "eu-west", "nodes": 0},
                                                      {"name": "ap-south", "nodes": 0}],
                              hub={"region": "us-east", "standby": {"region": "eu-west", "failover_delay_s": 2.0}})
    status = lab(topo)
    control = ControlClient.for_lab(status)
    killed_at = time.time()
    control.kill_node("us-east-hub")
    failover = wait_until(lambda: events(status["event_log"], "hub_failover"), 30, what="the standby to take over")
    assert failover[0]["node"] == "eu-west-standby"
    assert failover[0]["ts"] - killed_at >= 2.0  # never before its failover delay
    wait_until(lambda: recovered_for(status, 3.0), 60, interval_s=0.5, what="clients served by the standby")
    served = {r["served_region"] for r in requests_between(status["request_log"], time.time() - 8, time.time() - 4)
              if r["outcome"] == "ok"}
    assert served == {"eu-west"}
