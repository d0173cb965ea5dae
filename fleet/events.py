"""The lab's event log: one JSON object per line, appended by every lab process.

Each event is written with a single ``write`` on an ``O_APPEND`` descriptor, so lines from several
processes never interleave (lines are far below the size where that could happen).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EventLog", "read_events", "EVENT_KINDS"]

EVENT_KINDS = frozenset(
    {
        "lab_started",
        "lab_stopped",
        "node_started",
        "node_killed",
        "node_restarted",
        "node_migrated",
        "node_paused",
        "node_resumed",
        "agent_started",
        "agent_killed",
        "agent_restarted",
        "region_killed",
        "region_restored",
        "member_suspected",
        "member_dead",
        "member_alive",
        "link_changed",
        "hub_failover",
        "healed",
        "node_throttled",
        "node_unthrottled",
    }
)


class EventLog:
    """Appends events; ``clock`` is injectable so tests can pin times."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def emit(
        self,
        kind: str,
        *,
        node: str | None = None,
        region: str | None = None,
        agent: str | None = None,
        by: str | None = None,
        **detail: Any,
    ) -> dict[str, Any]:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        event = {
            "ts": round(self._clock(), 6),
            "kind": kind,
            "node": node,
            "region": region,
            "agent": agent,
            "by": by,
            "detail": detail,
        }
        os.write(self._fd, (json.dumps(event, separators=(",", ":")) + "\n").encode())
        return event

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_events(path: Path) -> list[dict[str, Any]]:
    """All well-formed events of a log; a torn last line (writer killed mid-write) is skipped."""
    events = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "kind" in event:
            events.append(event)
    return events
