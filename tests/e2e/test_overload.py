"""Overload on real labs: asked three times their capacity, a hub with a bounded queue queues then sheds, a mesh
without one forwards then sheds; shed requests are `rejected` (a 429: nothing ran), counted apart from failures
in the request log, the ledger and the overload summary, and recomputed here from the raw files."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from analysis import task_ledger
from analysis.overload import QUEUED_MIN_S, overload_summary
from core.logframes import read_execution_log, read_request_log
from fleet.lab import lab_down
from fleet.topology import parse_topology
from tests.support.labutil import wait_for_requests_until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

WORK_MS = 50
#: 2 agents x 1 slot / 50 ms = 40 tasks/s of capacity, asked 120 tasks/s
ASKED = 120.0


def _small(kind: str, queue: int) -> dict:
    regions = [{"name": "us-east", "nodes": 2}]
    topo = {
        "name": f"overload-{kind}", "kind": kind, "description": "two single-slot agents, asked 3x capacity",
        "regions": regions, "agents_per_node": 1, "agent_concurrency": 1, "agent_queue": queue,
        "workload": {"tasks_per_s": ASKED, "sessions": 400, "timeout_s": 2,
                     "work_time": {"distribution": "constant", "median_ms": WORK_MS, "sigma": 0.0,
                                   "max_ms": WORK_MS}},
        "membership": {"preset": "lab"}, "replication": 1,
    }
    if kind == "centralized":
        topo["regions"] = [*regions, {"name": "eu-west", "nodes": 0}]
        topo["hub"] = {"region": "us-east"}
    return topo


def _run(lab, settings, kind: str, queue: int, tmp_path: Path, seconds: float = 6.0):
    topo = parse_topology(_small(kind, queue))
    assert topo.capacity().tasks_per_s == pytest.approx(40.0)
    status = lab(topo)
    started = time.time()
    wait_for_requests_until(status["request_log"], started + seconds, timeout_s=seconds + 20)
    lab_down(settings, status["name"])  # flushes both logs
    return Path(status["request_log"]), Path(status["execution_log"]), started


def _raw(requests: Path, executions: Path) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    with open(requests, newline="") as fh:
        rows = list(csv.DictReader(fh))
    runs: dict[str, list[dict[str, str]]] = {}
    with open(executions, newline="") as fh:
        for r in csv.DictReader(fh):
            runs.setdefault(r["task"], []).append(r)
    return rows, runs


def test_a_hub_with_a_queue_queues_then_sheds_and_nothing_shed_ran(lab, settings, tmp_path: Path) -> None:
    req_path, ex_path, started = _run(lab, settings, "centralized", queue=2, tmp_path=tmp_path)
    rows, runs = _raw(req_path, ex_path)
    shed = [r for r in rows if r["outcome"] == "rejected"]
    assert len(shed) > 0.2 * len(rows), "asked 3x capacity, the hub sheds a good part"
    assert all(not runs.get(r["task"]) for r in shed), "a 429 means nothing ran"
    waited = [e for es in runs.values() for e in es if float(e["queued_s"]) >= QUEUED_MIN_S]
    assert waited, "the hub's queue held tasks before they ran"
    # no wait longer than the client's timeout (a queued task gives up then)
    assert max(float(e["queued_s"]) for e in waited) <= 2.0 + 0.1
    requests, executions = read_request_log(req_path), read_execution_log(ex_path)
    ledger = task_ledger(requests, executions)
    assert ledger.classes["rejected"] == len(shed) and ledger.classes["failed"] == sum(
        r["outcome"] == "error" and not runs.get(r["task"]) for r in rows if r["task"])
    over = overload_summary(requests, executions, started, (started - 5, time.time()))
    assert over.rejected == len(shed) and over.queued == len(waited)
    assert over.text.startswith("shed ") and "queued" in over.text


def test_a_mesh_without_a_queue_forwards_then_sheds_and_queues_nothing(lab, settings, tmp_path: Path) -> None:
    req_path, ex_path, started = _run(lab, settings, "decentralized", queue=0, tmp_path=tmp_path)
    rows, runs = _raw(req_path, ex_path)
    shed = [r for r in rows if r["outcome"] == "rejected"]
    ok = [r for r in rows if r["outcome"] == "ok"]
    assert len(shed) > 0.2 * len(rows) and ok, (len(shed), len(ok), len(rows))
    assert all(not runs.get(r["task"]) for r in shed)
    assert all(float(e["queued_s"]) < QUEUED_MIN_S for es in runs.values() for e in es)
    over = overload_summary(read_request_log(req_path), read_execution_log(ex_path), started,
                            (started - 5, time.time()))
    assert over.queued == 0 and over.rejected == len(shed) and "no autoscaling policy" in over.text
