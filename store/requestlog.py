"""The request log (ground truth): keep a compressed copy per run, and per-second aggregates in the store.

Why both: the analysis needs every request (sessions, attempts, exact latencies), which a gzip copy
keeps cheaply beside the store; dashboards of long runs need only per-second counts and percentiles,
which the ``request_agg`` table answers without reading the raw file. Seconds are the floor of the
request's start time ``ts``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import BadLogFile

__all__ = [
    "gzip_copy",
    "aggregate_requests",
    "store_aggregates",
]

def gzip_copy(source: Path, dest: Path) -> None:
    """Gzip ``source`` to ``dest`` atomically (temporary file, fsync, rename): a crash leaves no half copy."""
    if not source.is_file():
        raise BadLogFile(f"{source} does not exist; pass the lab's log file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with source.open("rb") as src, tmp.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, dest)


def aggregate_requests(frame: pd.DataFrame) -> pd.DataFrame:
    """Per second x client_region x outcome: count and latency p50/p90/p99 (seconds)."""
    if frame.empty:
        return pd.DataFrame(columns=["second", "client_region", "outcome", "count", "p50", "p90", "p99"])
    keyed = pd.DataFrame(
        {
            "second": np.floor(frame["ts"].to_numpy(dtype=np.float64)).astype(np.int64),
            "client_region": frame["client_region"].astype(str),
            "outcome": frame["outcome"].astype(str),
            "latency_s": frame["latency_s"].to_numpy(dtype=np.float64),
        }
    )
    grouped = keyed.groupby(["second", "client_region", "outcome"], sort=True)["latency_s"]
    out = grouped.size().rename("count").to_frame()
    quantiles = grouped.quantile([0.5, 0.9, 0.99]).unstack()
    out["p50"], out["p90"], out["p99"] = quantiles[0.5], quantiles[0.9], quantiles[0.99]
    return out.reset_index()


def store_aggregates(conn: sqlite3.Connection, run_id: str, agg: pd.DataFrame) -> None:
    """Replace the run's aggregates inside the caller's transaction."""
    conn.execute("DELETE FROM request_agg WHERE run_id = ?", (run_id,))
    conn.executemany(
        "INSERT INTO request_agg(run_id, second, client_region, outcome, count, p50, p90, p99) "
        "VALUES (?,?,?,?,?,?,?,?)",
        (
            (run_id, int(r.second), r.client_region, r.outcome, int(r.count), _f(r.p50), _f(r.p90), _f(r.p99))
            for r in agg.itertuples(index=False)
        ),
    )


def _f(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
