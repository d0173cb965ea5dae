"""The ground truth's file formats, owned in one place: the request log, the execution log and the event log.

Each format has its columns (or fields), its types, its writer and its readers here, and nowhere else: the
load generator and the agents write through these writers, the store and the analysis read with these
readers, and the chaos probes and the runner's guardrail tail the live files with these tail readers. A
column added here reaches every reader at once (docs/contracts.md documents the same names).

- **Request log** (CSV, one row per client request, written by the load generator): what the client saw.
- **Execution log** (CSV, one row per task an agent executed, written by every agent): what the agents did.
  The task ledger (docs/analysis.md) joins the two on ``task``, Jepsen-style.
- **Event log** (JSONL, one object per line, appended by every lab process): what the deployment did
  (node killed, member declared dead, replacement spawned, ...).

Logs grow for as long as a lab runs, so "the last N seconds" is read from the end of the file backwards,
block by block (:func:`tail_lines`), instead of parsing the whole file. The whole-file readers (into pandas)
are in ``core.logframes``: this module stays free of pandas because every lab process imports it, and pandas
is most of a process's start-up time.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from core.errors import BadLogFile

__all__ = [
    "REQUEST_DTYPES",
    "REQUEST_COLUMNS",
    "REQUEST_OUTCOMES",
    "REQUEST_OPTIONAL",
    "EXECUTION_DTYPES",
    "EXECUTION_COLUMNS",
    "EXECUTION_OPTIONAL",
    "EVENT_KINDS",
    "CsvLogWriter",
    "request_log_writer",
    "execution_log_writer",
    "read_requests_since",
    "tail_lines",
    "EventLog",
    "read_events",
    "read_events_since",
    "REQUEST_LOG_SLACK_S",
]

#: Request log: the contract's columns and the types they load as (docs/contracts.md, "Request log").
REQUEST_DTYPES: dict[str, str] = {
    "ts": "float64",
    "end": "float64",
    "client_region": "string",
    "session": "string",
    "outcome": "string",
    "latency_s": "float64",
    "agent": "string",
    "served_region": "string",
    "session_ok": "Int8",
    "attempts": "Int64",
    "task": "string",
    "asked_rate": "float64",  # the whole workload's asked arrival rate (tasks/s) when this request arrived
}
REQUEST_COLUMNS = tuple(REQUEST_DTYPES)
#: What a client can see of a request: served; failed (refused, reset, a server error); no answer in time;
#: shed by a saturated deployment (HTTP 429: nothing ran, a retry is safe).
REQUEST_OUTCOMES = ("ok", "error", "timeout", "rejected")
#: Columns added after the first contract: older logs load with them empty.
REQUEST_OPTIONAL = frozenset({"task", "asked_rate"})

#: Execution log: one row per task an agent ran (docs/contracts.md, "Execution log").
EXECUTION_DTYPES: dict[str, str] = {
    "task": "string",
    "agent": "string",
    "node": "string",
    "region": "string",
    "start": "float64",
    "end": "float64",
    "session": "string",
    "session_write": "Int8",  # 1 when the task acknowledged a session-memory write
    "queued_s": "float64",  # how long the task waited for a slot (at the hub and the agent) before it started
}
EXECUTION_COLUMNS = tuple(EXECUTION_DTYPES)
#: Columns added after the first contract: older logs load with them empty.
EXECUTION_OPTIONAL = frozenset({"queued_s"})

#: Rows whose ``end`` is this much older than asked are taken as the end of a backwards read (clients'
#: rows are appended when requests end, so a row can be older than the one before it by up to a timeout).
REQUEST_LOG_SLACK_S = 10.0
_BLOCK = 1 << 16


# ---- writers -------------------------------------------------------------------------------------
class CsvLogWriter:
    """Appends rows to a CSV log with a header; a batch is one ``write`` on an ``O_APPEND`` descriptor, so
    rows of several processes never interleave and a killed writer leaves at most one torn last line."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.fstat(self._fd).st_size == 0:
            os.write(self._fd, (",".join(self.columns) + "\n").encode())

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows; a row of the wrong width is a writer's bug (readers would skip it silently): raise."""
        rows = list(rows)
        bad = next((row for row in rows if len(row) != len(self.columns)), None)
        if bad is not None:
            raise ValueError(f"{self.path.name}: a row of {len(bad)} fields for {len(self.columns)} columns "
                             f"({', '.join(self.columns)})")
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        data = buf.getvalue()
        if data:
            os.write(self._fd, data.encode("utf-8"))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def request_log_writer(path: Path) -> CsvLogWriter:
    return CsvLogWriter(path, REQUEST_COLUMNS)


