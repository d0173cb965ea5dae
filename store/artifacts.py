"""Per-run artifacts beside the series: events, the Chaos Toolkit journal, the activity timeline,
the fault windows derived from it, the machine's CPU load, the request log and the agents' execution log.

Why a mixin: these are small, independent record types; keeping them out of ``runstore.py`` keeps the
connection/lock/transaction logic readable. They only use ``RunStore``'s helpers (``_tx``, ``_query``,
``_require_run``, ``update_run``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from core.logframes import read_execution_log, read_request_log

from . import records, requestlog
from .errors import BadLogFile, InvalidRecord, NoRequestLog

__all__ = ["ArtifactsMixin", "EventLogResult"]

LOGGER = logging.getLogger("aftershock.store")


class EventLogResult(tuple):
    """``(stored, skipped)`` counts of :meth:`RunStore.attach_event_log`."""

    __slots__ = ()

    def __new__(cls, stored: int, skipped: int) -> EventLogResult:
        return super().__new__(cls, (stored, skipped))

    @property
    def stored(self) -> int:
        return self[0]

    @property
    def skipped(self) -> int:
        return self[1]


class ArtifactsMixin:
    """Events, journal, timeline, machine load and request log of a run (mixed into RunStore)."""

    path: Path
    _require_run: Any
    _tx: Any
    _query: Any
    update_run: Any
    get_run: Any

    def append_events(self, run_id: str, events: Iterable[dict]) -> int:
        """Store contract event dicts (docs/contracts.md); a malformed one raises InvalidRecord."""
        self._require_run(run_id)
        rows = [(*records.event_row(run_id, e), None) for e in events]
        with self._tx() as conn:
            conn.executemany(_INSERT_EVENT, rows)
        return len(rows)

    def attach_event_log(self, run_id: str, path: Path, *, runs_dir: Path | None = None) -> EventLogResult:
        """Load a JSONL event log, replacing events attached from a log before; bad lines are counted."""
        self._require_run(run_id)
        path = Path(path)
        if not path.is_file():
            raise BadLogFile(f"event log {path} does not exist; pass the lab's events.jsonl")
        skipped: list[int] = []
        rows = [(*row, "event_log") for row in records.parse_event_log(run_id, path, skipped)]
        with self._tx() as conn:
            conn.execute("DELETE FROM events WHERE run_id = ? AND source = 'event_log'", (run_id,))
            conn.executemany(_INSERT_EVENT, rows)
        if skipped:
            LOGGER.warning(
                "run %s: skipped %d malformed lines of %s (first: line %d)", run_id, len(skipped), path, skipped[0]
            )
        if runs_dir is not None:
            requestlog.gzip_copy(path, Path(runs_dir) / run_id / "events.jsonl.gz")
        self.update_run(run_id, meta={"event_log": {"path": str(path), "stored": len(rows), "skipped": len(skipped)}})
        return EventLogResult(len(rows), len(skipped))

    def load_events(self, run_id: str) -> pd.DataFrame:
        """Events ordered by time: ts, kind, node, region, agent, by, detail (dict)."""
        self._require_run(run_id)
        rows = self._query(
            "SELECT ts, kind, node, region, agent, by_node, detail FROM events WHERE run_id = ? ORDER BY ts, rowid",
            (run_id,),
        )
        frame = pd.DataFrame(rows, columns=["ts", "kind", "node", "region", "agent", "by", "detail"])
        frame["ts"] = frame["ts"].astype("float64")
        frame["detail"] = [records.loads(d) for d in frame["detail"]]
        return frame

    def put_journal(self, run_id: str, journal: dict) -> None:
        """Store (replace) the run's Chaos Toolkit journal."""
        self._require_run(run_id)
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO journals(run_id, data) VALUES (?, ?)", (run_id, records.pack_json(journal))
            )

    def get_journal(self, run_id: str) -> dict | None:
        self._require_run(run_id)
        rows = self._query("SELECT data FROM journals WHERE run_id = ?", (run_id,))
        return records.unpack_json(rows[0][0]) if rows else None

    def put_timeline(self, run_id: str, activities: list[dict]) -> None:
        """Store (replace) the run's activity timeline: name, type, start, end, status, detail."""
        self._require_run(run_id)
        rows = [records.activity_row(run_id, i, a) for i, a in enumerate(activities)]
        with self._tx() as conn:
            conn.execute("DELETE FROM timeline WHERE run_id = ?", (run_id,))
            conn.executemany("INSERT INTO timeline VALUES (?,?,?,?,?,?,?,?)", rows)

    def load_timeline(self, run_id: str) -> list[dict]:
        self._require_run(run_id)
        rows = self._query(
            'SELECT name, type, start, "end", status, detail FROM timeline WHERE run_id = ? ORDER BY idx', (run_id,)
        )
        keys = ("name", "type", "start", "end", "status", "detail")
        return [{**dict(zip(keys[:-1], r[:-1], strict=True)), "detail": records.loads(r[-1])} for r in rows]

    def put_machine_load(self, run_id: str, samples: Iterable[tuple[float, float]]) -> None:
        """Append the machine's CPU percent over time (to tell a slow topology from a busy laptop)."""
        self._require_run(run_id)
        rows = [(run_id, float(ts), float(cpu)) for ts, cpu in samples]
        with self._tx() as conn:
            conn.executemany("INSERT OR REPLACE INTO machine_load VALUES (?,?,?)", rows)

    def load_machine_load(self, run_id: str) -> pd.DataFrame:
        self._require_run(run_id)
        rows = self._query("SELECT ts, cpu FROM machine_load WHERE run_id = ? ORDER BY ts", (run_id,))
        return pd.DataFrame(rows, columns=["ts", "cpu"], dtype="float64")

    # ----------------------------------------------------------------- request log
    def attach_request_log(self, run_id: str, path: Path, runs_dir: Path) -> Path:
        """Keep a gzip copy at ``runs_dir/<run_id>/requests.csv.gz`` and store per-second aggregates."""
        self._require_run(run_id)
        path = Path(path)
        if not path.is_file():
            raise BadLogFile(f"request log {path} does not exist; pass the lab's requests.csv")
        agg = requestlog.aggregate_requests(read_request_log(path))
        dest = Path(runs_dir) / run_id / "requests.csv.gz"
        requestlog.gzip_copy(path, dest)
        with self._tx() as conn:
            requestlog.store_aggregates(conn, run_id, agg)
            conn.execute("UPDATE runs SET request_log = ? WHERE id = ?", (str(dest), run_id))
        return dest

    def request_log_path(self, run_id: str) -> Path | None:
        """The kept copy of the run's request log, or None when none was attached (or it was deleted)."""
        self._require_run(run_id)
        (value,) = self._query("SELECT request_log FROM runs WHERE id = ?", (run_id,))[0]
        return Path(value) if value and Path(value).is_file() else None

    def load_requests(self, run_id: str) -> pd.DataFrame:
        """Every request of the run (contract columns, typed) from the kept copy."""
        path = self.request_log_path(run_id)
        if path is None:
            raise NoRequestLog(
                f"run {run_id} in the store at {self.path} has no request log; attach one with attach_request_log"
            )
        return read_request_log(path)

    def load_request_aggregates(self, run_id: str) -> pd.DataFrame:
        """Per second x client_region x outcome: count, p50, p90, p99 (seconds of latency)."""
        self._require_run(run_id)
        rows = self._query(
            "SELECT second, client_region, outcome, count, p50, p90, p99 FROM request_agg WHERE run_id = ? "
            "ORDER BY second, client_region, outcome",
            (run_id,),
        )
        frame = pd.DataFrame(rows, columns=["second", "client_region", "outcome", "count", "p50", "p90", "p99"])
        return frame.astype({"second": "int64", "count": "int64", "p50": "float64", "p90": "float64", "p99": "float64"})

    # ----------------------------------------------------------------- execution log
    def attach_execution_log(self, run_id: str, path: Path, runs_dir: Path) -> Path:
        """Keep a gzip copy of the agents' execution log at ``runs_dir/<run_id>/executions.csv.gz``.

        Why a copy and no table: the ledger joins every execution with every request, which the raw rows
        answer best; the path and the row count go into the run's meta (``execution_log``).
        """
        self._require_run(run_id)
        path = Path(path)
        if not path.is_file():
            raise BadLogFile(f"execution log {path} does not exist; pass the lab's executions.csv")
        rows = len(read_execution_log(path))  # validates the columns before anything is kept
        dest = Path(runs_dir) / run_id / "executions.csv.gz"
        requestlog.gzip_copy(path, dest)
        self.update_run(run_id, meta={"execution_log": {"path": str(dest), "source": str(path), "rows": rows}})
        return dest

    def execution_log_path(self, run_id: str) -> Path | None:
        """The kept copy of the run's execution log, or None when none was attached (or it was deleted)."""
        entry = (self.get_run(run_id).get("meta") or {}).get("execution_log") or {}
        value = entry.get("path") if isinstance(entry, dict) else None
        return Path(value) if value and Path(value).is_file() else None

    def load_executions(self, run_id: str) -> pd.DataFrame | None:
        """Every task the agents executed during the run (core.logs' columns, typed); None without a log."""
        path = self.execution_log_path(run_id)
        return None if path is None else read_execution_log(path)

    # ----------------------------------------------------------------- fault windows
    def put_fault_windows(self, run_id: str, windows: list[dict[str, Any]]) -> None:
        """Store (replace) the run's fault windows (analysis.faults.FaultWindow.to_dict of each)."""
        for i, w in enumerate(windows):
            if not isinstance(w, dict) or not isinstance(w.get("start"), int | float):
                raise InvalidRecord(f"fault window {i} of run {run_id} needs a numeric 'start'")
        self.update_run(run_id, meta={"fault_windows": list(windows)})

    def load_fault_windows(self, run_id: str) -> list[dict[str, Any]] | None:
        """The stored fault windows; None when none were recorded (older runs: derive them from the timeline)."""
        value = (self.get_run(run_id).get("meta") or {}).get("fault_windows")
        return list(value) if isinstance(value, list) else None


_INSERT_EVENT = (
    "INSERT INTO events(run_id, ts, kind, node, region, agent, by_node, detail, source) VALUES (?,?,?,?,?,?,?,?,?)"
)
