"""Time series: the write buffer (samples into chunks) and the loader (chunks into a DataFrame).

Why chunks: one row per sample would cost ~40 bytes and a million rows to read; one compressed blob per
(run, series, stretch of time) costs ~1-2 bytes a sample and a few hundred rows per million samples.
A writer flushes every couple of seconds, so each flush makes small chunks; to keep the chunk count (and
so the load time) low while a run is still going, small neighbouring chunks of a series are merged when
they reach similar sizes (size-tiered, like a binary counter), until a chunk holds ``max_chunk`` samples
and is left alone. Each sample is re-encoded O(log max_chunk) times at most.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .codec import decode_chunk, encode_chunk

__all__ = ["SeriesBuffer", "load_series", "list_metrics", "series_stats", "labels_key", "RESERVED_COLUMNS"]

LOGGER = logging.getLogger("aftershock.store")

#: Columns of :func:`load_series` that a label of the same name would clash with (it becomes ``label_<key>``).
RESERVED_COLUMNS = ("ts", "metric", "value")

LabelsKey = tuple[tuple[str, str], ...]


def labels_key(labels: Mapping[str, str] | None) -> LabelsKey:
    """The canonical identity of a label set: its items sorted by key."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items())) if labels else ()


@dataclass
class _Chunk:
    rowid: int
    n: int


@dataclass
class _SeriesState:
    series_id: int
    next_seq: int
    ts: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    open_chunks: list[_Chunk] = field(default_factory=list)  # not yet full, may still be merged


class SeriesBuffer:
    """Samples waiting to be written, per run and series; owned by one :class:`~store.RunStore`.

    Not thread-safe on its own: the store calls it under its lock.
    """

    def __init__(self, *, max_chunk: int = 8192) -> None:
        self.max_chunk = max_chunk
        self._pending: dict[str, dict[tuple[str, LabelsKey], tuple[list[float], list[float]]]] = {}
        self._state: dict[tuple[str, str, LabelsKey], _SeriesState] = {}
        self._series_ids: dict[tuple[str, LabelsKey], int] = {}
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
        """Drop the bookkeeping of a finished run (its data is already flushed)."""
        self._pending.pop(run_id, None)
        for key in [k for k in self._state if k[0] == run_id]:
            del self._state[key]

    def flush(self, conn: sqlite3.Connection, run_ids: Sequence[str] | None = None) -> int:
        """Write buffered samples as chunks inside the caller's transaction; return samples written."""
        written = 0
        for run_id in list(self._pending) if run_ids is None else list(run_ids):
            run = self._pending.pop(run_id, None)
            if not run:
                continue
            for (name, lkey), (ts_list, value_list) in run.items():
                state = self._series_state(conn, run_id, name, lkey)
                written += self._write(conn, run_id, state, ts_list, value_list)
                self.pending -= len(ts_list)
        return written

    def _series_state(self, conn: sqlite3.Connection, run_id: str, name: str, lkey: LabelsKey) -> _SeriesState:
        state = self._state.get((run_id, name, lkey))
        if state is not None:
            return state
        sid = self._series_ids.get((name, lkey))
        if sid is None:
            labels_json = json.dumps(dict(lkey), sort_keys=True, separators=(",", ":"))
            conn.execute("INSERT OR IGNORE INTO series(metric, labels) VALUES (?, ?)", (name, labels_json))
            sid = conn.execute("SELECT id FROM series WHERE metric = ? AND labels = ?", (name, labels_json)).fetchone()[
                0
            ]
            self._series_ids[(name, lkey)] = sid
        (next_seq,) = conn.execute(
            "SELECT COALESCE(MAX(seq + n), 0) FROM chunks WHERE run_id = ? AND series_id = ?", (run_id, sid)
        ).fetchone()
        state = self._state[(run_id, name, lkey)] = _SeriesState(series_id=sid, next_seq=int(next_seq))
        return state

    def _write(
        self, conn: sqlite3.Connection, run_id: str, state: _SeriesState, ts: list[float], values: list[float]
    ) -> int:
        ts_s = np.asarray(ts, dtype=np.float64)
        vals = np.asarray(values, dtype=np.float64)
        good = np.isfinite(ts_s)
        if not good.all():
            LOGGER.warning("run %s: dropped %d samples with a non-finite timestamp", run_id, int((~good).sum()))
            ts_s, vals = ts_s[good], vals[good]
        ts_ms = np.round(ts_s * 1000.0).astype(np.int64)
        for start in range(0, ts_ms.shape[0], self.max_chunk):
            piece_ts = ts_ms[start : start + self.max_chunk]
            piece_v = vals[start : start + self.max_chunk]
            cur = conn.execute(
                "INSERT INTO chunks(run_id, series_id, seq, n, t_min, t_max, data) VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    state.series_id,
                    state.next_seq,
                    int(piece_ts.shape[0]),
                    int(piece_ts.min()),
                    int(piece_ts.max()),
                    encode_chunk(piece_ts, piece_v),
                ),
            )
            state.next_seq += int(piece_ts.shape[0])
            state.open_chunks.append(_Chunk(int(cur.lastrowid), int(piece_ts.shape[0])))
            self._merge(conn, state)
        return int(ts_ms.shape[0])

    def _merge(self, conn: sqlite3.Connection, state: _SeriesState) -> None:
        stack = state.open_chunks
        while stack:
            top = stack[-1]
            if top.n >= self.max_chunk:
                stack.clear()
                return
            if len(stack) < 2 or top.n * 2 < stack[-2].n:
                return
            below = stack[-2]
            if below.n + top.n > self.max_chunk:
                del stack[:-1]  # the one below is as full as it will get
                return
            rows = dict(conn.execute("SELECT id, data FROM chunks WHERE id IN (?, ?)", (below.rowid, top.rowid)))
            t1, v1 = decode_chunk(rows[below.rowid])
            t2, v2 = decode_chunk(rows[top.rowid])
            ts_ms, vals = np.concatenate((t1, t2)), np.concatenate((v1, v2))
            conn.execute(
                "UPDATE chunks SET n = ?, t_min = ?, t_max = ?, data = ? WHERE id = ?",
                (int(ts_ms.shape[0]), int(ts_ms.min()), int(ts_ms.max()), encode_chunk(ts_ms, vals), below.rowid),
            )
            conn.execute("DELETE FROM chunks WHERE id = ?", (top.rowid,))
            below.n += top.n
            stack.pop()


