"""The run ledger of a target: what Aftershock has done to it and not yet undone, on disk.

Why on disk: every chaos action opens its own engine (``chaos.labref.resolve_lab``), the runner and the
actions share one process but not one object, and a run can die by ``kill -9``. The ledger
(``targets/NAME.state.json``) says which run owns the target (id, pid, the pid's start time, so a reused pid
does not count as alive), whether the target is armed (its first run was a dry run), and every cordon and
chaos object still in place. Updates hold an exclusive ``flock`` on ``NAME.lock`` and are written whole.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from core.settings import Settings
from engines.targets import atomic_write, targets_dir

__all__ = ["Ledger", "process_token", "alive"]


def process_token(pid: int | None = None) -> dict[str, Any]:
    """A pid and its start time: together they name one process, even after the pid is reused."""
    pid = os.getpid() if pid is None else pid
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return {"pid": pid, "pid_started": started}


def alive(token: dict[str, Any] | None) -> bool:
    """Whether the process a token names still runs."""
    if not token or not token.get("pid"):
        return False
    try:
        proc = psutil.Process(int(token["pid"]))
        return token.get("pid_started") is None or abs(proc.create_time() - float(token["pid_started"])) < 1.0
    except (psutil.Error, ValueError, TypeError):
        return False


def _empty() -> dict[str, Any]:
    return {"armed": False, "dry_run": None, "run": None, "cordoned": {}, "objects": {}, "request_log": "",
            "generation": 0}


class Ledger:
    """``targets/NAME.state.json`` under an exclusive lock."""

    def __init__(self, settings: Settings, name: str) -> None:
        base = targets_dir(settings)
        self.path = base / f"{name}.state.json"
        self.lock_path = base / f"{name}.lock"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return _empty()
        return {**_empty(), **data} if isinstance(data, dict) else _empty()

    @contextmanager
    def update(self) -> Iterator[dict[str, Any]]:
        """Read, let the caller change, write back whole; exclusive against other processes."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                state = self.read()
                yield state
                atomic_write(self.path, json.dumps(state, indent=1, sort_keys=True))
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

