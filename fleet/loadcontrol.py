"""The load generator's control file: a workload fault (a surge) asked from outside a running lab.

A surge is a factor on the asked rate until a deadline, written as one small JSON file next to the request log
(``load-override.json``) and read by the load generator about four times a second. A file, not a control-API
call, because it works the same on every engine (the lab's, Ray's) and because a surge written with a deadline
ends by itself: a runner killed mid-surge leaves nothing to heal. The write is atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadOverride", "override_path", "write_override", "clear_override", "read_override"]

FILE_NAME = "load-override.json"


@dataclass(frozen=True)
class LoadOverride:
    """Multiply the asked rate by ``factor`` from ``since`` until ``until`` (Unix seconds)."""

    factor: float
    since: float
    until: float
    by: str = ""

    def factor_at(self, now: float) -> float:
        return self.factor if self.since <= now < self.until else 1.0


def override_path(request_log: str | Path) -> Path:
    return Path(request_log).with_name(FILE_NAME)


def write_override(request_log: str | Path, override: LoadOverride) -> Path:
    path = override_path(request_log)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".load-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"factor": override.factor, "since": override.since, "until": override.until,
                   "by": override.by}, fh)
    os.replace(tmp, path)
    return path


def clear_override(request_log: str | Path) -> bool:
    """Remove the surge; True when there was one."""
    try:
        override_path(request_log).unlink()
    except FileNotFoundError:
        return False
    return True


def read_override(request_log: str | Path) -> LoadOverride | None:
    """The current override, or None (no file, or a file that does not parse: the surge is ignored)."""
    try:
        data = json.loads(override_path(request_log).read_text(encoding="utf-8"))
        return LoadOverride(float(data["factor"]), float(data["since"]), float(data["until"]), str(data.get("by", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
