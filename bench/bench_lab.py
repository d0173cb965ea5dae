"""Find the largest lab this machine holds at >= 99% success in steady state.

    .venv/bin/python bench/bench_lab.py [--ladder default|goal-1000|idle-1000|builtins|...] [--measure-s 15]
                                        [--lab baseline,uvloop/udp/fork]

For each rung (regions x nodes x agents, tasks/s) it starts a decentralized lab, warms up, measures the
request log's success ratio and achieved rate over a window, and the CPU (cores, also by role) and memory
(RSS, and USS: each process's own pages) of every lab process; it stops at the first rung below 99% success,
below 95% of the asked rate, or that fails to start. The ``builtins`` ladder measures the built-in topologies at
their own workload instead. Prints a Markdown table.
Not a test: run on demand, report with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.errors import AftershockError  # noqa: E402
from core.settings import Settings  # noqa: E402
from fleet.lab import lab_down, lab_up  # noqa: E402
from fleet.presets import LabOptions  # noqa: E402
from fleet.topology import Topology, load_topology  # noqa: E402
from tests.support.labutil import availability, lab_pids, requests_between, wait_for_requests_until  # noqa: E402

LADDERS = {
    "quick": [(3, 3, 3, 40), (5, 4, 5, 100)],
    "default": [(3, 3, 3, 40), (5, 4, 5, 100), (10, 5, 5, 250), (10, 5, 10, 500), (10, 5, 20, 1000),
                (10, 10, 10, 1000)],
    "before-17": [(3, 3, 3, 40), (5, 4, 5, 100), (10, 5, 5, 250), (10, 5, 10, 500), (10, 10, 10, 500)],
    "big": [(10, 5, 10, 500)],
    "idle": [(10, 5, 10, 20)],
    "goal": [(10, 10, 10, 500)],
    # issue 17: 1,000 agents in 10 regions at 1,000 tasks/s (20 agents per node, then 10), and their idle cost
    "goal-1000": [(10, 5, 20, 1000), (10, 10, 10, 1000)],
    "idle-1000": [(10, 5, 20, 20), (10, 10, 10, 20)],
    # the built-in topologies at their own workload (the lab's own cost on a laptop)
    "builtins": ["decentralized", "centralized", "hybrid"],
}


def topology(regions: int, nodes: int, agents: int, rate: float, membership: str = "lab") -> Topology:
    names = [f"r{i}" for i in range(regions)]
    return Topology.model_validate({
        "name": f"bench-{regions}x{nodes}x{agents}", "kind": "decentralized",
        "regions": [{"name": n, "nodes": nodes} for n in names],
        "agents_per_node": agents, "agent_concurrency": 2,
        "latency_ms": {f"{a}/{b}": 20 for i, a in enumerate(names) for b in names[i + 1:]},
        "workload": {"tasks_per_s": rate, "sessions": max(300, int(rate * 8))},
        "membership": {"preset": membership}, "replication": 2,
    })


def cpu_by_role(status: dict) -> dict[str, list[int]]:
    roles = {"link layer + control (supervisor)": [status["pid"]], "clients": [status["clients"]["pid"]],
             "nodes": [n["pid"] for n in status["nodes"] if n["pid"] and n.get("role") != "hub"]}
    hubs = [n["pid"] for n in status["nodes"] if n["pid"] and n.get("role") == "hub"]
    return {**roles, "hubs": hubs} if hubs else roles


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def memory_bytes(pids: list[int]) -> tuple[int, int]:
    """(RSS, USS) summed over ``pids``: RSS counts the pages every process shares (the interpreter, libraries)
    once per process; USS counts only each process's own, the memory the lab would free if it stopped."""
    rss = uss = 0
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss, uss = rss + info.rss, uss + info.uss
    return rss, uss