def execution_log_writer(path: Path) -> CsvLogWriter:
    return CsvLogWriter(path, EXECUTION_COLUMNS)


# ---- tail readers (live files) -------------------------------------------------------------------
def tail_lines(path: Path, stop: Callable[[bytes], bool], *, block: int = _BLOCK) -> list[bytes]:
    """Complete lines from the end of ``path`` backwards until ``stop(line)`` holds for a whole block's first line.

    Returns lines in file order (possibly including a few the caller filters out). A last line without
    its newline is still being written and is left out.
    """
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in finally, read in reverse blocks
    except FileNotFoundError:
        return []
    try:
        end = fh.seek(0, os.SEEK_END)
        pos, carry, chunks = end, b"", []
        while pos > 0:
            size = min(block, pos)
            pos -= size
            fh.seek(pos)
            data = fh.read(size) + carry
            lines = data.split(b"\n")
            carry = lines[0] if pos > 0 else b""
            complete = lines[1:] if pos > 0 else lines
            chunks.append(complete)
            first = next((ln for ln in complete if ln.strip()), None)
            if first is not None and stop(first):
                break
        out = [ln for part in reversed(chunks) for ln in part]
        if out and out[-1] != b"":  # the file does not end with a newline: partial last line
            out.pop()
        return [ln for ln in out if ln.strip()]
    finally:
        fh.close()


def _header(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader([fh.readline()]), [])


def _field(line: bytes, idx: int) -> float | None:
    try:
        return float(line.split(b",")[idx])
    except (IndexError, ValueError):
        return None


def read_requests_since(path: Path, since: float, *, key: str = "end", until: float | None = None,
                        slack_s: float = REQUEST_LOG_SLACK_S) -> list[dict[str, str]]:
    """Request-log rows (dicts of strings) with ``since <= row[key] < until``, read from the file's tail."""
    path = Path(path)
    try:
        columns = _header(path)
    except FileNotFoundError:
        raise BadLogFile(f"the request log {path} does not exist; is the lab running?") from None
    if "end" not in columns or key not in columns:
        raise BadLogFile(f"request log {path} has no {key!r} column; see docs/contracts.md (Request log)")
    end_idx, key_idx = columns.index("end"), columns.index(key)

    def older(line: bytes) -> bool:
        value = _field(line, end_idx)
        return value is not None and value < since - slack_s

    rows = []
    for row in csv.reader(io.StringIO(b"\n".join(tail_lines(path, older)).decode("utf-8", "replace"))):
        if len(row) != len(columns):
            continue
        try:
            value = float(row[key_idx])
        except ValueError:  # the header, or a torn line
            continue
        if value >= since and (until is None or value < until):
            rows.append(dict(zip(columns, row, strict=True)))
    return rows


# ---- event log -----------------------------------------------------------------------------------
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
        "deadman_healed",
        "fault_expired",
        "stop_healed",
        # graceful SWIM leave and the autoscaler (fleet/agents/autoscale.py): capacity added and taken away
        "member_left",
        "scaled_up",
        "scaled_down",
        # node classes that churn (fleet/supervisor/churn.py): the environment, not a fault
        "device_left",
        "device_joined",
        # the Ray engine: Ray's own view (docs/engines.md)
        "ray_node_dead",
        "ray_node_added",
        "actor_restarted",
        "actor_dead",
    }
)


class EventLog:
    """Appends events (one JSON object per line, one ``write`` each on an ``O_APPEND`` descriptor, so lines
    from several processes never interleave); ``clock`` is injectable so tests can pin times."""

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


def read_events_since(path: Path, since: float, until: float | None = None) -> list[dict[str, Any]]:
    """Event-log objects with ``since <= ts < until``, read from the file's tail (events are in time order)."""
    def older(line: bytes) -> bool:
        try:
            return float(json.loads(line)["ts"]) < since - 1.0
        except (ValueError, KeyError, TypeError):
            return False

    return list(_events(tail_lines(Path(path), older), since, until))


def _events(lines: list[bytes], since: float, until: float | None) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            event = json.loads(line)
            ts = float(event["ts"])
        except (ValueError, KeyError, TypeError):
            continue
        if ts >= since and (until is None or ts < until):
            yield event
