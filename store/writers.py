"""Who is writing a run, and whether that writer is still alive.

Why pid + start time + host: a pid alone is recycled by the OS, so a run whose writer was killed -9
could look alive forever once another process gets the same pid. The writer's process start time
(psutil) tells the two apart; runs written on another host are left alone (their pid means nothing here).
"""

from __future__ import annotations

import logging
import socket
import sqlite3
from dataclasses import dataclass

import psutil

__all__ = ["Writer", "current_writer", "writer_alive", "recover_dead_runs", "LiveWriters", "DEAD_WRITER_NOTE"]

LOGGER = logging.getLogger("aftershock.store")
_START_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Writer:
    pid: int
    started: float
    host: str


def current_writer() -> Writer:
    """This process as a writer."""
    return Writer(pid=psutil.Process().pid, started=psutil.Process().create_time(), host=socket.gethostname())


def writer_alive(pid: int | None, started: float | None) -> bool:
    """True when process ``pid`` exists, is not a zombie, and started when the writer did."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - float(started)) <= _START_TOLERANCE_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, owned by someone else: assume it is the writer rather than steal its run


#: What a reader says of a run whose writer died without finishing it (kept in the presented record's meta).
DEAD_WRITER_NOTE = ("its writer (pid {pid}) is gone: it was killed or crashed; shown as interrupted by every reader, "
                    "recorded so at the next writable open of the store")


class LiveWriters:
    """Tells readers which 'running' runs are really running, without writing anything.

    Why in readers too: a writable open records a dead writer's runs as interrupted (:func:`recover_dead_runs`),
    but readers (``aftershock runs``, the dashboard, the Live page) open the store read-only and may never see a
    writable open; they must not show a killed runner's run as running. One check per distinct writer, cached
    for the life of this object (one listing).
    """

    def __init__(self, host: str | None = None):
        self.host = host if host is not None else socket.gethostname()
        self._alive: dict[tuple[int | None, float | None], bool] = {}

    def dead(self, status: str, pid: int | None, started: float | None, host: str | None) -> bool:
        """True for a 'running' run of this host whose writer (pid and start time) is gone."""
        if status != "running" or host not in (None, self.host):
            return False
        key = (pid, started)
        if key not in self._alive:
            self._alive[key] = writer_alive(pid, started)
        return not self._alive[key]


def recover_dead_runs(conn: sqlite3.Connection, host: str) -> list[str]:
    """Mark this host's 'running' runs whose writer is gone as 'interrupted'; return their ids.

    Runs inside one ``BEGIN IMMEDIATE`` transaction so two processes opening the store at once agree.
    ``ended_at`` becomes the last data timestamp seen (samples or events), or the start when none.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "SELECT id, writer_pid, writer_started, writer_host, started_at FROM runs WHERE status = 'running'"
        ).fetchall()
        dead = [r for r in rows if (r[3] in (None, host)) and not writer_alive(r[1], r[2])]
        for run_id, pid, _started, _host, started_at in dead:
            (last_chunk,) = conn.execute("SELECT MAX(t_max) FROM chunks WHERE run_id = ?", (run_id,)).fetchone()
            (last_event,) = conn.execute("SELECT MAX(ts) FROM events WHERE run_id = ?", (run_id,)).fetchone()
            candidates = [started_at]
            if last_chunk is not None:
                candidates.append(last_chunk / 1000.0)
            if last_event is not None:
                candidates.append(last_event)
            conn.execute(
                "UPDATE runs SET status = 'interrupted', ended_at = ? WHERE id = ? AND status = 'running'",
                (max(candidates), run_id),
            )
            LOGGER.warning("run %s: writer pid %s is gone; marked interrupted", run_id, pid)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return [r[0] for r in dead]
