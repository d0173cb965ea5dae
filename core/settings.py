"""The one settings object: where state lives. Read from the environment only at the CLI boundary."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.audit import audit_path
from core.errors import UserError
from core.stop import stop_path

__all__ = ["Settings", "default_home", "DEFAULT_MAX_FAULT_S", "max_fault_from_env"]

#: The hard cap on any fault's duration (seconds): the lab reverts a fault older than this whatever the
#: experiment asked. ``AFTERSHOCK_MAX_FAULT_S`` changes it (docs/safety.md).
DEFAULT_MAX_FAULT_S = 900.0


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$AFTERSHOCK_HOME``, or ``~/.aftershock`` when unset or empty."""
    env = os.environ if environ is None else environ
    value = env.get("AFTERSHOCK_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".aftershock"


def max_fault_from_env(environ: Mapping[str, str] | None = None) -> float:
    """``$AFTERSHOCK_MAX_FAULT_S`` (seconds, 1..86400), or :data:`DEFAULT_MAX_FAULT_S` when unset or empty."""
    env = os.environ if environ is None else environ
    raw = env.get("AFTERSHOCK_MAX_FAULT_S", "").strip()
    if not raw:
        return DEFAULT_MAX_FAULT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1.0 <= value <= 86_400.0:  # NaN fails too
        raise UserError(f"AFTERSHOCK_MAX_FAULT_S={raw!r} is not a number of seconds in 1..86400; fix or unset it")
    return value


@dataclass(frozen=True)
class Settings:
    """Paths under the data directory (everything Aftershock writes goes below ``home``) and the hard cap
    on a fault's duration."""

    home: Path
    max_fault_s: float = DEFAULT_MAX_FAULT_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls(home=default_home(environ), max_fault_s=max_fault_from_env(environ))

    @property
    def labs_dir(self) -> Path:
        return self.home / "labs"

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def runs_dir(self) -> Path:
        """Raw per-run files (request logs, event logs) kept beside the store."""
        return self.home / "runs"

    @property
    def prometheus_dir(self) -> Path:
        return self.home / "prometheus"

    @property
    def stop_file(self) -> Path:
        """The emergency stop (core.stop)."""
        return stop_path(self.home)

    @property
    def audit_log(self) -> Path:
        """The append-only audit log (core.audit)."""
        return audit_path(self.home)

    def ensure(self) -> Settings:
        for path in (self.home, self.labs_dir, self.store_dir, self.runs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self
