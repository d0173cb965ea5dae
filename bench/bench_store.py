"""Benchmark of the run store: bytes per sample, write throughput, load time per million samples.

Data like a real scrape: ``--series`` series (counters, integer gauges, float histogram sums and float
gauges, like the lab's /metrics) at 1 s for ``--seconds``. Two write paths are measured:
  live: one append per scrape and a flush every ``--flush-every`` scrapes (what the embedded collector does);
  bulk: all samples of a series at once (what materialising from Prometheus does).
Run: ``.venv/bin/python bench/bench_store.py`` (about a minute); ``--help`` for the knobs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from store import RunStore  # noqa: E402

__all__ = ["main", "make_scrape"]

T0 = 1_764_212_345.0


def make_scrape(series: int, seconds: int, seed: int = 1) -> tuple[list[tuple[str, dict]], np.ndarray, np.ndarray]:
    """(metric, labels) per series, scrape times (jittered by a few ms) and a values matrix [series, time]."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(seconds) + rng.integers(-4, 5, seconds) / 1000.0
    ids: list[tuple[str, dict]] = []
    values = np.empty((series, seconds))
    kinds = ("counter", "counter", "counter", "counter", "gauge", "gauge", "gauge", "count", "sum", "fgauge")
    for s in range(series):
        kind = kinds[s % len(kinds)]
        labels = {"node": f"n{s // len(kinds)}", "region": ["us-east", "eu-west", "ap-south"][s % 3], "role": "agent"}
        if kind in ("counter", "count"):
            row = np.cumsum(rng.poisson(rng.uniform(1, 80), seconds)).astype(float)
            name = "aftershock_tasks_total" if kind == "counter" else "aftershock_task_duration_seconds_count"
            labels["outcome"] = f"o{s % 4}"
        elif kind == "gauge":
            row = np.clip(np.round(np.cumsum(rng.normal(0, 0.3, seconds)) + 8), 0, None)
            name = "aftershock_tasks_in_flight"
        elif kind == "sum":
            row = np.cumsum(rng.gamma(2.0, 0.05, seconds) * rng.poisson(30, seconds))
            name = "aftershock_task_duration_seconds_sum"
        else:
            row = np.round(rng.uniform(0, 100, seconds), 1)  # e.g. a CPU percent with one decimal
            name = "process_cpu_percent"
        ids.append((name, labels))
        values[s] = row
    return ids, ts, values


def _db_bytes(store_dir: Path) -> int:
    return sum(p.stat().st_size for p in store_dir.iterdir() if p.is_file())


def bench_write_live(store_dir: Path, ids, ts, values, flush_every: int) -> tuple[str, float]:
    with RunStore.open(store_dir, flush_interval=float("inf")) as store:
        run = store.create_run(experiment="bench", topology="live")
        start = time.perf_counter()
        for t in range(ts.shape[0]):
            store.append_samples(run, [(ts[t], m, lab, values[s, t]) for s, (m, lab) in enumerate(ids)])
            if (t + 1) % flush_every == 0:
                store.flush()
        store.finish_run(run, "completed")
        elapsed = time.perf_counter() - start
    return run, elapsed


def bench_write_bulk(store_dir: Path, ids, ts, values) -> tuple[str, float]:
    with RunStore.open(store_dir, flush_interval=float("inf")) as store:
        run = store.create_run(experiment="bench", topology="bulk")
        start = time.perf_counter()
        for s, (m, lab) in enumerate(ids):
            store.append_samples(run, zip(ts, [m] * ts.shape[0], [lab] * ts.shape[0], values[s], strict=True))
        store.finish_run(run, "completed")
        elapsed = time.perf_counter() - start
    return run, elapsed


def bench_load(store_dir: Path, run: str, repeats: int) -> tuple[float, int]:
    with RunStore.open(store_dir, readonly=True) as store:
        times, n = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            frame = store.load_series(run)
            times.append(time.perf_counter() - start)
            n = len(frame)
    return statistics.median(times), n


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--flush-every", type=int, default=2, help="scrapes between flushes in the live path")
    parser.add_argument("--repeats", type=int, default=5, help="load repetitions (median reported)")
    parser.add_argument("--dir", type=Path, help="where to put the stores (default: a temporary directory)")
    args = parser.parse_args(argv)

    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"machine: {machine()}")
    ids, ts, values = make_scrape(args.series, args.seconds)
    total = args.series * args.seconds
    print(f"data: {args.series} series x {args.seconds} s at 1 s = {total:,} samples")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for label, write in (
            ("live", lambda d: bench_write_live(d, ids, ts, values, args.flush_every)),
            ("bulk", lambda d: bench_write_bulk(d, ids, ts, values)),
        ):
            store_dir = Path(tmp) / label
            run, elapsed = write(store_dir)
            size = _db_bytes(store_dir)
            load_s, n = bench_load(store_dir, run, args.repeats)
            assert n == total, (n, total)
            with RunStore.open(store_dir, readonly=True) as store:
                stats = store.run_stats(run)
            encoded = stats["encoded_bytes"] / total
            print(
                f"{label:>4}: write {total / elapsed:,.0f} samples/s ({elapsed:.1f} s)"
                f" | file {size / total:.2f} B/sample ({size / 1e6:.1f} MB), encoded {encoded:.2f}"
                f" B/sample in {stats['chunks']} chunks"
                f" | load into pandas {load_s * 1e3:.0f} ms = {load_s * 1e3 / (total / 1e6):.0f} ms per million"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
