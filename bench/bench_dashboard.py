"""Benchmark: server-side render time and payload of the Compare page for a ~10 million sample comparison.

Synthesises a store: 3 topologies x 3 runs, each a long request log (availability, latency, throughput
per second over 6 h at ~40 req/s less per run) plus per-node series; then times the Compare page's path
(load + analysis, cold and cached) and the figures' JSON size, with and without downsampling.

    .venv/bin/python bench/bench_dashboard.py [--hours 6] [--rate 6] [--out bench/results/dashboard.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings  # noqa: E402
from presentation import figures, frames  # noqa: E402
from store import RunStore  # noqa: E402

TOPOLOGIES = ("centralized", "decentralized", "hybrid")
REPEATS = 3
NODES = 9


def write_requests(path: Path, t_start: float, seconds: int, rate: float, t0: float, rng: np.random.Generator) -> int:
    n = int(seconds * rate)
    ts = np.sort(t_start + rng.uniform(0, seconds, n))
    lat = rng.lognormal(np.log(0.08), 0.5, n)
    ok = ~((ts > t0) & (ts < t0 + 20) & (rng.random(n) < 0.6))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
                    "session_ok", "attempts"])
        regions = np.array(["us-east", "eu-west", "ap-south"])[rng.integers(0, 3, n)]
        for i in range(n):
            w.writerow([f"{ts[i]:.3f}", f"{ts[i] + lat[i]:.3f}", regions[i], f"s{i % 300}",
                        "ok" if ok[i] else "error", f"{lat[i]:.4f}", "a1" if ok[i] else "", "us-east" if ok[i] else "",
                        "1" if ok[i] else "", 1])
    return n


def synthesise(home: Path, hours: float, rate: float, series_hz: float) -> tuple[str, int]:
    settings = Settings(home=home).ensure()
    rng = np.random.default_rng(7)
    seconds = int(hours * 3600)
    samples = 0
    with RunStore.open(settings.store_dir) as store:
        cid = store.create_comparison("node-loss", title="benchmark")
        for topo in TOPOLOGIES:
            for rep in range(REPEATS):
                start = 1.7e9
                t0 = start + seconds / 2
                rid = store.create_run(experiment="node-loss", topology=topo, repeat=rep, comparison_id=cid,
                                       settings={"analysis_window_s": 120.0})
                log = home / f"{rid}.csv"
                samples += write_requests(log, start, seconds, rate, t0, rng)
                store.attach_request_log(rid, log, settings.runs_dir)
                log.unlink()
                ts = start + np.arange(0, seconds, 1 / series_hz)
                for node in range(NODES):
                    vals = np.where((ts > t0) & (ts < t0 + 30) & (node == 0), 0.0, 3.0)
                    store.append_samples(rid, ((float(t), "aftershock_agents_alive",
                                                {"node": f"n{node}", "region": f"r{node % 3}", "role": "agent"},
                                                float(v)) for t, v in zip(ts, vals, strict=True)))
                    samples += ts.size
                store.update_run(rid, injected_at=t0)
                store.finish_run(rid, "completed")
    return cid, samples


def compare_page_path(store_dir: str, cid: str, max_points: int | None) -> dict[str, float]:
    """What the Compare page does, without Streamlit's cache: load curves, summary, build figures."""
    from dashboards.data import _curves
    from results import summarise_comparison

    t = time.perf_counter()
    with RunStore.open(Path(store_dir), readonly=True) as store:
        comp = store.get_comparison(cid)
        avail, lat = [], []
        for run in comp["runs"]:
            a, p, _ = _curves(store, run, 1.0)
            avail.append(a.assign(topology=run["topology"], run_id=run["run_id"]))
            lat.append(p.assign(topology=run["topology"], run_id=run["run_id"]))
        t_curves = time.perf_counter() - t
        summary = summarise_comparison(store, cid)
    t_load = time.perf_counter() - t
    import pandas as pd

    curves, latency = pd.concat(avail, ignore_index=True), pd.concat(lat, ignore_index=True)
    t = time.perf_counter()
    figs = [figures.availability_figure(curves, frames.fault_windows(summary), max_points=max_points),
            figures.metric_figure(latency, ["p50", "p99"], title="Latency", yaxis="s", max_points=max_points),
            figures.metric_figure(curves, ["ok_per_s", "failed_per_s"], title="Throughput", yaxis="r/s",
                                  max_points=max_points)]
    frames.summary_table(summary)
    payload = sum(len(f.to_json()) for f in figs)
    t_render = time.perf_counter() - t
    return {"load_and_analyse_s": t_load, "curves_s": t_curves, "render_cached_s": t_render,
            "payload_mb": payload / 1e6, "points": int(curves.shape[0] + latency.shape[0])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--rate", type=float, default=6.0, help="requests per second per run")
    ap.add_argument("--series-hz", type=float, default=1.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        cid, samples = synthesise(home, args.hours, args.rate, args.series_hz)
        build = time.perf_counter() - t
        results = {"samples": samples, "synthesis_s": build, "machine": f"{os.cpu_count()} CPUs, "
                   f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"}
        for label, mp in (("downsampled", 2000), ("full", None)):
            results[label] = compare_page_path(str(Settings(home=home).store_dir), cid, mp)
    print(json.dumps(results, indent=1))  # noqa: T201 - a benchmark reports on stdout
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
