"""The run store: one SQLite file in WAL mode under ``Settings.store_dir``.

Why SQLite in WAL mode: it is embedded (no server to start or leave behind), a committed transaction
survives the writer being killed -9, and in WAL mode readers never block the writer nor see a half-written
transaction, which is exactly "a dashboard reads while a scheduled run writes". See docs/store.md.

This class is the composition root of the package: it owns the connection, the lock and the sample
buffer, and delegates encoding (codec), chunking (series), files (requestlog) and records (records).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from . import records, series
from .artifacts import ArtifactsMixin, EventLogResult
from .codec import CodecError, chunk_count, decode_chunk
from .derived import DerivedMixin
from .errors import (
    ComparisonNotFound,
    InvalidRecord,
    RunNotFound,
    StoreCorrupt,
    StoreError,
    StoreMissing,
    StoreNeedsMigration,
    StoreReadOnly,
    StoreTooNew,
)
from .ids import COMPARISON_PREFIX, RUN_PREFIX, new_id
from .runrecord import ComparisonRecord, RunRecord
from .schema import SCHEMA_VERSION, migrate, user_version
from .writers import DEAD_WRITER_NOTE, LiveWriters, current_writer, recover_dead_runs

__all__ = ["RunStore", "DB_NAME", "EventLogResult"]

LOGGER = logging.getLogger("aftershock.store")
DB_NAME = "runs.sqlite"
_BUSY_TIMEOUT_MS = 10_000
_RUN_COLUMNS = (
    "id, comparison_id, experiment, topology, repeat, status, started_at, ended_at, injected_at, "
    "settings, summary, meta, writer_pid, writer_host, request_log, writer_started"
)


def _connect(db: Path, readonly: bool) -> sqlite3.Connection:
    target = f"{db.resolve().as_uri()}?mode={'ro' if readonly else 'rwc'}"
    conn = sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False, timeout=10)
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    return conn


class RunStore(ArtifactsMixin, DerivedMixin):
    """Runs, comparisons and everything recorded during a run; one writer and many readers at once."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        *,
        readonly: bool,
        clock: Callable[[], float],
        flush_interval: float,
        max_buffered: int,
        max_chunk: int,
    ) -> None:
        self.path = path
        self.readonly = readonly
        self._conn = conn
        self._clock = clock
        self._lock = threading.RLock()
        self._buffer = series.SeriesBuffer(max_chunk=max_chunk)
        self._flush_interval = flush_interval
        self._max_buffered = max_buffered
        self._last_flush = time.monotonic()
        self._known_runs: set[str] = set()
        self._closed = False

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def open(
        cls,
        store_dir: Path,
        *,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
        flush_interval: float = 2.0,
        max_buffered: int = 200_000,
        max_chunk: int = 8192,
    ) -> RunStore:
        """Open (creating and migrating when writable) the store; mark dead writers' runs interrupted."""
        store_dir = Path(store_dir)
        if store_dir.exists() and not store_dir.is_dir():
            raise StoreCorrupt(f"{store_dir} is a file, not a run store directory; point the store at a directory")
        db = store_dir / DB_NAME
        if readonly and not db.exists():
            raise StoreMissing(f"no run store at {store_dir} yet; record a run first")
        if not readonly:
            store_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(db, readonly)
        except sqlite3.Error as exc:
            raise StoreCorrupt(f"cannot open the run store {db}: {exc}") from exc
        try:
            cls._prepare(conn, db, readonly)
            recovered = [] if readonly else recover_dead_runs(conn, current_writer().host)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreCorrupt(
                f"{db} is not a readable Aftershock run store ({exc}); move it aside to start a new store"
            ) from exc
        except BaseException:
            conn.close()
            raise
        store = cls(
            store_dir,
            conn,
            readonly=readonly,
            clock=clock,
            flush_interval=flush_interval,
            max_buffered=max_buffered,
            max_chunk=max_chunk,
        )
        for run_id in recovered:  # fold the dead writer's staged samples into chunks
            with store._tx() as tx:
                store._buffer.compact(tx, run_id)
        return store

    @staticmethod
    def _prepare(conn: sqlite3.Connection, db: Path, readonly: bool) -> None:
        version = user_version(conn)  # reads the header: fails here on a non-SQLite file
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if version == 0 and tables:
            raise StoreCorrupt(f"{db} is an SQLite database but not an Aftershock run store; move it aside")
        if version > SCHEMA_VERSION:
            raise StoreTooNew(
                f"the run store {db} has schema version {version}, newer than this Aftershock knows "
                f"({SCHEMA_VERSION}); upgrade Aftershock"
            )
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            if version < SCHEMA_VERSION:
                raise StoreNeedsMigration(
                    f"the run store {db} has schema version {version}; open it once writable to migrate"
                )
            return
        if version == 0:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StoreCorrupt(f"the run store {db} cannot use WAL mode (network filesystem?); use a local disk")
        conn.execute("PRAGMA synchronous = FULL")  # commits are rare (every flush): durable on power loss too
        migrate(conn)

    def close(self) -> None:
        """Flush buffered samples and close; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            try:
                if not self.readonly:
                    self.flush()
                    self._conn.execute("PRAGMA optimize")
            finally:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- helpers
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise StoreReadOnly(f"the run store at {self.path} was opened read-only")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _require_run(self, run_id: str) -> None:
        if run_id in self._known_runs:
            return
        if not self._query("SELECT 1 FROM runs WHERE id = ?", (run_id,)):
            raise RunNotFound(run_id, self.path)
        self._known_runs.add(run_id)

    def _insert_with_id(self, prefix: str, sql: str, params: tuple) -> str:
        for _attempt in range(20):
            new = new_id(prefix, self._clock())
            try:
                with self._tx() as conn:
                    conn.execute(sql, (new, *params))
                return new
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" not in str(exc) and "PRIMARY" not in str(exc):
                    raise
        raise StoreError(f"could not allocate a unique {prefix}- id in {self.path}")

    def _read_own_writes(self, run_id: str) -> None:
        if not self.readonly and self._buffer.pending:
            self.flush()

    # ----------------------------------------------------------------- comparisons and runs
    def create_comparison(
        self, experiment: str, *, kind: str = "comparison", title: str = "", meta: dict | None = None
    ) -> str:
        """A group of runs compared together (``kind`` 'comparison' or 'sweep')."""
        return self._insert_with_id(
            COMPARISON_PREFIX,
            "INSERT INTO comparisons(id, experiment, title, created_at, kind, meta) VALUES (?,?,?,?,?,?)",
            (experiment, title, self._clock(), kind, records.dumps(meta or {})),
        )

    def create_run(
        self,
        *,
        experiment: str,
        topology: str,
        repeat: int = 0,
        comparison_id: str | None = None,
        settings: dict | None = None,
    ) -> str:
        """A new run in status 'running', owned by this process (so a crash can be detected later)."""
        if comparison_id is not None and not self._query("SELECT 1 FROM comparisons WHERE id = ?", (comparison_id,)):
            raise ComparisonNotFound(comparison_id, self.path)
        writer = current_writer()
        run_id = self._insert_with_id(
            RUN_PREFIX,
            "INSERT INTO runs(id, comparison_id, experiment, topology, repeat, status, started_at, settings, "
            "writer_pid, writer_started, writer_host) VALUES (?,?,?,?,?,'running',?,?,?,?,?)",
            (
                comparison_id,
                experiment,
                topology,
                int(repeat),
                self._clock(),
                records.dumps(settings or {}),
                writer.pid,
                writer.started,
                writer.host,
            ),
        )
        self._known_runs.add(run_id)
        return run_id

    def finish_run(self, run_id: str, status: str, *, summary: dict | None = None) -> None:
        """Flush the run's samples, then set its final status and ``ended_at`` in one commit."""
        if status not in records.RUN_STATUSES or status == "running":
            raise InvalidRecord(
                f"run {run_id}: final status {status!r} is not one of "
                f"{', '.join(sorted(records.RUN_STATUSES - {'running'}))}"
            )
        self._require_run(run_id)
        with self._tx() as conn:
            self._buffer.flush(conn, [run_id], compact=True)
            conn.execute("UPDATE runs SET status = ?, ended_at = ? WHERE id = ?", (status, self._clock(), run_id))
            if summary is not None:
                conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (records.dumps(summary), run_id))
        with self._lock:
            self._buffer.forget_run(run_id)
            self._conn.execute("PRAGMA incremental_vacuum").fetchall()

    def update_run(
        self,
        run_id: str,
        *,
        injected_at: float | None = None,
        summary: dict | None = None,
        meta: dict | None = None,
    ) -> None:
        """Set the injection time or summary; ``meta`` keys are merged into the run's meta."""
        self._require_run(run_id)
        with self._tx() as conn:
            if injected_at is not None:
                conn.execute("UPDATE runs SET injected_at = ? WHERE id = ?", (float(injected_at), run_id))
            if summary is not None:
                conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (records.dumps(summary), run_id))
            if meta:
                (old,) = conn.execute("SELECT meta FROM runs WHERE id = ?", (run_id,)).fetchone()
                merged = {**(records.loads(old) or {}), **meta}
                conn.execute("UPDATE runs SET meta = ? WHERE id = ?", (records.dumps(merged), run_id))

    def set_run_meta(self, run_id: str, **fields: Any) -> None:
        """Merge ``fields`` into the run's free-form meta."""
        self.update_run(run_id, meta=fields)

    def get_run(self, run_id: str) -> RunRecord:
        """The run's metadata; raises :class:`RunNotFound` naming the store when there is none."""
        rows = self._query(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunNotFound(run_id, self.path)
        return _run_record(rows[0], LiveWriters())

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        topology: str | None = None,
        comparison_id: str | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """Runs, newest first, with ``duration_s`` (NaN while running). A 'running' run whose writer is gone is
        listed (and filtered) as 'interrupted', as a writable open would record it."""
        clauses, params = [], []
        for column, value in (
            ("experiment", experiment),
            ("topology", topology),
            ("comparison_id", comparison_id),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if status is not None:  # an interrupted run may still read 'running' on disk
            clauses.append("status IN (?, 'running')" if status == "interrupted" else "status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        raw = self._query(
            "SELECT id, comparison_id, experiment, topology, repeat, status, started_at, ended_at, injected_at, "
            f"writer_pid, writer_started, writer_host FROM runs {where} ORDER BY started_at DESC, id DESC",
            params,
        )
        live = LiveWriters()
        rows = []
        for *head, pid, started, host in raw:
            if live.dead(head[5], pid, started, host):
                head[5] = "interrupted"
            if status is None or head[5] == status:
                rows.append(tuple(head))
        columns = [
            "run_id",
            "comparison_id",
            "experiment",
            "topology",
            "repeat",
            "status",
            "started_at",
            "ended_at",
            "injected_at",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("started_at", "ended_at", "injected_at"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        frame["repeat"] = frame["repeat"].astype("int64")
        frame["duration_s"] = frame["ended_at"] - frame["started_at"]
        return frame

    def list_comparisons(self, *, experiment: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Comparisons, newest first, with their run count and topologies."""
        clauses, params = [], []
        if experiment is not None:
            clauses.append("c.experiment = ?")
            params.append(experiment)
        if kind is not None:
            clauses.append("c.kind = ?")
            params.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(
            "SELECT c.id, c.experiment, c.kind, c.title, c.created_at, COUNT(r.id), "
            "COALESCE(GROUP_CONCAT(DISTINCT r.topology), '') "
            f"FROM comparisons c LEFT JOIN runs r ON r.comparison_id = c.id {where} "
            "GROUP BY c.id ORDER BY c.created_at DESC, c.id DESC",
            params,
        )
        columns = ["comparison_id", "experiment", "kind", "title", "created_at", "runs", "topologies"]
        return pd.DataFrame(rows, columns=columns)

    def get_comparison(self, comparison_id: str) -> ComparisonRecord:
        """The comparison with ``runs``: its runs' metadata ordered by topology and repeat."""
        rows = self._query(
            "SELECT id, experiment, kind, title, created_at, meta FROM comparisons WHERE id = ?", (comparison_id,)
        )
        if not rows:
            raise ComparisonNotFound(comparison_id, self.path)
        cid, experiment, kind, title, created_at, meta = rows[0]
        runs = self._query(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE comparison_id = ? ORDER BY topology, repeat, started_at",
            (cid,),
        )
        live = LiveWriters()
        return ComparisonRecord(comparison_id=cid, experiment=experiment, kind=kind, title=title,
                                created_at=created_at, meta=records.loads(meta) or {},
                                runs=[_run_record(r, live) for r in runs])

    # ----------------------------------------------------------------- samples
    def append_samples(self, run_id: str, samples: Iterable[tuple[float, str, Mapping[str, str], float]]) -> None:
        """Buffer ``(ts, metric, labels, value)`` samples; written every ``flush_interval`` s or on flush()."""
        if self.readonly:
            raise StoreReadOnly(f"the run store at {self.path} was opened read-only")
        self._require_run(run_id)
        with self._lock:
            self._buffer.add(run_id, samples)
            due = time.monotonic() - self._last_flush >= self._flush_interval
            if due or self._buffer.pending >= self._max_buffered:
                self.flush()

    def flush(self) -> None:
        """Write every buffered sample in one transaction; readers see them from now on."""
        with self._lock:
            self._last_flush = time.monotonic()
            if not self._buffer.pending:
                return
            with self._tx() as conn:
                written = self._buffer.flush(conn)
            LOGGER.debug("flushed %d samples to %s", written, self.path)

    def load_series(
        self,
        run_id: str,
        metrics: list[str] | None = None,
        start: float | None = None,
        end: float | None = None,
    ) -> pd.DataFrame:
        """Long format: ``ts`` (float unix s), ``metric``, ``value``, then one column per label key."""
        self._require_run(run_id)
        self._read_own_writes(run_id)
        with self._lock:
            return series.load_series(self._conn, run_id, metrics, start, end)

    def list_metrics(self, run_id: str) -> list[str]:
        self._require_run(run_id)
        self._read_own_writes(run_id)
        with self._lock:
            return series.list_metrics(self._conn, run_id)

    # ----------------------------------------------------------------- inspection
    def run_stats(self, run_id: str) -> dict[str, Any]:
        """Counts for ``aftershock show``: series, samples, chunks, events, activities, load samples."""
        self._require_run(run_id)
        self._read_own_writes(run_id)
        with self._lock:
            stats: dict[str, Any] = series.series_stats(self._conn, run_id)
            for key, table in (
                ("events", "events"),
                ("activities", "timeline"),
                ("machine_load", "machine_load"),
                ("request_seconds", "request_agg"),
            ):
                stats[key] = self._conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[
                    0
                ]
            stats["journal"] = bool(self._conn.execute("SELECT 1 FROM journals WHERE run_id = ?", (run_id,)).fetchone())
        return stats

    def integrity_check(self) -> list[str]:
        """Problems found (empty when fine): SQLite's own check, foreign keys, and every chunk decoding."""
        problems: list[str] = []
        with self._lock:
            for (line,) in self._conn.execute("PRAGMA integrity_check"):
                if line != "ok":
                    problems.append(f"sqlite: {line}")
            for table, rowid, parent, _fk in self._conn.execute("PRAGMA foreign_key_check"):
                problems.append(f"{table} row {rowid} points at a missing {parent} row")
            for chunk_id, run_id, n, data in self._conn.execute("SELECT id, run_id, n, data FROM chunks"):
                try:
                    if chunk_count(data) != n or decode_chunk(data)[0].shape[0] != n:
                        problems.append(f"chunk {chunk_id} of run {run_id}: sample count does not match")
                except CodecError as exc:
                    problems.append(f"chunk {chunk_id} of run {run_id}: {exc}")
            for row_id, run_id, sids, data in self._conn.execute("SELECT id, run_id, sids, data FROM staging"):
                try:
                    series.decode_staging(sids, data)
                except (CodecError, ValueError, zlib.error) as exc:
                    problems.append(f"staging row {row_id} of run {run_id}: {exc}")
            for (status,) in self._conn.execute("SELECT DISTINCT status FROM runs"):
                if status not in records.RUN_STATUSES:
                    problems.append(f"unknown run status {status!r}")
        return problems


def _run_record(row: tuple, live: LiveWriters) -> RunRecord:
    """A run as every reader must see it: a dead writer's 'running' run is 'interrupted' (noted in ``meta``)."""
    (run_id, comparison_id, experiment, topology, repeat, status, started_at, ended_at, injected_at, settings,
     summary, meta, writer_pid, writer_host, request_log, writer_started) = row
    meta = records.loads(meta) or {}
    if live.dead(status, writer_pid, writer_started, writer_host):
        status = "interrupted"
        meta = {**meta, "interrupted_reason": DEAD_WRITER_NOTE.format(pid=writer_pid)}
    return RunRecord(run_id=run_id, comparison_id=comparison_id, experiment=experiment, topology=topology,
                     repeat=repeat, status=status, started_at=started_at, ended_at=ended_at, injected_at=injected_at,
                     settings=records.loads(settings) or {}, summary=records.loads(summary),
                     meta=meta, writer_pid=writer_pid, writer_host=writer_host,
                     request_log=request_log)
