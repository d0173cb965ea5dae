"""Target selection, plans, log tail reading and lab resolution: pure functions, no lab needed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from chaos import targets as tg
from chaos.control import run_status
from chaos.labref import resolve_lab, resolve_settings
from core.errors import ExperimentError, UserError
from core.logs import read_events_since, read_requests_since, tail_lines
from core.settings import Settings

pytestmark = pytest.mark.timeout(30)


def _node(name: str, region: str, role: str = "agent", alive: bool = True, paused: bool = False, **extra) -> dict:
    agents = [] if role == "hub" else [{"id": f"{name}-a{i}", "url": f"http://127.0.0.1:1/{name}{i}", "alive": alive}
                                       for i in (1, 2)]
    return {"name": name, "region": region, "role": role, "alive": alive, "paused": paused, "agents": agents,
            "replaced_by": None, "status": "running" if alive else "killed", **extra}


STATUS = {
    "name": "lab-t",
    "regions": ["us-east", "eu-west", "ap-south"],
    "nodes": [
        _node("us-east-hub", "us-east", role="hub"),
        *[_node(f"{r}-n{i}", r) for r in ("us-east", "eu-west", "ap-south") for i in (1, 2, 3)],
        _node("eu-west-n4", "eu-west", alive=False),
        _node("ap-south-n4", "ap-south", paused=True),
        _node("ap-south-n5", "ap-south", alive=False, replaced_by="us-east-n4"),
    ],
    "links": [{"src": a, "dst": b, "latency_ms": 40.0, "loss": 0.0, "cut": False}
              for a in ("us-east", "eu-west", "ap-south") for b in ("us-east", "eu-west", "ap-south") if a != b],
}


def names(nodes: list[dict]) -> list[str]:
    return [n["name"] for n in nodes]


def test_filters_by_region_role_and_state() -> None:
    assert names(tg.node_candidates(STATUS, region="eu-west")) == ["eu-west-n1", "eu-west-n2", "eu-west-n3"]
    assert names(tg.node_candidates(STATUS, role="hub")) == ["us-east-hub"]
    assert names(tg.node_candidates(STATUS, state="paused")) == ["ap-south-n4"]
    assert names(tg.node_candidates(STATUS, state="dead")) == ["eu-west-n4"]  # the replaced slot is not counted
    assert len(tg.node_candidates(STATUS, role="agent")) == 9
    assert names(tg.node_candidates(STATUS, region="us-east,eu-west", role="agent"))[:2] == ["eu-west-n1",
                                                                                             "eu-west-n2"]


def test_named_targets_are_hit_exactly_and_unnamed_default_to_one() -> None:
    assert names(tg.select_nodes(STATUS, name=["us-east-n1", "eu-west-n2"])) == ["eu-west-n2", "us-east-n1"]
    assert len(tg.select_nodes(STATUS, role="agent", seed=1)) == 1


@pytest.mark.parametrize("count", [0, 1, 3, 9])
def test_blast_radius_count(count: int) -> None:
    assert len(tg.select_nodes(STATUS, role="agent", count=count, seed=7)) == count


@pytest.mark.parametrize(("percent", "expected"), [(0, 0), (10, 1), (34, 4), (50, 5), (100, 9)])
def test_blast_radius_percent_rounds_up(percent: float, expected: int) -> None:
    assert len(tg.select_nodes(STATUS, role="agent", percent=percent, seed=7)) == expected


@pytest.mark.parametrize("seed", [1, 2, "x"])
def test_same_seed_same_victims(seed) -> None:
    first = names(tg.select_nodes(STATUS, role="agent", count=3, seed=seed))
    assert first == names(tg.select_nodes(STATUS, role="agent", count=3, seed=seed))
    assert first == sorted(first)


def test_different_seeds_spread_victims() -> None:
    picks = {tuple(names(tg.select_nodes(STATUS, role="agent", count=2, seed=s))) for s in range(20)}
    assert len(picks) > 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "mars"}, "no region 'mars'"),
        ({"name": "nope"}, "no node 'nope'"),
        ({"role": "robot"}, "role 'robot'"),
        ({"role": "hub", "region": "eu-west"}, "no alive nodes match"),
        ({"role": "agent", "count": 10}, "asked for 10"),
        ({"role": "agent", "count": 1, "percent": 10}, "not both"),
        ({"role": "agent", "count": -1}, "whole number"),
        ({"role": "agent", "percent": 120}, "0..100"),
    ],
)
def test_bad_selections_are_experiment_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        tg.select_nodes(STATUS, **kwargs)
    assert issubclass(ExperimentError, UserError)


def test_agents_only_on_serving_nodes() -> None:
    agents = tg.agent_candidates(STATUS, region="ap-south")
    assert {a["node"] for a in agents} == {"ap-south-n1", "ap-south-n2", "ap-south-n3"}
    assert [a["id"] for a in tg.select_agents(STATUS, agent="us-east-n1-a2")] == ["us-east-n1-a2"]
    assert len(tg.select_agents(STATUS, percent=50, seed=1)) == 9
    with pytest.raises(ExperimentError, match="no agent"):
        tg.select_agents(STATUS, agent="ghost")


def test_link_pairs() -> None:
    assert tg.link_pairs(STATUS, "us-east", "eu-west") == [("eu-west", "us-east"), ("us-east", "eu-west")]
    assert tg.link_pairs(STATUS, "us-east", "eu-west", both_directions=False) == [("us-east", "eu-west")]
    assert len(tg.link_pairs(STATUS, "ap-south", "*")) == 4
    assert len(tg.link_pairs(STATUS, "*", "*")) == 6


def test_describe_targets_and_plan_experiment_match_selection() -> None:
    plan = tg.describe_targets(STATUS, "kill_node", {"role": "agent", "count": 2, "seed": 5})
    assert plan["targets"] == names(tg.select_nodes(STATUS, role="agent", count=2, seed=5))
    assert tg.describe_targets(STATUS, "resume_node")["targets"] == ["ap-south-n4"]
    assert tg.describe_targets(STATUS, "partition_regions", {"region": "us-east", "other": "eu-west"})["targets"] == [
        "eu-west->us-east", "us-east->eu-west"]
    experiment = {"method": [
        {"name": "k", "type": "action", "provider": {"type": "python", "module": "chaos.actions", "func": "kill_node",
                                                     "arguments": {"count": "${n}", "role": "agent", "seed": 1}}},
        {"name": "p", "type": "probe",
         "provider": {"type": "python", "module": "chaos.probes", "func": "availability"}},
        {"name": "bad", "type": "action", "provider": {"type": "python", "module": "chaos.actions",
                                                       "func": "kill_region", "arguments": {"region": "mars"}}},
    ], "rollbacks": [{"name": "h", "type": "action", "provider": {"type": "python", "module": "chaos.actions",
                                                                  "func": "heal"}}]}
    plan = tg.plan_experiment(experiment, STATUS, {"n": 3})
    assert [p["name"] for p in plan] == ["k", "bad", "h"]
    assert len(plan[0]["targets"]) == 3 and "no region 'mars'" in plan[1]["error"]
    assert plan[2]["section"] == "rollbacks" and plan[2]["kind"] == "all"


def _write_requests(path: Path, rows: list[tuple[float, float, str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
                    "session_ok", "attempts"])
        for ts, end, region, outcome in rows:
            w.writerow([ts, end, region, "s1", outcome, end - ts, "a" if outcome == "ok" else "", "", "1", 1])


def test_request_log_tail_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    rows = [(t / 10, t / 10 + 0.05, "us-east" if t % 2 else "eu-west", "ok" if t % 5 else "timeout")
            for t in range(50_000)]
    _write_requests(path, rows)
    since = 4990.0
    got = read_requests_since(path, since, key="end")
    expected = [r for r in rows if r[1] >= since]
    assert len(got) == len(expected) and float(got[0]["end"]) >= since
    read = []
    tail_lines(path, lambda line: read.append(line) or float(line.split(b",")[1]) < since - 10)
    assert len(read) < 10  # a few 64 KiB blocks, not the 3 MB file
    window = read_requests_since(path, 100.0, key="ts", until=101.0)
    assert [float(r["ts"]) for r in window] == pytest.approx([100 + i / 10 for i in range(10)])


def test_tail_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    _write_requests(path, [(1.0, 1.1, "us-east", "ok"), (2.0, 2.1, "us-east", "ok")])
    with open(path, "a") as fh:
        fh.write("3.0,3.1,us-ea")
    assert [r["ts"] for r in read_requests_since(path, 0)] == ["1.0", "2.0"]
    assert read_requests_since(path, 5) == []


def test_event_tail(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"ts": t, "kind": "k"}) + "\n" for t in range(100)) + "not json\n")
    assert [e["ts"] for e in read_events_since(path, 95)] == [95, 96, 97, 98, 99]
    assert [e["ts"] for e in read_events_since(path, 10, 12)] == [10, 11]


def test_run_status_maps_the_journal() -> None:
    assert run_status({"status": "completed", "deviated": False}) == "completed"
    assert run_status({"status": "completed", "deviated": True}) == "failed"
    assert run_status({"status": "failed"}) == "failed"
    assert run_status({"status": "interrupted"}) == "interrupted"
    assert run_status({"status": "aborted"}) == "aborted"
    assert run_status(None) == "aborted"


def test_no_running_lab_is_a_clear_error(tmp_path: Path) -> None:
    config = {"aftershock_home": str(tmp_path)}
    with pytest.raises(ExperimentError, match="no running lab under .*aftershock lab up decentralized"):
        resolve_lab(config)
    with pytest.raises(ExperimentError, match="no running lab named 'mesh'"):
        resolve_lab({**config, "aftershock_lab": "mesh"})
    assert resolve_settings(config) == Settings(home=tmp_path)
