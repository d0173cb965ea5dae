"""Time series: the write buffer (samples into chunks) and the loader (chunks into a DataFrame).

Why chunks: one row per sample would cost ~40 bytes and a million rows to read; one compressed blob per
(run, series, stretch of time) costs ~1-2 bytes a sample and a few hundred rows per million samples.

Why a staging table: a live writer flushes every couple of seconds, i.e. a couple of samples per series;
encoding 300 tiny chunks per flush costs far more than the samples are worth. So each flush writes one
staging row holding every sample of the flush (series ids + one encoded chunk, sorted by series), and
every ``compact_rows`` flushes (or on ``finish_run``, or when a flush is big) the staging rows are folded
into per-series chunks, topping up each series' last chunk to ``max_chunk`` samples. Readers decode both,
so flushed data is visible at once and a killed writer's staged samples are still readable.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .codec import decode_chunk, encode_chunk

__all__ = [
    "SeriesBuffer",
    "load_series",
    "list_metrics",
    "series_stats",
    "decode_staging",
    "RESERVED_COLUMNS",
]

LOGGER = logging.getLogger("aftershock.store")

#: Columns of :func:`load_series` that a label of the same name would clash with (it becomes ``label_<key>``).
RESERVED_COLUMNS = ("ts", "metric", "value")

LabelsKey = tuple[tuple[str, str], ...]
Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # series ids, ts ms, values; grouped by series id


def decode_staging(sids_blob: bytes, data: bytes) -> Batch:
    """One staging row back into (series ids, ts ms, values)."""
    sids = np.frombuffer(zlib.decompress(sids_blob), dtype="<i8")
    ts, values = decode_chunk(data)
    if sids.shape != ts.shape:
        raise ValueError("staging row: series ids and samples differ in length")
    return sids, ts, values


class SeriesBuffer:
    """Samples waiting to be written, per run and series; owned by one :class:`~store.RunStore`.

    Not thread-safe on its own: the store calls it under its lock.
    """

    def __init__(self, *, max_chunk: int = 8192, compact_rows: int = 64, direct_per_series: int = 256) -> None:
        self.max_chunk = max_chunk
        self.compact_rows = compact_rows
        self.direct_per_series = direct_per_series
        self._pending: dict[str, dict[tuple[str, LabelsKey], tuple[list[float], list[float]]]] = {}
        self._series_ids: dict[tuple[str, LabelsKey], int] = {}
        self._staged_rows: dict[str, int] = {}
        self.pending = 0

    def add(self, run_id: str, samples: Iterable[tuple[float, str, Mapping[str, str], float]]) -> int:
        """Buffer samples; return how many were added."""
        run = self._pending.setdefault(run_id, {})
        count = 0
        for ts, name, labels, value in samples:
            key = (name, tuple(sorted(labels.items())) if labels else ())
            buf = run.get(key)
            if buf is None:
                buf = run[key] = ([], [])
            buf[0].append(ts)
            buf[1].append(value)
            count += 1
        self.pending += count
        return count

    def forget_run(self, run_id: str) -> None:
        """Drop the bookkeeping of a finished run (its data is already written)."""
        self._pending.pop(run_id, None)
        self._staged_rows.pop(run_id, None)

    def flush(self, conn: sqlite3.Connection, run_ids: Sequence[str] | None = None, *, compact: bool = False) -> int:
        """Write buffered samples inside the caller's transaction; return samples written."""
        written = 0
        for run_id in list(self._pending) if run_ids is None else list(run_ids):
            batch, n_series = self._take(conn, run_id)
            written += batch[0].shape[0]
            staged = self._staged_rows.get(run_id)
            if staged is None:
                (staged,) = conn.execute("SELECT COUNT(*) FROM staging WHERE run_id = ?", (run_id,)).fetchone()
            big = batch[0].shape[0] >= self.direct_per_series * max(n_series, 1)
            if compact or big or staged + 1 >= self.compact_rows:
                self.compact(conn, run_id, extra=batch)
            elif batch[0].shape[0]:
                sids, ts, values = batch
                conn.execute(
                    "INSERT INTO staging(run_id, n, t_min, t_max, sids, data) VALUES (?,?,?,?,?,?)",
                    (
                        run_id,
                        int(ts.shape[0]),
                        int(ts.min()),
                        int(ts.max()),
                        zlib.compress(sids.astype("<i8").tobytes(), 6),
                        encode_chunk(ts, values),
                    ),
                )
                self._staged_rows[run_id] = staged + 1
        return written

    def compact(self, conn: sqlite3.Connection, run_id: str, extra: Batch | None = None) -> None:
        """Fold the run's staging rows (and ``extra``) into per-series chunks."""
        rows = conn.execute("SELECT id, sids, data FROM staging WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        parts = [decode_staging(sids, data) for _id, sids, data in rows]
        if extra is not None:
            parts.append(extra)
        if rows:
            conn.execute("DELETE FROM staging WHERE run_id = ? AND id <= ?", (run_id, rows[-1][0]))
        self._staged_rows[run_id] = 0
        if not parts:
            return
        sids = np.concatenate([p[0] for p in parts])
        if not sids.shape[0]:
            return
        ts = np.concatenate([p[1] for p in parts])
        values = np.concatenate([p[2] for p in parts])
        order = np.argsort(sids, kind="stable")
        sids, ts, values = sids[order], ts[order], values[order]
        bounds = np.flatnonzero(np.diff(sids)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, sids.shape[0]], strict=True):
            self._append_chunks(conn, run_id, int(sids[lo]), ts[lo:hi], values[lo:hi])

    def _take(self, conn: sqlite3.Connection, run_id: str) -> tuple[Batch, int]:
        run = self._pending.pop(run_id, None) or {}
        sid_parts, ts_parts, v_parts = [], [], []
        for (name, lkey), (ts_list, value_list) in run.items():
            self.pending -= len(ts_list)
            ts_s = np.asarray(ts_list, dtype=np.float64)
            vals = np.asarray(value_list, dtype=np.float64)
            good = np.isfinite(ts_s)
            if not good.all():
                LOGGER.warning("run %s: dropped %d samples with a non-finite timestamp", run_id, int((~good).sum()))
                ts_s, vals = ts_s[good], vals[good]
            sid = self._series_id(conn, name, lkey)
            sid_parts.append(np.full(ts_s.shape[0], sid, dtype=np.int64))
            ts_parts.append(np.round(ts_s * 1000.0).astype(np.int64))
            v_parts.append(vals)
        if not sid_parts:
            empty = np.empty(0, dtype=np.int64)
            return (empty, empty, np.empty(0, dtype=np.float64)), 0
        sids = np.concatenate(sid_parts)
        order = np.argsort(sids, kind="stable")
        return (sids[order], np.concatenate(ts_parts)[order], np.concatenate(v_parts)[order]), len(sid_parts)

    def _series_id(self, conn: sqlite3.Connection, name: str, lkey: LabelsKey) -> int:
        sid = self._series_ids.get((name, lkey))
        if sid is None:
            labels_json = json.dumps(dict(lkey), sort_keys=True, separators=(",", ":"))
            conn.execute("INSERT OR IGNORE INTO series(metric, labels) VALUES (?, ?)", (name, labels_json))
            sid = conn.execute("SELECT id FROM series WHERE metric = ? AND labels = ?", (name, labels_json)).fetchone()[
                0
            ]
            self._series_ids[(name, lkey)] = sid
        return sid

    def _append_chunks(
        self, conn: sqlite3.Connection, run_id: str, sid: int, ts: np.ndarray, values: np.ndarray
    ) -> None:
        """Top up the series' last chunk to ``max_chunk`` samples, then add full chunks and a remainder."""
        last = conn.execute(
            "SELECT id, seq, n, data FROM chunks WHERE run_id = ? AND series_id = ? ORDER BY seq DESC LIMIT 1",
            (run_id, sid),
        ).fetchone()
        next_seq = 0 if last is None else last[1] + last[2]
        if last is not None and last[2] < self.max_chunk:
            old_ts, old_values = decode_chunk(last[3])
            ts, values = np.concatenate((old_ts, ts)), np.concatenate((old_values, values))
            conn.execute("DELETE FROM chunks WHERE id = ?", (last[0],))
            next_seq = last[1]
        for start in range(0, ts.shape[0], self.max_chunk):
            piece_ts = ts[start : start + self.max_chunk]
            piece_v = values[start : start + self.max_chunk]
            conn.execute(
                "INSERT INTO chunks(run_id, series_id, seq, n, t_min, t_max, data) VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    sid,
                    next_seq,
                    int(piece_ts.shape[0]),
                    int(piece_ts.min()),
                    int(piece_ts.max()),
                    encode_chunk(piece_ts, piece_v),
                ),
            )
            next_seq += int(piece_ts.shape[0])


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="float64"),
            "metric": pd.Categorical([]),
            "value": pd.Series([], dtype="float64"),
        }
    )


