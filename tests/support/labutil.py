"""Reading a lab's ground truth in tests."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import psutil

from core.wait import wait_until


def requests_between(path: str | Path, start: float, end: float, region: str | None = None) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r for r in rows if start <= float(r["ts"]) < end and (region is None or r["client_region"] == region)]


def availability(rows: list[dict[str, str]]) -> float:
    if not rows:
        raise AssertionError("no requests in the window: the load generator is not running")
    return sum(r["outcome"] == "ok" for r in rows) / len(rows)


def wait_for_requests_until(path: str | Path, end: float, timeout_s: float = 30.0) -> None:
    """Wait until the request log holds requests that started after ``end`` (it is flushed periodically)."""
    def done() -> bool:
        if time.time() < end:
            return False
        with open(path, newline="") as fh:
            return any(float(r["ts"]) >= end for r in csv.DictReader(fh))

    wait_until(done, timeout_s + max(0.0, end - time.time()), interval_s=0.1, what="requests in the log")


def recovered_for(status: dict[str, Any], seconds: float, floor: float = 0.99, min_rows: int = 10) -> bool:
    """The ``seconds`` of requests before the last few were at least ``floor`` ok."""
    lag = 4.0  # longer than the clients' 3 s timeout: every request in the window has its outcome logged
    rows = requests_between(status["request_log"], time.time() - seconds - lag, time.time() - lag)
    return len(rows) >= min_rows and availability(rows) >= floor


def events(path: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [e for e in rows if kind is None or e["kind"] == kind]


def lab_pids(status: dict[str, Any]) -> list[int]:
    pids = [n["pid"] for n in status["nodes"] if n["pid"]] + [status["clients"]["pid"], status["pid"],
                                                               status.get("fork_server_pid")]
    return [p for p in pids if p]


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out
