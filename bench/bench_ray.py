"""The largest decentralized lab on a local Ray cluster at >= 99 % success, beside the embedded lab, in one run.

    .venv/bin/python bench/bench_ray.py [--ladder quick|default] [--measure-s 15]

For each rung (3 regions x nodes x agents per node, tasks/s) and each engine (the embedded lab, then Ray: a local
3-region cluster started for the rung), it brings a decentralized deployment up (timed: ``lab up``), warms up,
measures the request log's success ratio and achieved rate over a window, and the CPU of everything the
deployment runs (the supervisor's whole process tree: on Ray that includes the GCS, the raylets, their agents and
the actors' workers). An engine stops climbing at its first rung below 99 % success or 95 % of the asked rate, or
that fails to start. Prints a Markdown table per rung, then the largest rung of each engine and the ratios
(agents on Ray / agents on the lab; CPU per agent on Ray / on the lab at the largest rung both held).
Not a test: run on demand, report with the machine it ran on (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.errors import AftershockError  # noqa: E402
from core.settings import Settings  # noqa: E402
from engines.ray.engine import ray_lab_up  # noqa: E402
from fleet.lab import lab_down, lab_up  # noqa: E402
from fleet.topology import Topology  # noqa: E402

LADDERS = {
    "quick": [(1, 3, 10), (3, 3, 40)],
    "default": [(1, 3, 10), (2, 3, 25), (3, 3, 40), (4, 4, 60), (6, 4, 90)],
}
REGIONS = ["us-east", "eu-west", "ap-south"]


def topology(nodes: int, agents: int, rate: float) -> Topology:
    return Topology.model_validate({
        "name": f"bench-ray-{nodes}x{agents}", "kind": "decentralized",
        "regions": [{"name": r, "nodes": nodes} for r in REGIONS],
        "agents_per_node": agents, "agent_concurrency": 2,
        "latency_ms": {"us-east/eu-west": 20, "us-east/ap-south": 20, "eu-west/ap-south": 20},
        "workload": {"tasks_per_s": rate, "sessions": max(100, int(rate * 8))},
        "membership": {"preset": "lab"}, "replication": 2,
    })


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return out


def success(request_log: str, start: float, end: float) -> tuple[float, int]:
    with open(request_log, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if start <= float(r["ts"]) < end]
    if not rows:
        return 0.0, 0
    return sum(r["outcome"] == "ok" for r in rows) / len(rows), len(rows)


def measure(settings: Settings, engine: str, rung: tuple[int, int, float], warmup_s: float,
            measure_s: float) -> dict[str, Any]:
    nodes, agents, rate = rung
    topo = topology(nodes, agents, rate)
    name = f"bench-{engine}-{nodes}-{agents}"
    started = time.monotonic()
    if engine == "ray":
        status = ray_lab_up(settings, topo, name=name)
    else:
        status = lab_up(settings, topo, name=name, timeout_s=600)
    up_s = time.monotonic() - started
    try:
        time.sleep(warmup_s)
        procs = tree(status["pid"])
        cpu0, t0 = cpu_seconds(procs), time.time()
        time.sleep(measure_s)
        cpu1, t1 = cpu_seconds(procs), time.time()
        time.sleep(5)  # the clients' timeout: every request of the window has its outcome logged
        ok, count = success(status["request_log"], t0, t1)
    finally:
        lab_down(settings, status["name"])
    used = sum(cpu1[p] - cpu0[p] for p in cpu1 if p in cpu0)
    n_agents = 3 * nodes * agents
    cores = used / (t1 - t0)
    return {"engine": engine, "nodes": 3 * nodes, "agents": n_agents, "target_rate": rate, "up_s": up_s,
            "achieved_rate": count / (t1 - t0), "success": ok, "cores": cores, "processes": len(procs),
            "cpu_ms_per_agent_s": 1000 * cores / n_agents}


def held(r: dict[str, Any]) -> bool:
    return r["success"] >= 0.99 and r["achieved_rate"] >= 0.95 * r["target_rate"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ladder", choices=sorted(LADDERS), default="quick")
    parser.add_argument("--warmup-s", type=float, default=5.0)
    parser.add_argument("--measure-s", type=float, default=15.0)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"command: {' '.join(sys.argv)}\n")
    print("| engine | nodes | agents | tasks/s asked | tasks/s served | success | lab up (s) | processes "
          "| CPU (cores) | CPU ms per agent-second |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    largest: dict[str, dict[str, Any]] = {}
    measured: dict[tuple[int, str], dict[str, Any]] = {}
    climbing = {"lab": True, "ray": True}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home)).ensure()
        for rung in LADDERS[args.ladder]:
            for engine in ("lab", "ray"):
                if not climbing[engine]:
                    continue
                try:
                    r = measure(settings, engine, rung, args.warmup_s, args.measure_s)
                except (AftershockError, TimeoutError, OSError) as exc:
                    print(f"| {engine} | {3 * rung[0]} | {3 * rung[0] * rung[1]} | {rung[2]:.0f} | "
                          f"failed to start or serve: {str(exc)[:160]} |||||", flush=True)
                    climbing[engine] = False
                    continue
                print(f"| {engine} | {r['nodes']} | {r['agents']} | {r['target_rate']:.0f} | "
                      f"{r['achieved_rate']:.1f} | {100 * r['success']:.2f}% | {r['up_s']:.1f} | {r['processes']} | "
                      f"{r['cores']:.2f} | {r['cpu_ms_per_agent_s']:.2f} |", flush=True)
                measured[(r["agents"], engine)] = r
                if held(r):
                    largest[engine] = r
                else:
                    climbing[engine] = False
    print()
    for agents in sorted({a for a, _ in measured}):  # the same deployment on both engines: the fair ratios
        lab, ray = measured.get((agents, "lab")), measured.get((agents, "ray"))
        if lab and ray:
            cpu = ray["cpu_ms_per_agent_s"] / lab["cpu_ms_per_agent_s"]
            print(f"at {agents} agents, Ray / lab: CPU per agent {cpu:.2f}, `lab up` {ray['up_s'] / lab['up_s']:.1f}x, "
                  f"processes {ray['processes']} vs {lab['processes']}")
    for engine in ("lab", "ray"):
        r = largest.get(engine)
        print(f"largest at >= 99 % success on {engine}: " +
              (f"{r['agents']} agents ({r['nodes']} nodes), lab up {r['up_s']:.1f} s" if r else "none"))
    if "lab" in largest and "ray" in largest:
        lab, ray = largest["lab"], largest["ray"]
        print(f"ratio of agents, Ray / lab: {ray['agents'] / lab['agents']:.2f}")
        print(f"ratio of CPU per agent, Ray / lab (each at its largest rung): "
              f"{ray['cpu_ms_per_agent_s'] / lab['cpu_ms_per_agent_s']:.2f}")
        print(f"ratio of `lab up` time, Ray / lab: {ray['up_s'] / lab['up_s']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