def _staged(conn: sqlite3.Connection, run_id: str, start_ms: int | None, end_ms: int | None) -> Batch | None:
    sql, params = "SELECT sids, data FROM staging WHERE run_id = ?", [run_id]
    if start_ms is not None:
        sql += " AND t_max >= ?"
        params.append(start_ms)
    if end_ms is not None:
        sql += " AND t_min <= ?"
        params.append(end_ms)
    parts = [decode_staging(sids, data) for sids, data in conn.execute(sql + " ORDER BY id", params)]
    if not parts:
        return None
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _series_meta(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    ids = sorted(set(ids))
    meta: dict[int, tuple[str, str]] = {}
    for lo in range(0, len(ids), 500):
        part = ids[lo : lo + 500]
        sql = f"SELECT id, metric, labels FROM series WHERE id IN ({','.join('?' * len(part))})"
        meta.update({sid: (metric, labels) for sid, metric, labels in conn.execute(sql, part)})
    return meta


def load_series(
    conn: sqlite3.Connection,
    run_id: str,
    metrics: Sequence[str] | None = None,
    start: float | None = None,
    end: float | None = None,
) -> pd.DataFrame:
    """One run's samples in long format: ``ts`` (unix s), ``metric``, ``value``, one column per label key.

    ``metric`` and label columns are categoricals (cheap for millions of rows); a series without a label
    has NaN there. Within a series rows are sorted by ``ts``; ``start``/``end`` are inclusive.
    """
    if metrics is not None and not metrics:
        return _empty_frame()
    start_ms = None if start is None else int(np.floor(start * 1000.0))
    end_ms = None if end is None else int(np.ceil(end * 1000.0))
    clauses, params = ["c.run_id = ?"], [run_id]
    if metrics is not None:
        clauses.append(f"c.series_id IN (SELECT id FROM series WHERE metric IN ({','.join('?' * len(metrics))}))")
        params.extend(metrics)
    if start_ms is not None:
        clauses.append("c.t_max >= ?")
        params.append(start_ms)
    if end_ms is not None:
        clauses.append("c.t_min <= ?")
        params.append(end_ms)
    rows = conn.execute(
        f"SELECT c.series_id, c.n, c.data FROM chunks c WHERE {' AND '.join(clauses)} ORDER BY c.series_id, c.seq",
        params,
    ).fetchall()
    staged = _staged(conn, run_id, start_ms, end_ms)
    if not rows and staged is None:
        return _empty_frame()
    id_set = {r[0] for r in rows}
    if staged is not None:
        id_set.update(np.unique(staged[0]).tolist())
    ids = np.array(sorted(id_set), dtype=np.int64)
    sidx_parts, ts_parts, v_parts = [], [], []
    if rows:
        row_sids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        row_ns = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        sidx_parts.append(np.repeat(np.searchsorted(ids, row_sids).astype(np.int32), row_ns))
        for _sid, _n, data in rows:
            t, v = decode_chunk(data)
            ts_parts.append(t)
            v_parts.append(v)
    if staged is not None:
        sidx_parts.append(np.searchsorted(ids, staged[0]).astype(np.int32))
        ts_parts.append(staged[1])
        v_parts.append(staged[2])
    sidx = np.concatenate(sidx_parts)
    ts_ms = np.concatenate(ts_parts)
    values = np.concatenate(v_parts)
    meta = _series_meta(conn, ids.tolist())
    keep = None
    if metrics is not None:
        wanted = set(metrics)
        allowed = np.array([meta[i][0] in wanted for i in ids.tolist()], dtype=bool)
        if not allowed.all():
            keep = allowed[sidx]
            remap = (np.cumsum(allowed) - 1).astype(np.int32)
            sidx = remap[sidx]
            ids = ids[allowed]
    for bound, above in ((start_ms, True), (end_ms, False)):
        if bound is not None:
            inside = ts_ms >= bound if above else ts_ms <= bound
            keep = inside if keep is None else keep & inside
    if keep is not None and not keep.all():
        sidx, ts_ms, values = sidx[keep], ts_ms[keep], values[keep]
    if staged is not None and sidx.shape[0] > 1:
        order = np.argsort(sidx, kind="stable")
        sidx, ts_ms, values = sidx[order], ts_ms[order], values[order]
    if ts_ms.shape[0] > 1:
        back = (np.diff(ts_ms) < 0) & (sidx[1:] == sidx[:-1])
        if back.any():
            order = np.lexsort((ts_ms, sidx))
            ts_ms, values, sidx = ts_ms[order], values[order], sidx[order]
    series_rows = [meta[i] for i in ids.tolist()]
    columns: dict[str, object] = {
        "ts": ts_ms / 1000.0,
        "metric": _categorical([m for m, _l in series_rows], sidx),
        "value": values,
    }
    label_sets = [json.loads(labels) for _m, labels in series_rows]
    for key in sorted({k for labels in label_sets for k in labels}):
        name = f"label_{key}" if key in RESERVED_COLUMNS else key
        columns[name] = _categorical([labels.get(key) for labels in label_sets], sidx)
    return pd.DataFrame(columns)


def _categorical(per_series: list[str | None], sidx: np.ndarray) -> pd.Categorical:
    """Expand one value per series to one per row without building a Python string per row."""
    categories = sorted({v for v in per_series if v is not None})
    index = {v: i for i, v in enumerate(categories)}
    codes = np.array([-1 if v is None else index[v] for v in per_series], dtype=np.int32)
    return pd.Categorical.from_codes(codes[sidx], categories=categories)


def _run_series(conn: sqlite3.Connection, run_id: str) -> tuple[set[int], int]:
    """Series ids and sample count of the run, chunks and staging together."""
    ids = {r[0] for r in conn.execute("SELECT DISTINCT series_id FROM chunks WHERE run_id = ?", (run_id,))}
    staged = 0
    for sids_blob, n in conn.execute("SELECT sids, n FROM staging WHERE run_id = ?", (run_id,)):
        ids.update(np.unique(np.frombuffer(zlib.decompress(sids_blob), dtype="<i8")).tolist())
        staged += n
    return ids, staged


def list_metrics(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Metric names with at least one flushed sample in the run, sorted."""
    ids, _staged_n = _run_series(conn, run_id)
    return sorted({metric for metric, _labels in _series_meta(conn, ids).values()})


def series_stats(conn: sqlite3.Connection, run_id: str) -> dict[str, int]:
    """Series, samples, chunks and encoded bytes of one run (for ``aftershock show`` and sizing)."""
    samples, chunks, size = conn.execute(
        "SELECT COALESCE(SUM(n), 0), COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM chunks WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    (staged_size,) = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(data) + LENGTH(sids)), 0) FROM staging WHERE run_id = ?", (run_id,)
    ).fetchone()
    ids, staged = _run_series(conn, run_id)
    return {
        "series": len(ids),
        "samples": int(samples) + staged,
        "chunks": int(chunks),
        "encoded_bytes": int(size) + int(staged_size),
    }
