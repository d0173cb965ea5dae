"""The one settings object: where state lives. Read from the environment only at the CLI boundary."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings", "default_home"]


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``$AFTERSHOCK_HOME``, or ``~/.aftershock`` when unset or empty."""
    env = os.environ if environ is None else environ
    value = env.get("AFTERSHOCK_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".aftershock"


@dataclass(frozen=True)
class Settings:
    """Paths under the data directory; everything Aftershock writes goes below ``home``."""

    home: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return cls(home=default_home(environ))

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

    def ensure(self) -> Settings:
        for path in (self.home, self.labs_dir, self.store_dir, self.runs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self
