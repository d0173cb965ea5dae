"""Every chaos action against one live lab, checked by observation from outside, then healed.

One decentralized lab is shared by the module (starting one costs seconds); replacements are switched off
(``migrate: false``) so a killed node stays killed until the action's rollback brings it back, and an
autouse fixture heals the lab and waits for it to be whole after every test, even a failing one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import requests

from chaos import actions, probes
from chaos import targets as tg
from core.errors import ExperimentError
from core.settings import Settings
from core.wait import wait_until
from fleet.lab import ControlClient, lab_down, lab_up, list_labs
from tests.conftest import topology_for_tests

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = Settings(home=tmp_path_factory.mktemp("chaos-actions") / "home").ensure()
    topo = topology_for_tests("decentralized", healing={"migrate": False, "restart_delay_s": 1})
    status = lab_up(settings, topo, name="chaos-actions")
    try:
        yield {"status": status, "config": {"aftershock_home": str(settings.home), "aftershock_lab": status["name"]}}
    finally:
        if any(s["name"] == status["name"] for s in list_labs(settings)):
            lab_down(settings, status["name"])


def _whole(control: ControlClient, baseline_links: list[dict]) -> bool:
    status = control.status()
    nodes_ok = all(n["alive"] and not n["paused"] and all(a["alive"] for a in n["agents"]) for n in status["nodes"])
    return nodes_ok and status["links"] == baseline_links


@pytest.fixture(autouse=True)
def healed(shared_lab: dict[str, Any]) -> Iterator[None]:
    yield
    control = ControlClient.for_lab(shared_lab["status"])
    control.heal()
    wait_until(lambda: _whole(control, shared_lab["status"]["links"]), 20, interval_s=0.1, what="the lab healed")


@pytest.fixture
def lab(shared_lab: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], ControlClient]:
    control = ControlClient.for_lab(shared_lab["status"])
    return control.status(), shared_lab["config"], control


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def node(status: dict, name: str) -> dict:
    return next(n for n in status["nodes"] if n["name"] == name)


def test_probes_read_a_healthy_lab(lab) -> None:
    status, config, _ = lab
    wait_until(lambda: probes.request_counts(3, configuration=config)["ok"] > 20, 15, what="requests in the log")
    assert probes.availability(5, configuration=config) >= 0.95
    assert probes.availability(5, region="eu-west", configuration=config) >= 0.9
    assert 0 < probes.p99_latency(5, configuration=config) < 3
    assert probes.sessions_lost(5, configuration=config) == 0
    assert probes.agents_alive(configuration=config) == 27
    assert probes.agents_alive(region="ap-south", configuration=config) == 9
    assert probes.nodes_alive(configuration=config) == 9
    with pytest.raises(ExperimentError, match="no region 'mars'"):
        probes.availability(5, region="mars", configuration=config)


def test_kill_node_as_planned_then_heal_restarts_it(lab) -> None:
    status, config, control = lab
    plan = tg.describe_targets(status, "kill_node", {"region": "eu-west", "count": 2, "seed": 4})
    result = actions.kill_node(region="eu-west", count=2, seed=4, configuration=config)
    assert result["killed"] == plan["targets"] and len(plan["targets"]) == 2
    pids = [node(status, name)["pid"] for name in result["killed"]]
    wait_until(lambda: all(gone(p) for p in pids), 5, what="killed processes to end")
    assert probes.nodes_alive(configuration=config) == 7
    actions.heal(configuration=config)
    after = control.status()
    assert all(node(after, n)["alive"] and node(after, n)["pid"] not in pids for n in result["killed"])


def test_kill_agent_closes_its_port_and_crash_loops(lab) -> None:
    status, config, control = lab
    agent = node(status, "us-east-n2")["agents"][0]
    result = actions.kill_agent(agent=agent["id"], times=2, interval_s=0.5, configuration=config)
    with pytest.raises(requests.ConnectionError):
        requests.get(agent["url"] + "/health", timeout=2)
    assert psutil.pid_exists(node(status, "us-east-n2")["pid"])  # the node host lives on
    # Nobody restarts agents in this mesh, so the second round finds it down and says so.
    assert [k.get("skipped") for k in result["kills"]] == [None, "not serving"]
    actions.heal(configuration=config)
    wait_until(lambda: requests.get(agent["url"] + "/health", timeout=2).ok, 10, what="the agent back")


def test_kill_region_and_restore_region(lab) -> None:
    status, config, _ = lab
    pids = [n["pid"] for n in status["nodes"] if n["region"] == "ap-south"]
    result = actions.kill_region(region="ap-south", configuration=config)
    assert sorted(result["killed"]) == ["ap-south-n1", "ap-south-n2", "ap-south-n3"]
    wait_until(lambda: all(gone(p) for p in pids), 5, what="the region's processes to end")
    assert probes.agents_alive(region="ap-south", configuration=config) == 0
    restored = actions.restore_region(region="ap-south", configuration=config)
    assert sorted(restored["restored"]) == sorted(result["killed"])
    assert probes.nodes_alive(region="ap-south", configuration=config) == 3


def _proxy_get(status: dict, src: str, dst: str, timeout: float = 5.0) -> float:
    target = next(n for n in status["nodes"] if n["region"] == dst)["agents"][0]["url"] + "/health"
    t = time.perf_counter()
    requests.get(target, proxies={"http": status["proxies"][src]}, timeout=timeout).raise_for_status()
    return time.perf_counter() - t


def _best_rtt(status: dict, src: str, dst: str) -> float:
    return min(_proxy_get(status, src, dst) for _ in range(3))


def test_partition_cuts_only_the_named_pair_both_ways(lab) -> None:
    status, config, _ = lab
    result = actions.partition_regions(region="us-east", other="eu-west", configuration=config)
    assert sorted(result["cut"]) == ["eu-west->us-east", "us-east->eu-west"]
    for src, dst in (("us-east", "eu-west"), ("eu-west", "us-east")):
        with pytest.raises(requests.Timeout):
            _proxy_get(status, src, dst, timeout=1.0)
    assert _proxy_get(status, "us-east", "ap-south") < 1.0
    actions.heal_links(configuration=config)
    assert _proxy_get(status, "us-east", "eu-west") < 1.0


def test_add_latency_is_measured_through_the_proxy_and_healed(lab) -> None:
    status, config, _ = lab
    base = _best_rtt(status, "us-east", "ap-south")
    actions.add_latency(src="us-east", dst="ap-south", latency_ms=250, configuration=config)
    slowed = _best_rtt(status, "us-east", "ap-south")
    assert slowed - base >= 0.45  # +250 ms each way
    actions.heal_links(src="*", dst="*", configuration=config)
    assert _best_rtt(status, "us-east", "ap-south") < base + 0.1


def test_add_loss_drops_requests_on_one_direction(lab) -> None:
    status, config, control = lab
    result = actions.add_loss(src="eu-west", dst="ap-south", loss=1.0, both_directions=False, configuration=config)
    assert [(li["src"], li["dst"], li["loss"]) for li in result["links"]] == [("eu-west", "ap-south", 1.0)]
    with pytest.raises(requests.Timeout):
        _proxy_get(status, "eu-west", "ap-south", timeout=1.0)
    assert _proxy_get(status, "ap-south", "us-east") < 1.0
    actions.heal_links(configuration=config)
    assert all(li["loss"] == 0 for li in control.status()["links"])
    assert _proxy_get(status, "eu-west", "ap-south") < 1.0


def test_pause_silences_a_node_and_resume_without_target_wakes_it(lab) -> None:
    status, config, _ = lab
    result = actions.pause_node(region="ap-south", count=1, seed=2, configuration=config)
    (name,) = result["paused"]
    metrics = node(status, name)["metrics_url"]
    with pytest.raises(requests.Timeout):
        requests.get(metrics, timeout=1)
    assert psutil.Process(node(status, name)["pid"]).status() == psutil.STATUS_STOPPED
    assert probes.nodes_alive(configuration=config) == 8
    assert probes.nodes_alive(include_paused=True, configuration=config) == 9
    assert actions.resume_node(configuration=config)["resumed"] == [name]
    assert requests.get(metrics, timeout=5).status_code == 200


def test_churn_kills_at_a_rate_and_restarts(lab) -> None:
    _, config, control = lab
    start = time.monotonic()
    result = actions.churn(duration_s=3.0, interval_s=1.0, role="agent", restart_after_s=0.3, seed=3,
                           configuration=config)
    assert 3.0 <= time.monotonic() - start < 20  # restarts are synchronous and slow on a loaded machine
    kills = [e for e in result["events"] if e["kind"] == "killed"]
    assert 1 <= len(kills) <= 3 and result["killed"] == [e["node"] for e in kills]
    assert all(b["ts"] - a["ts"] >= 0.45 for a, b in zip(kills, kills[1:], strict=False))  # a rate, not a burst
    assert {e["node"] for e in result["events"] if e["kind"] == "restarted"} == set(result["killed"])
    assert all(n["alive"] for n in control.status()["nodes"])


def test_heal_brings_back_everything_at_once(lab) -> None:
    status, config, control = lab
    actions.kill_node(name="us-east-n1", configuration=config)
    actions.pause_node(name="eu-west-n1", configuration=config)
    actions.partition_regions(region="ap-south", configuration=config)
    broken = control.status()
    assert not node(broken, "us-east-n1")["alive"] and node(broken, "eu-west-n1")["paused"]
    assert sum(li["cut"] for li in broken["links"]) == 4
    result = actions.heal(configuration=config)
    assert result["result"]["resumed"] == ["eu-west-n1"] and result["result"]["restarted"] == ["us-east-n1"]
    assert _whole(control, status["links"])


def test_blast_radius_errors_reach_the_experiment(lab) -> None:
    _, config, _ = lab
    with pytest.raises(ExperimentError, match="asked for 20"):
        actions.kill_node(role="agent", count=20, configuration=config)
    assert actions.kill_node(role="agent", count=0, configuration=config)["killed"] == []
    assert math.isclose(probes.nodes_alive(configuration=config), 9)


def _mean_response_s(url: str, n: int = 15, gap_s: float = 0.037) -> float:
    """Mean time to answer, requests spaced by a gap that does not divide the 100 ms duty cycle, so they
    land at every phase of it (back-to-back requests would ride one running slice)."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        requests.get(url, timeout=10).raise_for_status()
        times.append(time.perf_counter() - start)
        time.sleep(gap_s)  # sampling interval, not synchronisation
    return sum(times) / n


def test_stress_starves_a_node_of_cpu_and_relieve_gives_it_back(lab) -> None:
    status, config, control = lab
    target = node(status, "eu-west-n2")
    baseline = _mean_response_s(target["metrics_url"])
    result = actions.stress_node(name="eu-west-n2", cpu_percent=10, configuration=config)
    assert result["stressed"] == ["eu-west-n2"]
    assert next(n for n in control.status()["nodes"] if n["name"] == "eu-west-n2")["cpu_percent"] == 10
    proc = psutil.Process(target["pid"])
    states = []
    for _ in range(60):  # sampled from outside every 7 ms: the node is stopped most of the time
        states.append(proc.status())
        time.sleep(0.007)
    assert states.count(psutil.STATUS_STOPPED) >= 0.6 * len(states)
    stressed = _mean_response_s(target["metrics_url"])
    assert stressed >= baseline + 0.015, (baseline, stressed)
    assert actions.relieve_node(configuration=config)["relieved"] == ["eu-west-n2"]
    assert proc.status() != psutil.STATUS_STOPPED
    assert _mean_response_s(target["metrics_url"]) < stressed
