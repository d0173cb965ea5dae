"""The edge-mesh built-in as real processes: phones of a node class with their own last mile and churn.

One lab for the module (phones churning on a short fixed schedule so a round fits in seconds): it comes up and
converges with every node's class in the status, the phones leave and rejoin when their seeded schedule says
(a heal in the middle leaves the schedule going), the mesh never replaces a phone, and a phone's agent is farther
away than a regular node's by about its class's last mile, measured from outside through the link layer, with a
chaos link fault still applying on top.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from core.settings import Settings
from core.wait import wait_until
from fleet.lab import ControlClient, lab_down, lab_status, lab_up
from fleet.nodeclasses import Churn
from fleet.supervisor.churn import churn_timeline
from tests.conftest import topology_for_tests
from tests.support.labutil import availability, events, requests_between, wait_for_requests_until

pytestmark = pytest.mark.lab

CHURN = {"up_s": 7, "down_s": 5, "distribution": "fixed"}
PHONE = {"agents_per_node": 1, "agent_concurrency": 1, "link": {"latency_ms": 30, "jitter_ms": 10, "loss": 0.01},
         "churn": CHURN}
SEED = 1


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, Any]]]:
    settings = Settings(home=tmp_path_factory.mktemp("edge")).ensure()
    topo = topology_for_tests("edge-mesh", node_classes={"phone": PHONE})
    status = lab_up(settings, topo, name="edge-mesh-test", seed=SEED)
    try:
        yield settings, status
    finally:
        lab_down(settings, status["name"])


def _started_at(status: dict[str, Any]) -> float:
    """The churn schedule runs from the moment the lab is ready, which ``lab_started`` marks."""
    return events(status["event_log"], "lab_started")[0]["ts"]


def test_edge_mesh_comes_up_converged_and_shows_each_nodes_class(edge) -> None:
    settings, status = edge
    classes = {n["name"]: n["class"] for n in status["nodes"]}
    assert len(classes) == 18
    assert sorted(n for n, c in classes.items() if c == "phone") == sorted(
        f"{r}-phone{i}" for r in ("us-east", "eu-west", "ap-south") for i in range(1, 5))
    assert {c for n, c in classes.items() if "-n" in n} == {"default"}
    assert all(len(n["agents"]) == (1 if n["class"] == "phone" else 3) for n in status["nodes"])
    assert set(status["class_proxies"]) == {"us-east/phone", "eu-west/phone", "ap-south/phone"}
    start = time.time()
    wait_for_requests_until(status["request_log"], start + 8)
    rows = requests_between(status["request_log"], start, start + 8)
    assert availability(rows) >= 0.95  # phones churn and lose 1 % of messages; the mesh keeps serving
    assert {r["served_region"] for r in rows if r["outcome"] == "ok"} == {"us-east", "eu-west", "ap-south"}
    assert any("-phone" in r["agent"] for r in rows if r["outcome"] == "ok"), "the phones' agents serve tasks too"


def test_phones_leave_and_rejoin_on_their_schedule_and_a_heal_leaves_it_going(edge) -> None:
    settings, status = edge
    t0 = _started_at(status)
    spec = Churn.model_validate(CHURN)
    phones = [n["name"] for n in status["nodes"] if n["class"] == "phone"]

    def left(node: str) -> list[float]:
        return [e["ts"] - t0 for e in events(status["event_log"], "device_left") if e["node"] == node]

    # a heal while some phone is away: churn is the environment, heal reverts faults only
    wait_until(lambda: any(n["status"] == "away" for n in lab_status(settings, status["name"])["nodes"]),
               30, interval_s=0.1, what="a phone away")
    ControlClient.for_lab(status).heal()
    after_heal = lab_status(settings, status["name"])
    assert any(n["status"] == "away" for n in after_heal["nodes"]), "heal brought a departed phone back early"

    wait_until(lambda: all(len(left(p)) >= 2 for p in phones), 60, interval_s=0.2,
               what="every phone to leave twice")
    joined = {p: [e["ts"] - t0 for e in events(status["event_log"], "device_joined") if e["node"] == p]
              for p in phones}
    for phone in phones:
        planned = churn_timeline(spec, SEED, phone, 120)
        want_left = [t for t, k in planned if k == "left"]
        want_joined = [t for t, k in planned if k == "joined"]
        # the first departure is on time; none is ever early. A rejoin is logged once the new process serves
        # (seconds late when a dozen processes start at once on a loaded machine) and a departure never comes
        # before its time, nor before the rejoin it follows: so lateness carries over, never earliness.
        assert want_left[0] - 0.1 <= left(phone)[0] <= want_left[0] + 2.0, phone
        assert want_joined[0] - 0.1 <= joined[phone][0] <= want_joined[0] + 20.0, phone
        assert max(want_left[1], joined[phone][0]) - 0.1 <= left(phone)[1] <= max(want_left[1], joined[phone][0]) + 8.0
    every = events(status["event_log"])
    assert not [e for e in every if e["kind"] == "node_migrated" and "-phone" in e["node"]], "a phone was replaced"
    assert [e for e in every if e["kind"] == "member_dead" and "-phone" in e["node"]], "SWIM never saw a phone go"
    assert not [e for e in every if e["kind"] == "node_killed" and e.get("detail", {}).get("unexpected")]


def _rtt_ms(url: str, proxy: str, calls: int = 12) -> float | None:
    """Median round trip of an agent's /health through an egress proxy (a lost message times out: skipped)."""
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        try:
            requests.get(f"{url}/health", proxies={"http": proxy}, timeout=1.5).raise_for_status()
        except requests.RequestException:
            continue
        times.append(1000 * (time.perf_counter() - began))
    return statistics.median(times) if len(times) >= calls // 2 else None


def _median_rtt(settings: Settings, lab: str, node_name: str, proxy: str) -> float:
    """The node's agent, measured while it is up (a phone may leave mid-measurement: measure again)."""
    def measured() -> float | None:
        node = next(n for n in lab_status(settings, lab)["nodes"] if n["name"] == node_name)
        return _rtt_ms(node["agents"][0]["url"], proxy) if node["status"] == "running" else None

    return wait_until(measured, 40, interval_s=0.2, what=f"a round trip to {node_name}")


def test_a_phones_agent_is_farther_by_its_last_mile_and_link_faults_still_apply(edge) -> None:
    settings, status = edge
    proxy = status["proxies"]["us-east"]
    regular = _median_rtt(settings, status["name"], "us-east-n1", proxy)
    phone = _median_rtt(settings, status["name"], "us-east-phone1", proxy)
    # +30 ms each way, jitter 0..10 ms each way: about 70 ms more per round trip
    assert 50 <= phone - regular <= 130, (regular, phone)
    remote_phone = _median_rtt(settings, status["name"], "eu-west-phone1", proxy)
    assert 50 + 70 <= remote_phone - regular <= 130 + 100, (regular, remote_phone)  # + 2 x 40 ms of region link
    control = ControlClient.for_lab(status)
    try:
        control.set_link("us-east", "eu-west", latency_ms=240)  # +200 ms on the way out
        slowed = _median_rtt(settings, status["name"], "eu-west-phone1", proxy)
    finally:
        control.heal()
    assert 150 <= slowed - remote_phone <= 300, (remote_phone, slowed)
