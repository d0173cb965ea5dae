"""Seeing faults from outside a lab (traffic crossing a link or not), and the processes a home leaves behind."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml

PROBE_TIMEOUT_S = 0.4
#: A machine whose 1-minute load exceeds this many runnable processes per core is saturated (other test runs):
#: a time bound is then checked at SATURATED_FACTOR times its value, and the test says so.
SATURATED_PER_CORE = 3.0
SATURATED_FACTOR = 3.0


def check_bound(elapsed_s: float, bound_s: float, what: str) -> None:
    """Assert ``elapsed_s <= bound_s``; on a saturated machine (see above) the bound is stretched, and printed."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    saturated = load > SATURATED_PER_CORE * cores
    limit = bound_s * (SATURATED_FACTOR if saturated else 1.0)
    note = ""
    if saturated:
        note = f" (machine saturated: load {load:.1f} on {cores} cores, bound stretched to {limit:g} s)"
    print(f"{what}: {elapsed_s:.2f} s (bound {bound_s:g} s){note}")  # noqa: T201 - the figure, shown with -s
    assert elapsed_s <= limit, f"{what}: {elapsed_s:.2f} s > {limit:g} s{note}"


def crosses(status: dict[str, Any], src: str, dst: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """One request from region ``src`` to a node of region ``dst`` through ``src``'s egress proxy: did it get
    through? A cut link black-holes it (timeout); any answer of the node (even an error page) is traffic crossing."""
    node = next(n for n in status["nodes"] if n["region"] == dst and n.get("node_url") and n.get("alive"))
    try:
        resp = requests.get(f"{node['node_url']}/view", proxies={"http": status["proxies"][src]}, timeout=timeout_s)
    except requests.RequestException:
        return False
    return resp.status_code not in (502, 504)


def wait_crossing(status: dict[str, Any], src: str, dst: str, timeout_s: float, every_s: float = 0.05,
                  probe_timeout_s: float = 3.0) -> float:
    """When traffic first crossed ``src -> dst`` again: the completion time (time.time()) of the first probe that
    got through, with a probe sent every ``every_s`` and each allowed ``probe_timeout_s``, so on a loaded machine
    a probe that crosses slowly still counts (a black-holed one never answers)."""

    def probe() -> float | None:
        return time.time() if crosses(status, src, dst, timeout_s=probe_timeout_s) else None

    deadline = time.monotonic() + timeout_s
    pool = ThreadPoolExecutor(max_workers=int(probe_timeout_s / every_s) + 4, thread_name_prefix="probe")
    pending: set[Future] = set()
    try:
        while time.monotonic() < deadline:
            pending.add(pool.submit(probe))
            done, pending = wait(pending, timeout=every_s, return_when=FIRST_COMPLETED)
            crossed = [t for t in (f.result() for f in done) if t is not None]
            if crossed:
                return min(crossed)
        raise TimeoutError(f"traffic {src} -> {dst} did not cross within {timeout_s:g} s")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def write_partition(path: Path, region: str = "us-east", other: str = "eu-west", hold_s: float = 300) -> Path:
    """A long partition experiment: cut, hold ``hold_s``, rollbacks heal the links and the lab."""
    path.write_text(yaml.safe_dump({
        "title": "long partition (safety tests)",
        "description": "cut two regions apart and hold the cut",
        "configuration": {"aftershock_experiment": "long-partition"},
        "controls": [{"name": "aftershock-recorder", "provider": {"type": "python", "module": "chaos.control"}}],
        "method": [{"type": "action", "name": "cut", "pauses": {"after": hold_s},
                    "provider": {"type": "python", "module": "chaos.actions", "func": "partition_regions",
                                 "arguments": {"region": region, "other": other}}}],
        "rollbacks": [{"type": "action", "name": "heal-links",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal_links"}},
                      {"type": "action", "name": "heal-the-lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
    }))
    return path


def lab_states(home: Path) -> list[dict[str, Any]]:
    out = []
    for state_file in sorted((home / "labs").glob("*/state.json")):
        try:
            out.append(json.loads(state_file.read_text()))
        except (OSError, ValueError):
            continue
    return out


def lab_cut(home: Path) -> dict[str, Any] | None:
    """The status of a ready lab under ``home`` with a cut link, or None."""
    for state in lab_states(home):
        if state.get("ready") and any(li.get("cut") for li in state.get("links") or []):
            return state
    return None


def home_pids(home: Path) -> list[int]:
    """Every process a lab under ``home`` started (supervisor, nodes, clients), from the state files."""
    pids = []
    for state in lab_states(home):
        pids += [n["pid"] for n in state.get("nodes", []) if n.get("pid")] + [state.get("pid")]
        pids.append((state.get("clients") or {}).get("pid"))
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


def events(home: Path, kind: str) -> list[dict[str, Any]]:
    out = []
    for log in (home / "labs").glob("*/events.jsonl"):
        out += [e for e in (json.loads(line) for line in log.read_text().splitlines() if line.strip())
                if e["kind"] == kind]
    return out
