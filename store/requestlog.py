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

from .errors import BadLogFile

__all__ = [
    "REQUEST_COLUMNS",
    "REQUEST_DTYPES",
    "gzip_copy",
    "read_request_log",
    "aggregate_requests",
    "store_aggregates",
]

#: The contract's columns (docs/contracts.md) and the types they load as.
REQUEST_DTYPES: dict[str, str] = {
    "ts": "float64",
    "end": "float64",
    "client_region": "string",
    "session": "string",
    "outcome": "string",
    "latency_s": "float64",
    "agent": "string",
    "served_region": "string",
    "session_ok": "Int8",
    "attempts": "Int64",
}
REQUEST_COLUMNS = tuple(REQUEST_DTYPES)
_TEXT = [c for c, t in REQUEST_DTYPES.items() if t == "string"]


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


def read_request_log(path: Path) -> pd.DataFrame:
    """Read a request log (plain or ``.gz``) with the contract's types; empty text fields load as ``""``."""
    try:
        head = pd.read_csv(path, nrows=0)
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
        raise BadLogFile(f"request log {path} is unreadable ({exc}); expected a CSV with a header") from exc
    missing = [c for c in REQUEST_COLUMNS if c not in head.columns]
    if missing:
        raise BadLogFile(
            f"request log {path} lacks the columns {', '.join(missing)}; see docs/contracts.md (Request log)"
        )
    try:
        frame = pd.read_csv(path, usecols=list(REQUEST_COLUMNS), dtype=REQUEST_DTYPES)
    except (ValueError, TypeError) as exc:
        raise BadLogFile(f"request log {path} has a malformed row ({exc}); fix or truncate that row") from exc
    frame[_TEXT] = frame[_TEXT].fillna("")
    return frame[list(REQUEST_COLUMNS)]


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
