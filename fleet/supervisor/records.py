"""What the supervisor knows of each lab process, and the error its control API answers with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NodeRecord", "ControlError"]


@dataclass
class NodeRecord:
    name: str
    region: str
    role: str  # "agent" or "hub"
    agents: list[str]
    hub: str | None = None
    standby_of: dict[str, Any] | None = None
    status: str = "starting"  # starting, running, paused, killed, stopped
    replaced_by: str | None = None
    proc: asyncio.subprocess.Process | None = None
    node_url: str = ""
    metrics_url: str = ""
    agent_urls: dict[str, str] = field(default_factory=dict)
    agents_alive: dict[str, bool] = field(default_factory=dict)
    starts: int = 0
    cpu_percent: float | None = None  # set while the node is throttled (the "stress" fault)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def process_alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def as_status(self) -> dict[str, Any]:
        alive = self.status in ("running", "paused") and self.process_alive
        return {
            "name": self.name,
            "region": self.region,
            "role": self.role,
            "hub": self.hub,
            "pid": self.pid,
            "node_url": self.node_url,
            "metrics_url": self.metrics_url,
            "alive": alive,
            "paused": self.status == "paused",
            "status": self.status,
            "replaced_by": self.replaced_by,
            "cpu_percent": self.cpu_percent,
            "agents": [
                {"id": a, "url": self.agent_urls.get(a, ""), "alive": alive and self.agents_alive.get(a, True)}
                for a in self.agents
            ],
        }


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
