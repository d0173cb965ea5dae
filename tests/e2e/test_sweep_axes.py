"""`aftershock sweep --scale` and `--capacity` through the real runner on a small mesh: each run brings up the scaled
topology as real processes (the lab reads the topology the runner hands it), the stored comparison carries its axis,
one curve row per topology and value, and a size trend and headroom that agree with the per-run figures and, for
the SLO, with the raw request log."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from aftershock.runner import RunPlan, run_comparison
from analysis import swim_detection_bound
from analysis.growth import size_trend
from analysis.headroom import capacity_point, smallest_capacity
from core.settings import Settings
from store import RunStore

pytestmark = [pytest.mark.lab, pytest.mark.timeout(150)]

RATE = 12.0  # tasks/s asked of the 2-agent original


def _topology(path: Path) -> Path:
    """Two regions with one single-agent node each: sizes in steps of 2 agents."""
    path.write_text(yaml.safe_dump({
        "name": "mesh2", "kind": "decentralized", "description": "two one-agent nodes in two regions",
        "regions": [{"name": "us-east", "nodes": 1}, {"name": "eu-west", "nodes": 1}],
        "agents_per_node": 1, "agent_concurrency": 2, "latency_ms": {"us-east/eu-west": 5},
        "workload": {"tasks_per_s": RATE, "sessions": 40, "timeout_s": 2,
                     "work_time": {"distribution": "constant", "median_ms": 20, "sigma": 0.0, "max_ms": 20}},
        "healing": {"restart_delay_s": 1}, "membership": {"preset": "lab"}, "replication": 1,
    }))
    return path


def _experiment(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "title": "lose one us-east node", "description": "short experiment for the sweep-axis tests",
        "method": [{"type": "action", "name": "kill one us-east node",
                    "provider": {"type": "python", "module": "chaos.actions", "func": "kill_node",
                                 "arguments": {"region": "us-east", "count": 1, "seed": 3}},
                    "pauses": {"after": 3}}],
        "rollbacks": [{"type": "action", "name": "heal the lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
    }))
    return path


def _fault_availability(store: RunStore, run_id: str) -> tuple[float, int]:
    """ok / all requests that ended in the fault's window, in the analysis' 1 s bins from the injection."""
    run = store.get_run(run_id)
    t0 = float(run["injected_at"])
    windows = store.load_fault_windows(run_id)
    assert windows, f"{run_id}: no fault window recorded"
    requests = store.load_requests(run_id)
    ok = total = 0
    for w in windows:
        start, end = float(w["start"]), float(w["end"])
        first = t0 + math.ceil(round(start - t0, 9))
        last = t0 + math.ceil(round(end - t0, 9) - 1e-9)  # bins starting before the lift
        inside = requests[(requests["end"] >= first - 1e-9) & (requests["end"] < last - 1e-9)]
        total += len(inside)
        ok += int((inside["outcome"] == "ok").sum())
    return ok / total, total


def test_scale_and_capacity_sweeps_store_their_axis_and_consistent_curves(settings: Settings, tmp_path: Path) -> None:
    topo, exp = _topology(tmp_path / "mesh2.yaml"), _experiment(tmp_path / "kill.yaml")

    # ---- --scale 2 4: the mesh at 2 and 4 agents, its load doubled with it
    scale = run_comparison(settings, RunPlan(experiment=str(exp), topologies=[str(topo)], scales=[2, 4],
                                             warmup_s=2, observe_s=2))
    assert scale["kind"] == "sweep" and scale["meta"]["axis"] == "scale" and scale["meta"]["axis_values"] == [2, 4]
    assert [(r["topology"], r["axis"], r["axis_value"], r["status"]) for r in scale["runs"]] == [
        ("mesh2.x2", "scale", 2, "completed"), ("mesh2.x4", "scale", 4, "completed")]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        stored = {r["topology"]: store.get_run(r["run_id"]) for r in scale["runs"]}
        rates = {}
        for name, run in stored.items():
            t = run["settings"]["topology"]
            assert run["settings"]["axis"]["name"] == "scale" and run["settings"]["axis"]["base_topology"] == "mesh2"
            events = store.load_events(run["run_id"]).to_dict("records")
            assert sum(e["kind"] == "node_killed" for e in events) == 1
            planned = {f"{r['name']}-n{i}" for r in t["regions"] for i in range(1, r["nodes"] + 1)}
            up = store.load_series(run["run_id"], ["up"])
            scraped = set(up[up["ts"] < float(run["injected_at"])]["node"].dropna())  # before peers spawn more
            assert scraped == planned, (name, scraped)  # the lab ran the scaled topology, not the file's
            req = store.load_requests(run["run_id"])
            before = req[req["ts"] < float(run["injected_at"])]
            rates[name] = len(before) / (before["ts"].max() - before["ts"].min())
            rates[name + " asked"] = t["workload"]["tasks_per_s"]
            assert [r["nodes"] for r in t["regions"]] == ([1, 1] if name.endswith("x2") else [2, 2])
    members = {name: run["settings"]["topology"]["membership"] for name, run in stored.items()}
    assert rates["mesh2.x2 asked"] == RATE and rates["mesh2.x4 asked"] == 2 * RATE
    assert rates["mesh2.x4"] > 1.5 * rates["mesh2.x2"], rates  # the load really was scaled with the size

    block = scale["scale"]
    by_id = {r["run_id"]: r for r in scale["results"]}
    assert [(p["topology"], p["size"], p["agents"], p["runs"]) for p in block["points"]] == [
        ("mesh2", 2, 2, 1), ("mesh2", 4, 4, 1)]
    harms = []
    for p in block["points"]:
        result = by_id[p["run_ids"][0]]
        assert result["axis"] == {"name": "scale", "value": p["size"], "base_topology": "mesh2"}
        assert p["resilience"]["median"] == pytest.approx(result["metrics"]["resilience"])
        assert p["ttd_s"]["median"] == result["metrics"]["ttd_s"]
        # SWIM's expected detection for this many members, beside the measured TTD
        nodes = int(p["nodes"])
        m = members[p["scaled_topology"]]
        assert p["detection"]["kind"] == "swim" and p["detection"]["n_members"] == nodes
        assert p["detection"]["expected_s"] == pytest.approx(
            swim_detection_bound(m["probe_period_s"], m["probe_timeout_s"], m["suspicion_mult"], nodes).expected_s)
        harms.append(1 - result["metrics"]["resilience"] / 100)
    [curve] = block["curves"]
    expected = size_trend("mesh2", [2, 4], harms)
    assert curve["topology"] == "mesh2" and curve["trend"] == expected.trend and curve["answer"] == expected.answer
    assert curve["rise"] == pytest.approx(harms[1] - harms[0])
    assert curve["confirmed"] is None, "one run per size: no interval to confirm a trend with"

    # ---- --capacity 1 2: the nodes as they are and doubled, the same load
    cap = run_comparison(settings, RunPlan(experiment=str(exp), topologies=[str(topo)], capacities=[1, 2],
                                           warmup_s=2, observe_s=2))
    assert cap["meta"]["axis"] == "capacity" and "scale" not in cap and "fragility" not in cap
    [head] = cap["headroom"]["topologies"]
    slo = cap["headroom"]["slo"]
    assert slo == 0.999 and head["topology"] == "mesh2" and head["original_agents"] == 2
    assert [(p["factor"], p["agents"]) for p in head["points"]] == [(1, 2), (2, 4)]
    assert head["asked_tasks_per_s"] == RATE
    by_id = {r["run_id"]: r for r in cap["results"]}
    points = []
    with RunStore.open(settings.store_dir, readonly=True) as store:
        for p in head["points"]:
            [rid] = p["run_ids"]
            assert store.get_run(rid)["settings"]["topology"]["workload"]["tasks_per_s"] == RATE
            measured = by_id[rid]["metrics"]["availability_during_fault"]
            raw, n = _fault_availability(store, rid)
            assert raw == pytest.approx(measured, abs=1e-9) and p["requests"] == n, (raw, measured, n, p)
            assert p["availability_min"] == pytest.approx(raw) and p["kept"] == (raw >= slo)
            points.append(capacity_point(p["factor"], p["agents"], [raw], slo))
    again = smallest_capacity("mesh2", points, slo=slo, original_agents=2)
    assert head["min_factor"] == again.min_factor and head["min_agents"] == again.min_agents
    assert head["text"] == again.text
