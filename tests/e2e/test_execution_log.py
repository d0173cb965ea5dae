"""The agents' execution log against the clients' request log, on real labs: the two halves of the task
ledger meet on the task id (docs/contracts.md, "Execution log")."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from core.logframes import read_execution_log, read_request_log
from fleet.lab import lab_down
from tests.conftest import topology_for_tests
from tests.support.labutil import wait_for_requests_until

pytestmark = pytest.mark.lab

SLACK_S = 0.005  # wall clocks of two processes on one machine, and the client's monotonic latency


def _run(lab, settings, topology, seconds: float) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A short run, then the lab brought down (every process flushes its log at shutdown)."""
    status = lab(topology)
    wait_for_requests_until(status["request_log"], time.time() + seconds)
    lab_down(settings, status["name"])
    return status, read_request_log(status["request_log"]), read_execution_log(status["execution_log"])


@pytest.mark.parametrize("topology", ["centralized", "decentralized"])
def test_every_ok_request_has_exactly_one_execution_row(lab, settings, topology: str) -> None:
    status, requests, executions = _run(lab, settings, topology, seconds=6)
    assert status["execution_log"].endswith("executions.csv")
    ok = requests[requests["outcome"] == "ok"]
    assert len(ok) >= 100 and ok["task"].str.len().gt(0).all() and ok["task"].is_unique
    assert executions["task"].str.len().gt(0).all()
    counts = executions["task"].value_counts()
    rows_per_ok = counts.reindex(ok["task"]).fillna(0).astype(int)
    assert (rows_per_ok == 1).all(), rows_per_ok[rows_per_ok != 1].head(10).to_dict()
    joined = ok.merge(executions, on="task", suffixes=("_req", "_exec"))
    assert (joined["agent_req"] == joined["agent_exec"]).all()  # the agent the client names ran it
    assert (joined["session_req"] == joined["session_exec"]).all()
    assert (joined["served_region"] == joined["region"]).all()
    assert (joined["start"] >= joined["ts"] - SLACK_S).all()
    assert (joined["end_exec"] <= joined["end_req"] + SLACK_S).all()  # run inside the request's lifetime
    nodes = {n["name"]: n["region"] for n in status["nodes"]}
    assert all(nodes[node] == region for node, region in zip(executions["node"], executions["region"], strict=True))
    # Decentralized agents keep the session memory and say so; behind a hub the hub stores it, not the agent.
    assert set(joined["session_write"].astype(int)) == ({1} if topology == "decentralized" else {0})


def test_a_client_timeout_shorter_than_the_work_leaves_indeterminate_requests_that_ran(lab, settings) -> None:
    topology = topology_for_tests(
        "decentralized",
        workload={"tasks_per_s": 15, "timeout_s": 0.3, "work_time": {"distribution": "constant", "median_ms": 600,
                                                                      "max_ms": 600}},
    )
    _, requests, executions = _run(lab, settings, topology, seconds=6)
    last = requests["end"].max()
    timeouts = requests[(requests["outcome"] == "timeout") & (requests["end"] < last - 1.5)]
    assert len(timeouts) >= 20, requests["outcome"].value_counts().to_dict()
    ran = executions.groupby("task")["end"].max()
    finished = ran.reindex(timeouts["task"])
    assert finished.notna().all(), f"{int(finished.isna().sum())} timed-out tasks have no execution row"
    assert (finished.to_numpy() > timeouts["end"].to_numpy()).all()  # they ran on after the client gave up
    assert (requests["outcome"] != "ok").all()  # 600 ms of work never fits a 300 ms client timeout
