"""The emergency stop: one file under ``$AFTERSHOCK_HOME`` that every part of Aftershock honours.

Why a file: it is the one signal that every process can see without a server (the lab supervisors, the
runner, the scheduler, a plain ``chaos run``, the dashboard), it survives restarts, and a user can set it
by hand (``touch $AFTERSHOCK_HOME/EMERGENCY_STOP``) when nothing else answers. While it exists:

- every lab supervisor reverts its active faults (within 2 s) and refuses new ones;
- running experiments end as ``aborted`` with their rollbacks run;
- new runs, scheduled runs and chaos actions are refused with one line naming who stopped and how to clear.

``aftershock stop --all`` writes it (and heals every lab at once); ``aftershock stop --clear`` removes it.
An unreadable or empty file still counts as a stop: when in doubt, no chaos.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import EmergencyStopped

__all__ = ["STOP_FILE", "StopState", "stop_path", "stop_state", "set_stop", "clear_stop", "check_not_stopped",
           "is_stopped"]

STOP_FILE = "EMERGENCY_STOP"


@dataclass(frozen=True)
class StopState:
    """Who set the stop, when (unix s) and why; ``who`` is ``"unknown"`` for a file made by hand."""

    since: float
    who: str
    reason: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        why = f" ({self.reason})" if self.reason else ""
        return f"emergency stop in force since {when} by {self.who}{why}"


def stop_path(home: Path) -> Path:
    """``<home>/EMERGENCY_STOP``."""
    return Path(home) / STOP_FILE


def stop_state(home: Path) -> StopState | None:
    """The stop in force, or None. Cheap (one ``stat`` when there is no stop): callers poll it."""
    path = stop_path(home)
    try:
        raw = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return StopState(since=time.time(), who="unknown", reason=f"{path} is unreadable")
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return StopState(since=float(data.get("since", mtime)), who=str(data.get("who") or "unknown")[:200],
                         reason=str(data.get("reason") or "")[:500])
    except (ValueError, TypeError):
        return StopState(since=mtime, who="unknown", reason=f"set by hand ({path})")


def is_stopped(home: Path) -> bool:
    return stop_path(home).exists()


def set_stop(home: Path, who: str, reason: str = "") -> StopState:
    """Write the stop file (atomically; an existing stop keeps its original time and author)."""
    current = stop_state(home)
    if current is not None and current.who != "unknown":
        return current
    state = StopState(since=time.time(), who=who, reason=reason)
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{STOP_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(tmp, stop_path(home))
    return state


def clear_stop(home: Path) -> StopState | None:
    """Remove the stop file; returns the stop that was in force (None when there was none)."""
    state = stop_state(home)
    try:
        stop_path(home).unlink()
    except FileNotFoundError:
        return None
    return state


def check_not_stopped(home: Path, what: str) -> None:
    """Raise :class:`EmergencyStopped` (one line, exit 2) when a stop is in force; ``what`` is being refused."""
    state = stop_state(home)
    if state is not None:
        raise EmergencyStopped(f"{what} refused: {state.describe()}; clear it with `aftershock stop --clear`")
