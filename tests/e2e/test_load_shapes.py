"""Load shapes and the surge on a real lab: the request log records the asked rate and the clients send it."""

from __future__ import annotations

import time

import pytest

from chaos import actions
from core.logframes import read_request_log
from fleet.lab import lab_down
from fleet.loadcontrol import override_path
from fleet.topology import parse_topology
from tests.support.labutil import wait_for_requests_until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(90)]

BASE = 30.0
#: The 5 % check of the arrival process is the unit tests' (tests/unit/test_fleet_shapes.py, thousands of arrivals);
#: here a few hundred requests on a shared, loaded machine: sampling noise alone is about 4 %.
TOLERANCE = 0.15
TINY = {
    "name": "tiny-load", "kind": "decentralized", "description": "two regions of one node, fast work",
    "regions": [{"name": "us-east", "nodes": 1}, {"name": "eu-west", "nodes": 1}],
    "agents_per_node": 2, "agent_concurrency": 8, "latency_ms": {"us-east/eu-west": 5},
    "workload": {"tasks_per_s": BASE, "work_time": {"distribution": "constant", "median_ms": 2, "max_ms": 2},
                 "sessions": 400, "timeout_s": 2},
    "membership": {"preset": "lab"}, "replication": 1,
}


def test_a_surge_asks_k_times_the_rate_and_the_clients_send_it(lab, settings) -> None:
    status = lab(parse_topology(TINY))
    config = {"aftershock_home": str(settings.home), "aftershock_lab": status["name"]}
    wait_for_requests_until(status["request_log"], time.time() + 1)
    done = actions.surge_load(factor=3, duration_s=8, configuration=config)
    assert override_path(status["request_log"]).exists()
    wait_for_requests_until(status["request_log"], done["until"] + 1.5)
    lab_down(settings, status["name"])
    req = read_request_log(status["request_log"]).sort_values("ts")
    assert set(req["asked_rate"].round(3).unique()) == {BASE, 3 * BASE}
    surge = req[req["asked_rate"] == 3 * BASE]
    inside = surge[(surge["ts"] > surge["ts"].min() + 0.5) & (surge["ts"] < surge["ts"].max() - 0.5)]
    span = inside["ts"].max() - inside["ts"].min()
    assert len(inside) / span == pytest.approx(3 * BASE, rel=TOLERANCE)
    assert surge["ts"].max() <= done["until"] + 0.5  # the surge ended by itself at its deadline
    after = req[req["ts"] > done["until"] + 0.5]
    assert (after["asked_rate"] == BASE).all() and len(after) > 0
    assert (req["outcome"] == "ok").mean() > 0.99


def test_end_surge_ends_it_early(lab, settings) -> None:
    status = lab(parse_topology(TINY))
    config = {"aftershock_home": str(settings.home), "aftershock_lab": status["name"]}
    actions.surge_load(factor=2, duration_s=60, configuration=config)
    assert actions.end_surge(configuration=config)["ended"] is True
    assert not override_path(status["request_log"]).exists()
    assert actions.end_surge(configuration=config)["ended"] is False
