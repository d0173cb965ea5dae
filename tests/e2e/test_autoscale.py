"""Autoscaling on real labs: a surge makes the deployment's own orchestrator add nodes (a hub for its agents, the
mesh's leader peer for the mesh) no sooner than its scale-up delay, the quiet after it takes them away no sooner
than the scale-down delay, and a node scaled away drains: it runs nothing after it is gone, nobody declares it
dead and no request fails for it. Recomputed from the raw event, request and execution logs."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.elasticity import elasticity_summary, provisioned_agent_seconds, scale_steps
from core.logframes import read_request_log
from core.logs import read_events
from core.wait import wait_until
from fleet.lab import lab_down, lab_status
from fleet.loadcontrol import LoadOverride, write_override
from fleet.topology import parse_topology

pytestmark = [pytest.mark.lab, pytest.mark.timeout(150)]

UP_S, DOWN_S, DRAIN_S = 1.5, 4.0, 1.5
SURGE_S = 10.0
#: a decision comes within a decision period (<= 0.25 s here) of the window filling, on a loaded machine later
DECISION_SLACK_S = 1.5
#: the nodes asked for serve about a second after the decision (process start, imports, bind, join)
START_SLACK_S = 8.0
#: a mesh's leader hears each peer's load when they exchange a SWIM message: one round of n x probe period late
GOSSIP_ROUND_S = 3 * 0.25


def _elastic(kind: str) -> dict:
    topo = {
        "name": f"elastic-{kind}", "kind": kind, "description": "six single-slot agents at 25 %, surged 5x",
        "regions": [{"name": "us-east", "nodes": 2}, {"name": "eu-west", "nodes": 1}],
        "agents_per_node": 2, "agent_concurrency": 1, "agent_queue": 1, "latency_ms": {"us-east/eu-west": 20},
        "workload": {"tasks_per_s": 15, "sessions": 200, "timeout_s": 2,
                     "work_time": {"distribution": "constant", "median_ms": 100, "sigma": 0, "max_ms": 100}},
        "membership": {"preset": "test"}, "health": {"preset": "test"}, "replication": 1,
        "autoscale": {"min_agents": 6, "max_agents": 14, "target": 0.6, "scale_up_delay_s": UP_S,
                      "scale_down_delay_s": DOWN_S, "drain_s": DRAIN_S},
    }
    if kind == "centralized":
        topo["hub"] = {"region": "us-east"}
    return topo


def _events_frame(path: str) -> pd.DataFrame:
    return pd.DataFrame(read_events(Path(path)), columns=["ts", "kind", "node", "region", "agent", "by", "detail"])


@pytest.mark.parametrize("kind", ["centralized", "decentralized"])
def test_a_surge_scales_out_within_the_delays_and_the_quiet_scales_back_in_gracefully(lab, settings, kind) -> None:
    topo = parse_topology(_elastic(kind))
    status = lab(topo)
    event_log = status["event_log"]
    wait_until(lambda: time.time() - status["started_at"] > 2.0, 10, what="a baseline")
    surge_at = time.time()
    write_override(status["request_log"], LoadOverride(5.0, surge_at, surge_at + SURGE_S, by="test"))

    def scaled_back() -> bool:
        """A scale-in after the surge, and none still draining (every removal finished and logged)."""
        back = any(e["kind"] == "scaled_down" and e["ts"] > surge_at + SURGE_S for e in read_events(Path(event_log)))
        return back and not [n for n in lab_status(settings, status["name"])["nodes"] if n["status"] == "removing"]

    wait_until(scaled_back, SURGE_S + 40, interval_s=0.2, what="a scale-in after the surge")
    ended = time.time()
    lab_down(settings, status["name"])  # flushes the logs

    events = read_events(Path(event_log))
    ups = [e for e in events if e["kind"] == "scaled_up"]
    downs = [e for e in events if e["kind"] == "scaled_down"]
    assert ups, "a 5x surge on 25 % of capacity must scale out"
    # no sooner than the delay after the surge, and soon after it (a decision period plus the nodes' start)
    slack = DECISION_SLACK_S + (GOSSIP_ROUND_S if kind == "decentralized" else 0.0)
    decided = ups[0]["detail"]["decided_at"]
    assert surge_at + UP_S <= decided <= surge_at + UP_S + slack, (decided - surge_at)
    assert decided <= ups[0]["ts"] <= decided + START_SLACK_S
    expected_by = "us-east-hub" if kind == "centralized" else None
    assert all(e["by"] == expected_by for e in ups) if expected_by else all(e["by"] for e in ups)
    assert max(e["detail"]["to_agents"] for e in ups) <= 14
    # every scale-in came no sooner than the down delay after the last scale-out before it, plus the drain
    for down in downs:
        last_up = max(e["ts"] for e in ups if e["ts"] < down["ts"])
        assert down["ts"] >= last_up + DOWN_S + DRAIN_S - 0.05, (down["ts"] - last_up)
    gone = {n: e["ts"] for e in downs for n in e["detail"]["nodes"]}
    # graceful: nobody declared a removed node dead, it was not "killed", and it ran nothing once stopped
    assert not [e for e in events if e["kind"] in ("member_dead", "node_killed") and e["node"] in gone]
    if kind == "decentralized":
        trail = [(round(e["ts"] - surge_at, 2), e["kind"], e["node"], e["by"]) for e in events
                 if e["kind"] in ("scaled_up", "scaled_down", "member_left", "lab_stopped")]
        left = {e["node"] for e in events if e["kind"] == "member_left"}
        assert left == set(gone), (round(ended - surge_at, 2), trail)
    with open(status["execution_log"], newline="") as fh:
        late = [r for r in csv.DictReader(fh) if r["node"] in gone and float(r["end"]) > gone[r["node"]]]
    assert not late
    with open(status["request_log"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    first_down = min(gone.values()) - DRAIN_S
    failed = [r for r in rows if float(r["ts"]) >= first_down and r["outcome"] not in ("ok", "rejected")]
    assert not failed, f"{len(failed)} requests failed while nodes were scaled in: {failed[:3]}"

    # the analysis, from the same files: the steps, the agents provisioned and the sentence
    frame = _events_frame(event_log)
    requests = read_request_log(status["request_log"])
    e = elasticity_summary(requests, frame, surge_at, (surge_at, ended), agents_start=6, policy=True,
                           baseline=(surge_at - 2.0, surge_at), lift=surge_at + SURGE_S, sustain_s=3)
    assert e.agents_added == sum(u["detail"]["agents"] for u in ups)
    assert e.agents_removed == sum(d["detail"]["agents"] for d in downs) and e.scale_downs == len(downs)
    assert e.agents_peak == max(u["detail"]["to_agents"] for u in ups)
    assert e.text.startswith("added ")
    assert e.first_decision_s == pytest.approx(decided - surge_at, abs=1e-3)
    prov = provisioned_agent_seconds({"us-east": 4, "eu-west": 2}, scale_steps(frame), surge_at, ended)
    assert sum(prov.values()) > 6 * (ended - surge_at)  # more than the fixed fleet would have had
