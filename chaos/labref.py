"""Which lab an activity acts on, resolved from the Chaos Toolkit configuration, and reading its logs.

Configuration keys (all optional):
- ``aftershock_home``: the data directory; default ``Settings.from_env()`` (``$AFTERSHOCK_HOME``), because
  ``chaos run`` is a command-line boundary like ``aftershock`` itself.
- ``aftershock_lab``: the lab's name; default the only running lab.

The lab's request and event logs grow for as long as the lab runs, so reading "the last N seconds" seeks
from the end of the file backwards, block by block, instead of parsing the whole file every time.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ExperimentError, LabNotFound
from core.settings import Settings
from fleet.lab import ControlClient, lab_status, list_labs

__all__ = [
    "LabRef",
    "resolve_settings",
    "resolve_lab",
    "config_value",
    "tail_lines",
    "read_requests_since",
    "read_events_since",
    "REQUEST_LOG_SLACK_S",
]

#: How far out of order (by end time) request rows may be written: flush batches plus the client timeout.
REQUEST_LOG_SLACK_S = 10.0
_BLOCK = 1 << 16


def config_value(configuration: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """A configuration value, with empty strings treated as unset (``type: env`` defaults are strings)."""
    value = (configuration or {}).get(key)
    return default if value is None or value == "" else value


def resolve_settings(configuration: Mapping[str, Any] | None = None) -> Settings:
    """``aftershock_home`` from the configuration, else the environment (the CLI boundary of ``chaos run``)."""
    home = config_value(configuration, "aftershock_home")
    return Settings(home=Path(str(home)).expanduser()) if home else Settings.from_env()


@dataclass
class LabRef:
    """A running lab: its settings, name and status snapshot, and a control client made on demand."""
    settings: Settings
    name: str
    status: dict[str, Any]
    _client: ControlClient | None = field(default=None, repr=False)

    @property
    def client(self) -> ControlClient:
        if self._client is None:
            self._client = ControlClient.for_lab(self.status, timeout_s=15.0)
        return self._client

    def live_status(self) -> dict[str, Any]:
        """Fresh status from the control API (the state file can lag a crash by a moment)."""
        self.status = self.client.status()
        return self.status

    @property
    def request_log(self) -> Path:
        return Path(self.status["request_log"])

    @property
    def event_log(self) -> Path:
        return Path(self.status["event_log"])

    @property
    def lab_dir(self) -> Path:
        return Path(self.status["token_file"]).parent


def resolve_lab(configuration: Mapping[str, Any] | None = None) -> LabRef:
    """The lab named by ``aftershock_lab``, or the only running one; ExperimentError says how to fix it."""
    settings = resolve_settings(configuration)
    name = config_value(configuration, "aftershock_lab")
    if name:
        try:
            status = lab_status(settings, str(name))
        except LabNotFound:
            raise ExperimentError(
                f"no running lab named {name!r} under {settings.home}; start one with "
                f"`aftershock lab up decentralized --name {name}` or fix configuration.aftershock_lab"
            ) from None
        return LabRef(settings, str(name), status)
    labs = list_labs(settings)
    if not labs:
        raise ExperimentError(
            f"no running lab under {settings.home}; start one with `aftershock lab up decentralized` "
            "or set configuration.aftershock_lab"
        )
    if len(labs) > 1:
        names = ", ".join(lab["name"] for lab in labs)
        raise ExperimentError(
            f"{len(labs)} labs are running ({names}); set configuration.aftershock_lab "
            "(or the AFTERSHOCK_LAB environment variable the library experiments read) to one of them"
        )
    return LabRef(settings, labs[0]["name"], labs[0])


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


def read_requests_since(path: Path, since: float, *, key: str = "end", until: float | None = None,
                        slack_s: float = REQUEST_LOG_SLACK_S) -> list[dict[str, str]]:
    """Request-log rows (dicts of strings) with ``since <= row[key] < until``, read from the file's tail."""
    path = Path(path)
    try:
        columns = _header(path)
    except FileNotFoundError:
        raise ExperimentError(f"the lab's request log {path} does not exist; is the lab running?") from None
    if "end" not in columns or key not in columns:
        raise ExperimentError(f"request log {path} has no {key!r} column; see docs/contracts.md (Request log)")
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


def _field(line: bytes, idx: int) -> float | None:
    try:
        return float(line.split(b",")[idx])
    except (IndexError, ValueError):
        return None


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
