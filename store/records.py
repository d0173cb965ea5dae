"""Validation and (de)serialisation of the small records: events, timeline activities, JSON blobs.

Why one place: the event log comes from files (bad lines are skipped and counted, never fatal), while
events and activities from code must be right (a bad one is a bug and raises :class:`InvalidRecord`).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InvalidRecord

__all__ = [
    "ACTIVITY_TYPES",
    "RUN_STATUSES",
    "event_row",
    "parse_event_log",
    "activity_row",
    "dumps",
    "loads",
    "pack_json",
    "unpack_json",
]

ACTIVITY_TYPES = frozenset({"action", "probe", "rollback", "hypothesis"})
RUN_STATUSES = frozenset({"running", "completed", "failed", "interrupted", "aborted", "skipped"})


def dumps(value: Any) -> str:
    """Compact JSON; anything not JSON-native (paths, numpy scalars) is stored as its string."""
    return json.dumps(value, separators=(",", ":"), default=str, allow_nan=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def pack_json(value: Any) -> bytes:
    """JSON compressed with zlib: journals repeat keys a lot and shrink ~10x."""
    return zlib.compress(dumps(value).encode("utf-8"), 6)


def unpack_json(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def _opt_str(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidRecord(f"event field {field!r} must be a string or null, not {type(value).__name__}")


def event_row(run_id: str, event: dict[str, Any]) -> tuple:
    """One events-table row from a contract event dict; raises InvalidRecord when it is not one."""
    if not isinstance(event, dict):
        raise InvalidRecord(f"an event must be a JSON object, not {type(event).__name__}")
    ts, kind = event.get("ts"), event.get("kind")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise InvalidRecord(f"event {event!r:.80} needs a finite numeric 'ts'")
    if not isinstance(kind, str) or not kind:
        raise InvalidRecord(f"event {event!r:.80} needs a non-empty string 'kind'")
    detail = event.get("detail") or {}
    if not isinstance(detail, dict):
        raise InvalidRecord(f"event {event!r:.80}: 'detail' must be an object")
    return (
        run_id,
        float(ts),
        kind,
        _opt_str(event.get("node"), "node"),
        _opt_str(event.get("region"), "region"),
        _opt_str(event.get("agent"), "agent"),
        _opt_str(event.get("by"), "by"),
        dumps(detail),
    )


def parse_event_log(run_id: str, path: Path, skipped: list[int]) -> Iterator[tuple]:
    """Rows for every well-formed line of a JSONL event log; line numbers of bad ones go to ``skipped``."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield event_row(run_id, json.loads(line))
            except (ValueError, InvalidRecord):
                skipped.append(number)


def activity_row(run_id: str, idx: int, activity: dict[str, Any]) -> tuple:
    """One timeline row; the activity's type must be one Chaos Toolkit knows."""
    if not isinstance(activity, dict):
        raise InvalidRecord(f"timeline activity {idx} must be a dict, not {type(activity).__name__}")
    kind = activity.get("type")
    if kind not in ACTIVITY_TYPES:
        raise InvalidRecord(
            f"timeline activity {idx} ({activity.get('name')!r}) has type {kind!r}; "
            f"expected one of {', '.join(sorted(ACTIVITY_TYPES))}"
        )
    name = activity.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRecord(f"timeline activity {idx} needs a non-empty 'name'")
    return (
        run_id,
        idx,
        name,
        kind,
        _opt_float(activity.get("start")),
        _opt_float(activity.get("end")),
        activity.get("status"),
        dumps(activity.get("detail") or {}),
    )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