def measure(settings: Settings, topo: Topology, warmup_s: float, measure_s: float,
            options: LabOptions = LabOptions()) -> dict:
    """One lab of ``topo`` at its own workload: lab up, then CPU, memory and the request log over a window."""
    started = time.monotonic()
    status = lab_up(settings, topo, name=f"bench-{len(topo.regions)}-{sum(r.nodes for r in topo.regions)}",
                    timeout_s=600, options=options)
    up_s = time.monotonic() - started
    try:
        time.sleep(warmup_s)
        pids = lab_pids(status)
        roles = cpu_by_role(status)
        role0 = {r: cpu_seconds(p) for r, p in roles.items()}
        cpu0, t0 = cpu_seconds(pids), time.time()
        time.sleep(measure_s)
        cpu1, t1 = cpu_seconds(pids), time.time()
        role_cores = {r: (cpu_seconds(p) - role0[r]) / (t1 - t0) for r, p in roles.items()}
        rss, uss = memory_bytes(pids)
        wait_for_requests_until(status["request_log"], t1, timeout_s=30)
        rows = requests_between(status["request_log"], t0, t1)
    finally:
        lab_down(settings, status["name"])
    n_agents = sum(len(n.get("agents") or []) for n in status["nodes"])
    return {
        "topology": topo.name, "regions": len(topo.regions), "nodes": len(status["nodes"]), "agents": n_agents,
        "target_rate": topo.workload.tasks_per_s,
        "achieved_rate": len(rows) / (t1 - t0), "success": availability(rows), "up_s": up_s,
        "cores": (cpu1 - cpu0) / (t1 - t0), "cpu_ms_per_agent_s": 1000 * (cpu1 - cpu0) / (t1 - t0) / n_agents,
        "lab": options.label, "rss_mib": rss / 2**20, "rss_mib_per_agent": rss / 2**20 / n_agents,
        "uss_mib_per_agent": uss / 2**20 / n_agents, "role_cores": role_cores,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladder", choices=sorted(LADDERS), default="default")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--measure-s", type=float, default=15.0)
    parser.add_argument("--membership", default="lab", choices=["lab", "lan", "wan"],
                        help="SWIM preset (lan halves the probe traffic of lab)")
    parser.add_argument("--lab", default="uvloop/udp/fork",
                        help="how the lab runs, LOOP/TRANSPORT/SPAWN (fleet/presets.py LabOptions), or several "
                             "comma-separated: baseline,uvloop/udp/fork runs each rung as the lab ran before "
                             "(asyncio/http/exec: the same-run baseline, first) and as it runs now")
    args = parser.parse_args()
    loops = [x.strip() for x in args.lab.split(",") if x.strip()]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {os.cpu_count()} cores, {cpu}, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}")
    print(f"command: {' '.join(sys.argv)}\n")
    print("| topology | lab | regions | nodes | agents | tasks/s asked | tasks/s served | success | lab up (s) "
          "| CPU (cores) | CPU ms per agent-second | RSS (MiB) | RSS per agent (MiB) | USS per agent (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home)).ensure()
        stopped: set[str] = set()  # lab variants past their largest rung (each variant climbs on its own)
        for rung, loop in ((rung, loop) for rung in LADDERS[args.ladder] for loop in loops):
            if loop in stopped:
                continue
            try:
                topo = (load_topology(rung) if isinstance(rung, str)
                        else topology(*rung, membership=args.membership))
                r = measure(settings, topo, args.warmup_s, args.measure_s, LabOptions.parse(loop))
            except (AftershockError, TimeoutError, AssertionError) as exc:
                print(f"| {rung} | {loop} | failed to start or serve: {exc} |")
                stopped.add(loop)
                continue
            print(f"| {r['topology']} | {loop} | {r['regions']} | {r['nodes']} | {r['agents']} | "
                  f"{r['target_rate']:.0f} | "
                  f"{r['achieved_rate']:.0f} | {100 * r['success']:.2f}% | {r['up_s']:.1f} | {r['cores']:.2f} | "
                  f"{r['cpu_ms_per_agent_s']:.2f} | {r['rss_mib']:.0f} | {r['rss_mib_per_agent']:.1f} | "
                  f"{r['uss_mib_per_agent']:.2f} |", flush=True)
            print("    cores by role: " + ", ".join(f"{k} {v:.2f}" for k, v in r["role_cores"].items()), flush=True)
            if r["success"] < 0.99 or r["achieved_rate"] < 0.95 * r["target_rate"]:
                print(f"    {loop} stops here: below 99% success or 95% of the asked rate at {r['agents']} agents")
                stopped.add(loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
