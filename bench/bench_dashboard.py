"""Benchmark: the Compare page of a ~10 million sample comparison, first visit and cached render, and its payload.

Synthesises a store: 3 topologies x 3 runs, each a long request log (6 h at ``--rate`` requests/s, a 20 s outage
after the injection) plus per-node ``aftershock_agents_alive`` series; then

1. derives what the runner keeps when a run and its comparison end (``presentation.derived.keep_run`` per run,
   ``keep_comparison``): the cost moved out of the first view;
2. times the Compare page's path on a fresh process' first visit (nothing cached in memory): reading the kept
   curves and summary, building the answer, the three figures and the summary table, and their JSON;
3. times the cached render (figures + table + JSON from the loaded frames), and the payload the browser gets;
4. with ``--recompute``, the same first visit without kept artifacts (raw request logs read and analysed: what a
   run recorded by ``chaos run`` alone still costs).

    .venv/bin/python bench/bench_dashboard.py --hours 6 --rate 20 --series-hz 4 [--recompute] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings  # noqa: E402
from presentation import curves, figures, frames  # noqa: E402
from presentation.answer import answer  # noqa: E402
from presentation.derived import comparison_summary, keep_comparison, keep_run  # noqa: E402
from results import summarise_comparison  # noqa: E402
from store import RunStore  # noqa: E402

TOPOLOGIES = ("centralized", "decentralized", "hybrid")
REPEATS = 3
NODES = 9
_THROUGHPUT = {"ok_per_s": "ok/s", "failed_per_s": "failed/s"}


def write_requests(path: Path, t_start: float, seconds: int, rate: float, t0: float, rng: np.random.Generator) -> int:
    n = int(seconds * rate)
    ts = np.sort(t_start + rng.uniform(0, seconds, n))
    lat = rng.lognormal(np.log(0.08), 0.5, n)
    ok = ~((ts > t0) & (ts < t0 + 20) & (rng.random(n) < 0.6))
    regions = np.array(["us-east", "eu-west", "ap-south"])[rng.integers(0, 3, n)]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
                    "session_ok", "attempts"])
        w.writerows([f"{ts[i]:.3f}", f"{ts[i] + lat[i]:.3f}", regions[i], f"s{i % 300}", "ok" if ok[i] else "error",
                     f"{lat[i]:.4f}", "a1" if ok[i] else "", "us-east" if ok[i] else "", "1" if ok[i] else "", 1]
                    for i in range(n))
    return n


def synthesise(home: Path, hours: float, rate: float, series_hz: float) -> tuple[str, int, int]:
    settings = Settings(home=home).ensure()
    rng = np.random.default_rng(7)
    seconds = int(hours * 3600)
    requests = series = 0
    with RunStore.open(settings.store_dir) as store:
        cid = store.create_comparison("node-loss", title="benchmark")
        for topo in TOPOLOGIES:
            for rep in range(REPEATS):
                start = 1.7e9
                t0 = start + seconds / 2
                rid = store.create_run(experiment="node-loss", topology=topo, repeat=rep, comparison_id=cid,
                                       settings={"analysis_window_s": 120.0})
                log = home / f"{rid}.csv"
                requests += write_requests(log, start, seconds, rate, t0, rng)
                store.attach_request_log(rid, log, settings.runs_dir)
                log.unlink()
                ts = start + np.arange(0, seconds, 1 / series_hz)
                for node in range(NODES):
                    vals = np.where((ts > t0) & (ts < t0 + 30) & (node == 0), 0.0, 3.0)
                    store.append_samples(rid, ((float(t), "aftershock_agents_alive",
                                                {"node": f"n{node}", "region": f"r{node % 3}", "role": "agent"},
                                                float(v)) for t, v in zip(ts, vals, strict=True)))
                    series += ts.size
                store.update_run(rid, injected_at=t0)
                store.put_fault_windows(rid, [{"name": "kill", "action": "kill_node", "family": "node",
                                               "start": t0, "end": t0 + 20.0, "lifted_by": "heal",
                                               "what": "n0 was down"}])
                store.finish_run(rid, "completed")
    return cid, requests, series


def derive(store_dir: Path, cid: str) -> dict[str, float]:
    """What the runner does when each run and then the comparison end."""
    with RunStore.open(store_dir) as store:
        per_run = []
        for run in store.get_comparison(cid).runs:
            t = time.perf_counter()
            assert keep_run(store, run.run_id)
            per_run.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert keep_comparison(store, cid)
        summary_s = time.perf_counter() - t
    return {"per_run_curves_s": statistics.median(per_run), "all_runs_curves_s": sum(per_run),
            "comparison_summary_s": summary_s}


def render(avail: pd.DataFrame, latency: pd.DataFrame, summary: dict[str, Any]) -> tuple[list[Any], int]:
    """The Compare page from loaded data: the answer, the three figures, the tables, and their JSON."""
    answer(summary)
    windows = frames.fault_windows(summary)
    figs = [figures.availability_figure(avail, windows, frames.markers_frame(summary)),
            figures.metric_figure(latency, {"p50": "p50", "p99": "p99"}, title="Latency of successful requests",
                                  yaxis="seconds", windows=windows),
            figures.metric_figure(avail, _THROUGHPUT, title="Throughput", yaxis="requests / s", windows=windows)]
    frames.summary_table(summary)
    frames.verdicts_table(summary)
    frames.bounds_rows(summary)
    return figs, sum(len(f.to_json()) for f in figs)


def first_visit(store_dir: Path, cid: str, *, kept: bool) -> dict[str, Any]:
    t = time.perf_counter()
    with RunStore.open(store_dir, readonly=True) as store:
        comp = store.get_comparison(cid)
        if kept:
            got = curves.comparison_curves(store, comp.runs)
            summary = comparison_summary(store, cid)
        else:  # nothing kept: the raw request logs read and analysed, as before
            avail, lat = [], []
            for run in comp.runs:
                c = curves.compute_run_curves(store, run)
                avail.append(c.availability.assign(topology=run.topology, run_id=run.run_id, control=False))
                lat.append(c.latency.assign(topology=run.topology, run_id=run.run_id, control=False))
            got = curves.RunCurves(pd.concat(avail, ignore_index=True), pd.concat(lat, ignore_index=True))
            summary = summarise_comparison(store, cid)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    _, payload = render(got.availability, got.latency, summary)
    t_render = time.perf_counter() - t
    cached = []
    for _ in range(3):
        t = time.perf_counter()
        render(got.availability, got.latency, summary)
        cached.append(time.perf_counter() - t)
    return {"load_s": t_load, "first_render_s": t_render, "first_visit_s": t_load + t_render,
            "cached_render_s": statistics.median(cached), "payload_mb": payload / 1e6,
            "points": int(got.availability.shape[0] + got.latency.shape[0])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--rate", type=float, default=20.0, help="requests per second per run")
    ap.add_argument("--series-hz", type=float, default=4.0)
    ap.add_argument("--recompute", action="store_true", help="also time a first visit without kept artifacts")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        t = time.perf_counter()
        cid, requests, series = synthesise(home, args.hours, args.rate, args.series_hz)
        store_dir = Settings(home=home).store_dir
        results: dict[str, Any] = {
            "samples": requests + series, "requests": requests, "series_samples": series,
            "synthesis_s": time.perf_counter() - t,
            "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
                       f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"}
        if args.recompute:
            results["without_kept_artifacts"] = first_visit(store_dir, cid, kept=False)
        results["derive_when_runs_end"] = derive(store_dir, cid)
        results["with_kept_artifacts"] = first_visit(store_dir, cid, kept=True)
    print(json.dumps(results, indent=1))  # noqa: T201 - a benchmark reports on stdout
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