def _where(run_id: str, metrics: Sequence[str] | None, start_ms: int | None, end_ms: int | None):
    clauses, params = ["c.run_id = ?"], [run_id]
    if metrics is not None:
        clauses.append(f"s.metric IN ({','.join('?' * len(metrics))})")
        params.extend(metrics)
    if start_ms is not None:
        clauses.append("c.t_max >= ?")
        params.append(start_ms)
    if end_ms is not None:
        clauses.append("c.t_min <= ?")
        params.append(end_ms)
    return " AND ".join(clauses), params


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": pd.Series([], dtype="float64"),
            "metric": pd.Categorical([]),
            "value": pd.Series([], dtype="float64"),
        }
    )


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
    where, params = _where(run_id, None if metrics is None else list(metrics), start_ms, end_ms)
    rows = conn.execute(
        f"SELECT c.series_id, c.n, c.data FROM chunks c JOIN series s ON s.id = c.series_id "
        f"WHERE {where} ORDER BY c.series_id, c.seq",
        params,
    ).fetchall()
    if not rows:
        return _empty_frame()
    meta = conn.execute(
        f"SELECT DISTINCT s.id, s.metric, s.labels FROM chunks c JOIN series s ON s.id = c.series_id WHERE {where}",
        params,
    ).fetchall()
    pos = {sid: i for i, (sid, _m, _l) in enumerate(meta)}
    ts_parts, v_parts = [], []
    for _sid, _n, data in rows:
        t, v = decode_chunk(data)
        ts_parts.append(t)
        v_parts.append(v)
    ts_ms = np.concatenate(ts_parts)
    values = np.concatenate(v_parts)
    sidx = np.repeat(
        np.fromiter((pos[r[0]] for r in rows), dtype=np.int32, count=len(rows)),
        np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
    )
    if ts_ms.shape[0] > 1:
        back = (np.diff(ts_ms) < 0) & (sidx[1:] == sidx[:-1])
        if back.any():
            order = np.lexsort((ts_ms, sidx))
            ts_ms, values, sidx = ts_ms[order], values[order], sidx[order]
    if start_ms is not None or end_ms is not None:
        keep = np.ones(ts_ms.shape[0], dtype=bool)
        if start_ms is not None:
            keep &= ts_ms >= start_ms
        if end_ms is not None:
            keep &= ts_ms <= end_ms
        if not keep.all():
            ts_ms, values, sidx = ts_ms[keep], values[keep], sidx[keep]
    columns: dict[str, object] = {
        "ts": ts_ms / 1000.0,
        "metric": _categorical([m for _s, m, _l in meta], sidx),
        "value": values,
    }
    label_sets = [json.loads(labels) for _s, _m, labels in meta]
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


def list_metrics(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """Metric names with at least one flushed sample in the run, sorted."""
    rows = conn.execute(
        "SELECT DISTINCT s.metric FROM chunks c JOIN series s ON s.id = c.series_id WHERE c.run_id = ? "
        "ORDER BY s.metric",
        (run_id,),
    ).fetchall()
    return [r[0] for r in rows]


def series_stats(conn: sqlite3.Connection, run_id: str) -> dict[str, int]:
    """Series, samples, chunks and encoded bytes of one run (for ``aftershock show`` and sizing)."""
    series, samples, chunks, size = conn.execute(
        "SELECT COUNT(DISTINCT series_id), COALESCE(SUM(n), 0), COUNT(*), COALESCE(SUM(LENGTH(data)), 0) "
        "FROM chunks WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    return {"series": int(series), "samples": int(samples), "chunks": int(chunks), "encoded_bytes": int(size)}
