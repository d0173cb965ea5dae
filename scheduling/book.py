"""The schedule book: schedules and every attempt, in ``$AFTERSHOCK_HOME/schedules.sqlite`` (SQLite, WAL).

Why a table of our own rather than APScheduler's SQLAlchemyJobStore: the attempts history (outcome, reason,
comparison, regression flags) has to live somewhere queryable anyway, SQLAlchemy is not a dependency, and a
pickled job store ties stored rows to Python import paths. ``(schedule, fire_time)`` is UNIQUE: claiming a
fire time is one INSERT, so two scheduler processes (or a scheduler and ``run-due`` from cron) never both
run the same fire.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ScheduleError
from scheduling.model import Schedule, experiment_name

__all__ = ["ScheduleBook", "Attempt", "ATTEMPT_OUTCOMES", "DB_NAME"]

log = logging.getLogger("aftershock.scheduling")

DB_NAME = "schedules.sqlite"
ATTEMPT_OUTCOMES = ("running", "completed", "failed", "skipped", "missed")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules(
  name TEXT PRIMARY KEY, cron TEXT NOT NULL, experiment TEXT NOT NULL, topologies TEXT NOT NULL,
  repeat INTEGER NOT NULL, gate_budget REAL, warmup_s REAL NOT NULL, observe_s REAL NOT NULL,
  grace_s REAL NOT NULL, timeout_s REAL NOT NULL, paused INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL, last_fire_at REAL);
CREATE TABLE IF NOT EXISTS attempts(
  id INTEGER PRIMARY KEY AUTOINCREMENT, schedule TEXT NOT NULL, experiment TEXT NOT NULL,
  fire_time REAL NOT NULL, trigger TEXT NOT NULL, started_at REAL, ended_at REAL,
  outcome TEXT NOT NULL, comparison_id TEXT, reason TEXT, pid INTEGER, metrics TEXT, regressions TEXT,
  UNIQUE(schedule, fire_time));
CREATE INDEX IF NOT EXISTS attempts_by_schedule ON attempts(schedule, fire_time);
"""
_SCHEDULE_COLS = ("name, cron, experiment, topologies, repeat, gate_budget, warmup_s, observe_s, grace_s, timeout_s, "
                  "paused, created_at, last_fire_at")
_ATTEMPT_COLS = ("id, schedule, experiment, fire_time, trigger, started_at, ended_at, outcome, comparison_id, reason, "
                 "pid, metrics, regressions")


@dataclass
class Attempt:
    """One fire of a schedule and what became of it."""
    id: int
    schedule: str
    experiment: str
    fire_time: float
    trigger: str
    started_at: float | None
    ended_at: float | None
    outcome: str
    comparison_id: str | None
    reason: str | None
    pid: int | None
    metrics: dict[str, Any] | None
    regressions: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _schedule(row: tuple) -> Schedule:
    (name, cron, experiment, topologies, repeat, gate, warmup, observe, grace, timeout, paused, created,
     last) = row
    return Schedule(name=name, cron=cron, experiment=experiment, topologies=json.loads(topologies), repeat=repeat,
                    gate_budget=gate, warmup_s=warmup, observe_s=observe, grace_s=grace, timeout_s=timeout,
                    paused=bool(paused), created_at=created, last_fire_at=last)


def _attempt(row: tuple) -> Attempt:
    values = list(row)
    values[11] = json.loads(values[11]) if values[11] else None
    values[12] = json.loads(values[12]) if values[12] else []
    return Attempt(*values)


