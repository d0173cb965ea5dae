"""The audit log: every injection, rollback, stop and clear, with time, run, target and who. One owner.

Why a JSONL file under ``$AFTERSHOCK_HOME`` and not the run store: the lab supervisors (dead-man heals), a
plain ``chaos run``, the scheduler and the dashboard all write to it, some of them with no store open, and
an emergency stop must be recorded even when the store is locked or broken. Every entry is one line written
with a single ``write`` under ``O_APPEND`` and an exclusive ``flock``, then ``fsync``: lines never interleave,
and a writer killed -9 leaves at worst one torn last line, which readers skip (and count). Nothing ever
rewrites the file: it is append-only.

``who`` says on whose behalf: ``user NAME`` (the command line, ``chaos run``), ``dashboard session ID``,
``schedule NAME``, or a component (``dead-man of lab NAME``). Processes started on someone's behalf inherit
it through ``AFTERSHOCK_ACTOR`` (the dashboard's launches, the scheduler's runs).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AUDIT_FILE", "ACTIONS", "AuditEntry", "AuditLog", "audit_path", "record", "read_audit", "actor",
           "ENV_ACTOR", "ENV_SCHEDULE"]

log = logging.getLogger("aftershock.audit")

AUDIT_FILE = "audit.jsonl"
ENV_ACTOR = "AFTERSHOCK_ACTOR"
ENV_SCHEDULE = "AFTERSHOCK_SCHEDULE"
#: inject / rollback: a chaos action broke or mended something; refused: an injection or a run refused by a
#: stop; stop / clear: the emergency stop; deadman: a supervisor reverted the faults of a dead controller;
#: expired: a fault outlived its maximum duration and was reverted.
ACTIONS = frozenset({"inject", "rollback", "refused", "stop", "clear", "deadman", "expired"})
_MAX_LINE = 8192


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    ts: float
    action: str
    who: str
    run: str | None = None
    lab: str | None = None
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        line = json.dumps(asdict(self), default=str, separators=(",", ":"))
        if len(line) > _MAX_LINE:  # one bounded line: a huge output is summarised, never split
            line = json.dumps({**asdict(self), "detail": {"truncated": line[:1000]}}, default=str,
                              separators=(",", ":"))
        return line

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AuditEntry:
        detail = raw.get("detail")
        return cls(ts=float(raw["ts"]), action=str(raw["action"]), who=str(raw.get("who") or "unknown"),
                   run=raw.get("run"), lab=raw.get("lab"), target=raw.get("target"),
                   detail=detail if isinstance(detail, dict) else {})


def audit_path(home: Path) -> Path:
    return Path(home) / AUDIT_FILE


def actor(environ: Mapping[str, str] | None = None) -> str:
    """Who this process acts for: ``AFTERSHOCK_ACTOR``, else the schedule that started it, else the user."""
    env = os.environ if environ is None else environ
    explicit = (env.get(ENV_ACTOR) or "").strip()
    if explicit:
        return explicit[:200]
    schedule = (env.get(ENV_SCHEDULE) or "").strip()
    if schedule:
        return f"schedule {schedule}"[:200]
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):
        return f"user uid {os.getuid()}"


class AuditLog:
    """The audit log of one data directory."""

    def __init__(self, home: Path, clock: Any = time.time) -> None:
        self.path = audit_path(home)
        self.clock = clock

    def append(self, action: str, who: str, *, run: str | None = None, lab: str | None = None,
               target: str | None = None, **detail: Any) -> AuditEntry:
        """Append one entry (durably). Raises ValueError for an unknown action: a caller bug."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; one of {', '.join(sorted(ACTIONS))}")
        entry = AuditEntry(ts=self.clock(), action=action, who=who, run=run, lab=lab, target=target, detail=detail)
        data = (entry.to_json() + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return entry

    def read(self, *, limit: int | None = None, since: float | None = None,
             actions: frozenset[str] | set[str] | None = None) -> tuple[list[AuditEntry], int]:
        """Entries oldest first (the last ``limit`` when given) and the number of unreadable lines skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        entries: list[AuditEntry] = []
        bad = 0
        for line in raw.splitlines():
            if not line.strip():
                continue
            try:
                entry = AuditEntry.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if since is not None and entry.ts < since:
                continue
            if actions is not None and entry.action not in actions:
                continue
            entries.append(entry)
        if limit is not None:
            entries = entries[-limit:] if limit > 0 else []
        return entries, bad


def record(home: Path, action: str, who: str, **fields: Any) -> AuditEntry | None:
    """Append an entry; a failure to write is logged, never raised (an audit problem must not stop a rollback)."""
    try:
        return AuditLog(home).append(action, who, **fields)
    except OSError as exc:
        log.error("cannot write the audit log under %s: %s (entry %s by %s lost)", home, exc, action, who)
        return None


def read_audit(home: Path, **kwargs: Any) -> tuple[list[AuditEntry], int]:
    return AuditLog(home).read(**kwargs)
