"""The store's schema as an ordered list of migrations, tracked in ``PRAGMA user_version``.

Why migrations from version 1 on: stores outlive releases (a nightly job's history is the point), so a
newer Aftershock must open an older store in place, never ask the user to start over.
Each migration runs in one transaction together with its version bump, so a crash mid-migration leaves
the previous version intact.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Migration", "MIGRATIONS", "SCHEMA_VERSION", "migrate", "user_version"]

LOGGER = logging.getLogger("aftershock.store")


@dataclass(frozen=True)
class Migration:
    """One step: ``statements`` (or ``apply``) bring a store from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: Sequence[str] = ()
    apply: Callable[[sqlite3.Connection], None] | None = None


_V1 = (
    """CREATE TABLE comparisons (
        id TEXT PRIMARY KEY,
        experiment TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        comparison_id TEXT REFERENCES comparisons(id),
        experiment TEXT NOT NULL,
        topology TEXT NOT NULL,
        repeat INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        injected_at REAL,
        settings TEXT NOT NULL DEFAULT '{}',
        summary TEXT,
        writer_pid INTEGER,
        writer_started REAL
    )""",
    "CREATE INDEX runs_by_comparison ON runs(comparison_id)",
    "CREATE INDEX runs_by_start ON runs(started_at)",
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        UNIQUE (metric, labels)
    )""",
    """CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        series_id INTEGER NOT NULL REFERENCES series(id),
        seq INTEGER NOT NULL,
        n INTEGER NOT NULL,
        t_min INTEGER NOT NULL,
        t_max INTEGER NOT NULL,
        data BLOB NOT NULL
    )""",
    "CREATE INDEX chunks_by_run ON chunks(run_id, series_id, seq)",
    """CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        node TEXT,
        region TEXT,
        agent TEXT,
        by_node TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_by_run ON events(run_id, ts)",
)

_V2 = (
    "ALTER TABLE comparisons ADD COLUMN kind TEXT NOT NULL DEFAULT 'comparison'",
    "ALTER TABLE comparisons ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE runs ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE runs ADD COLUMN writer_host TEXT",
    "ALTER TABLE runs ADD COLUMN request_log TEXT",
    "ALTER TABLE events ADD COLUMN source TEXT",
    """CREATE TABLE journals (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        data BLOB NOT NULL
    )""",
    """CREATE TABLE timeline (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        type TEXT NOT NULL,
        start REAL,
        "end" REAL,
        status TEXT,
        detail TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID""",
    """CREATE TABLE staging (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        t_min INTEGER NOT NULL,
        t_max INTEGER NOT NULL,
        sids BLOB NOT NULL,
        data BLOB NOT NULL
    )""",
    "CREATE INDEX staging_by_run ON staging(run_id, id)",
    """CREATE TABLE machine_load (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        ts REAL NOT NULL,
        cpu REAL NOT NULL,
        PRIMARY KEY (run_id, ts)
    ) WITHOUT ROWID""",
    """CREATE TABLE request_agg (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        second INTEGER NOT NULL,
        client_region TEXT NOT NULL,
        outcome TEXT NOT NULL,
        count INTEGER NOT NULL,
        p50 REAL,
        p90 REAL,
        p99 REAL,
        PRIMARY KEY (run_id, second, client_region, outcome)
    ) WITHOUT ROWID""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "runs, comparisons, series chunks, events", _V1),
    Migration(2, "comparison kind/meta, run meta, staging, journals, timelines, machine load, request aggregates", _V2),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target``; return the version reached.

    The connection must be in autocommit mode (``isolation_level=None``); each step is its own
    ``BEGIN IMMEDIATE`` transaction, and the version is re-read inside it so two processes opening the
    same old store at once do not both migrate it.
    """
    for step in MIGRATIONS:
        if step.version > target:
            break
        conn.execute("BEGIN IMMEDIATE")
        try:
            if user_version(conn) >= step.version:
                conn.execute("COMMIT")
                continue
            for statement in step.statements:
                conn.execute(statement)
            if step.apply is not None:
                step.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(step.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        LOGGER.info("store migrated to schema version %d (%s)", step.version, step.description)
    return user_version(conn)