class ScheduleBook:
    """Schedules and attempts; one short transaction per call, safe across processes (WAL, busy timeout)."""
    def __init__(self, path: Path, *, clock: Any = time.time):
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # one connection shared by the scheduler's job threads
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._tx() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @classmethod
    def open(cls, home: Path, **kwargs: Any) -> ScheduleBook:
        return cls(Path(home) / DB_NAME, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ScheduleBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ---- schedules ---------------------------------------------------------------------------------
    def add(self, schedule: Schedule) -> None:
        """Store a validated schedule; a duplicate name is a :class:`ScheduleError` and changes nothing."""
        try:
            with self._tx() as conn:
                conn.execute(f"INSERT INTO schedules({_SCHEDULE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             (schedule.name, schedule.cron, schedule.experiment, json.dumps(schedule.topologies),
                              schedule.repeat, schedule.gate_budget, schedule.warmup_s, schedule.observe_s,
                              schedule.grace_s, schedule.timeout_s, int(schedule.paused), schedule.created_at,
                              schedule.last_fire_at))
        except sqlite3.IntegrityError:
            raise ScheduleError(f"a schedule named {schedule.name!r} already exists; remove it first or pick "
                                f"another name") from None

    def get(self, name: str) -> Schedule:
        rows = self._rows(f"SELECT {_SCHEDULE_COLS} FROM schedules WHERE name = ?", (name,))
        if not rows:
            raise ScheduleError(f"no schedule named {name!r}; list them with `aftershock schedule list`")
        return _schedule(rows[0])

    def list(self) -> list[Schedule]:
        return [_schedule(r) for r in self._rows(f"SELECT {_SCHEDULE_COLS} FROM schedules ORDER BY name")]

    def remove(self, name: str) -> None:
        """Delete the schedule; its attempts stay as history."""
        with self._tx() as conn:
            if conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount == 0:
                raise ScheduleError(f"no schedule named {name!r}; list them with `aftershock schedule list`")

    def set_paused(self, name: str, paused: bool) -> None:
        """Resuming does not owe the fires that passed while paused: they are neither run nor missed."""
        with self._tx() as conn:
            sql = "UPDATE schedules SET paused = ?" + ("" if paused else ", last_fire_at = ?") + " WHERE name = ?"
            params = (1, name) if paused else (0, self.clock(), name)
            if conn.execute(sql, params).rowcount == 0:
                raise ScheduleError(f"no schedule named {name!r}; list them with `aftershock schedule list`")

    def advance(self, name: str, fire_time: float) -> None:
        """Remember the latest fire handled, so a restart knows which fires it missed."""
        with self._tx() as conn:
            conn.execute("UPDATE schedules SET last_fire_at = ? WHERE name = ? AND "
                         "(last_fire_at IS NULL OR last_fire_at < ?)", (fire_time, name, fire_time))

    # ---- attempts ----------------------------------------------------------------------------------
    def claim(self, schedule: Schedule, fire_time: float, trigger: str, pid: int) -> int | None:
        """Insert the attempt as 'running'; None when another process already claimed this fire time."""
        try:
            with self._tx() as conn:
                cur = conn.execute("INSERT INTO attempts(schedule, experiment, fire_time, trigger, started_at, "
                                   "outcome, pid) VALUES (?,?,?,?,?,'running',?)",
                                   (schedule.name, experiment_name(schedule.experiment), fire_time, trigger,
                                    self.clock(), pid))
                conn.execute("UPDATE schedules SET last_fire_at = ? WHERE name = ? AND "
                             "(last_fire_at IS NULL OR last_fire_at < ?)", (fire_time, schedule.name, fire_time))
                return int(cur.lastrowid or 0)
        except sqlite3.IntegrityError:
            return None

    def record(self, schedule: Schedule, fire_time: float, trigger: str, outcome: str, reason: str) -> bool:
        """A fire that did not run (missed); False when the fire time was already recorded."""
        attempt_id = self.claim(schedule, fire_time, trigger, pid=0)
        if attempt_id is None:
            return False
        self.finish(attempt_id, outcome, reason=reason)
        return True

    def finish(self, attempt_id: int, outcome: str, *, reason: str | None = None, comparison_id: str | None = None,
               metrics: dict[str, Any] | None = None, regressions: list[dict[str, Any]] | None = None) -> None:
        if outcome not in ATTEMPT_OUTCOMES or outcome == "running":
            raise ValueError(f"attempt outcome {outcome!r}")
        with self._tx() as conn:
            conn.execute("UPDATE attempts SET outcome = ?, reason = ?, comparison_id = ?, metrics = ?, "
                         "regressions = ?, ended_at = ? WHERE id = ?",
                         (outcome, reason, comparison_id, json.dumps(metrics) if metrics is not None else None,
                          json.dumps(regressions or []), self.clock(), attempt_id))

    def attempts(self, schedule: str | None = None, *, experiment: str | None = None, outcome: str | None = None,
                 limit: int | None = None) -> list[Attempt]:
        """Newest first."""
        clauses, params = [], []
        for column, value in (("schedule", schedule), ("experiment", experiment), ("outcome", outcome)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {_ATTEMPT_COLS} FROM attempts" + (" WHERE " + " AND ".join(clauses) if clauses else "")
        sql += " ORDER BY fire_time DESC, id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return [_attempt(r) for r in self._rows(sql, params)]

    def attempt(self, attempt_id: int) -> Attempt:
        rows = self._rows(f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE id = ?", (attempt_id,))
        if not rows:
            raise ScheduleError(f"no attempt {attempt_id}")
        return _attempt(rows[0])

    def running(self) -> list[Attempt]:
        return self.attempts(outcome="running")
