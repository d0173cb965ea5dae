"""CPU seconds per million samples: the embedded collector vs a real Prometheus, same targets, one run.

    .venv/bin/python bench/bench_collectors.py [--targets 30] [--seconds 30] [--interval 1.0]

The targets live in a child process (so the collector's process CPU is the collector's alone); each serves
a realistic node metric set (counters, gauges, histograms with a few label sets) that keeps changing.
Phases run one after the other so they do not compete for the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collectors.base import MemorySink, Target  # noqa: E402
from collectors.embedded import EmbeddedCollector  # noqa: E402
from collectors.prometheus import selector  # noqa: E402
from collectors.promserver import PrometheusServer  # noqa: E402

LAB = "bench"


def serve(count: int) -> None:
    """Child mode: start ``count`` metrics servers, print their ports, churn values until stdin closes."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

    churn = []
    ports = []
    for _ in range(count):
        reg = CollectorRegistry()
        tasks = Counter("aftershock_tasks", "tasks", ["outcome"], registry=reg)
        dur = Histogram("aftershock_task_duration_seconds", "task time", ["agent"], registry=reg)
        req = Histogram("aftershock_client_request_duration_seconds", "client latency",
                        ["topology", "client_region"], registry=reg)
        gauges = [Gauge(n, n, registry=reg) for n in ("aftershock_agents_alive", "aftershock_tasks_in_flight",
                                                      "aftershock_members_alive", "aftershock_sessions_held")]
        Counter("aftershock_restarts", "restarts", registry=reg)
        Counter("aftershock_migrations", "migrations", registry=reg)
        churn.append((tasks, dur, req, gauges))
        server, _ = start_http_server(0, addr="127.0.0.1", registry=reg)
        ports.append(server.server_port)
    print(json.dumps(ports), flush=True)
    rng = random.Random(1)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.1):
            for tasks, dur, req, gauges in churn:
                tasks.labels(rng.choice(("ok", "ok", "ok", "error", "rejected", "forwarded"))).inc()
                dur.labels(f"a{rng.randrange(3)}").observe(rng.expovariate(5))
                req.labels("decentralized", rng.choice(("us", "eu", "ap"))).observe(rng.expovariate(3))
                for g in gauges:
                    g.set(rng.randrange(10))

    threading.Thread(target=loop, daemon=True).start()
    sys.stdin.read()
    stop.set()


def cpu_of(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def bench_embedded(targets: list[Target], seconds: float, interval: float) -> dict[str, float]:
    sink = MemorySink()
    me = psutil.Process()
    collector = EmbeddedCollector(sink, "bench", targets, interval_s=interval)
    with collector:
        time.sleep(2 * interval)  # warm-up: sessions, thread pool
        s0, c0, t0 = collector.stats, cpu_of(me), time.monotonic()
        time.sleep(seconds)
        s1, c1, t1 = collector.stats, cpu_of(me), time.monotonic()
    samples = s1.samples - s0.samples
    return {"samples": samples, "wall_s": t1 - t0, "cpu_threads_s": s1.cpu_s - s0.cpu_s,
            "cpu_process_s": c1 - c0, "failures": s1.failures - s0.failures}


def bench_prometheus(targets: list[Target], seconds: float, interval: float, data_dir: Path) -> dict[str, float]:
    server = PrometheusServer(data_dir, scrape_interval_s=interval)
    server.write_targets(LAB, targets)
    with server:
        source = server.source(timeout_s=10)
        up = selector("up", {"aftershock_lab": LAB})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until every target has been scraped
            df = source.query_range(up, time.time() - 5, time.time(), 1.0)
            if len(df) and df["instance"].nunique() == len(targets):
                break
            time.sleep(0.5)
        proc = psutil.Process(server.pid)
        time.sleep(2 * interval)
        c0, t0, w0 = cpu_of(proc), time.time(), time.monotonic()
        time.sleep(seconds)
        c1, t1, w1 = cpu_of(proc), time.time(), time.monotonic()
        lab = f'aftershock_lab="{LAB}"'
        window = f"{int(round(t1 - t0))}s"
        scraped = source._client.custom_query(  # noqa: SLF001 - instant aggregate, not a series copy
            f"sum(sum_over_time(scrape_samples_scraped{{{lab}}}[{window}])) + "
            f"2 * sum(count_over_time(up{{{lab}}}[{window}]))", params={"time": f"{t1:.3f}"}, timeout=10)
        samples = float(scraped[0]["value"][1]) if scraped else float("nan")
    return {"samples": samples, "wall_s": w1 - w0, "cpu_process_s": c1 - c0}


def machine() -> str:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    prom = shutil.which("prometheus")
    version = subprocess.run([prom, "--version"], capture_output=True, text=True, timeout=10).stdout.splitlines()[0] \
        if prom else "prometheus not installed"
    return f"nproc={os.cpu_count()} cpu={model!r} python={platform.python_version()} {version}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print("machine:", machine())
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(args.targets)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        ports = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        targets = [Target(f"http://127.0.0.1:{p}/metrics", {"node": f"n{i}", "region": f"r{i % 3}", "role": "agent"})
                   for i, p in enumerate(ports)]
        emb = bench_embedded(targets, args.seconds, args.interval)
        with tempfile.TemporaryDirectory(prefix="aftershock-bench-") as tmp:
            prom = bench_prometheus(targets, args.seconds, args.interval, Path(tmp))
    finally:
        child.stdin.close()  # type: ignore[union-attr]
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    per_m = {
        "embedded (collector threads)": emb["cpu_threads_s"] / emb["samples"] * 1e6,
        "embedded (whole process)": emb["cpu_process_s"] / emb["samples"] * 1e6,
        "prometheus (process)": prom["cpu_process_s"] / prom["samples"] * 1e6,
    }
    print(f"targets={args.targets} interval={args.interval}s window={args.seconds}s")
    print(f"embedded: {emb['samples']:.0f} samples, {emb['failures']:.0f} failed scrapes, "
          f"threads {emb['cpu_threads_s']:.2f} CPU s, process {emb['cpu_process_s']:.2f} CPU s")
    print(f"prometheus: {prom['samples']:.0f} samples, {prom['cpu_process_s']:.2f} CPU s")
    print("| collector | CPU s per million samples |\n|---|---|")
    for name, value in per_m.items():
        print(f"| {name} | {value:.1f} |")
    ratio = per_m["embedded (whole process)"] / per_m["prometheus (process)"]
    print(f"ratio embedded(process)/prometheus = {ratio:.2f} (goal <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
