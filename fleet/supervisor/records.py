"""What the supervisor knows of each lab process (its records and the roster that holds them), and the error
its control API answers with."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fleet.agents.dgram import port_of
from fleet.supervisor.zygote import ForkedProcess

__all__ = ["NodeRecord", "Roster", "ControlError", "CHURN_STATUSES"]

#: Statuses of a churning device (fleet/supervisor/churn.py): left on its schedule, or rejoining; no fault did it,
#: so neither heal nor an orchestrator's restart brings it back: its schedule does.
CHURN_STATUSES = ("away", "joining")


class ControlError(Exception):
    """An operation refused: the message says why, ``status`` is the HTTP status the control API answers."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class NodeRecord:
    name: str
    region: str
    role: str  # "agent", "hub" or "clients"
    agents: list[str]
    hub: str | None = None
    standby_of: dict[str, Any] | None = None
    status: str = "starting"  # starting, running, paused, killed, stopped
    replaced_by: str | None = None
    proc: asyncio.subprocess.Process | ForkedProcess | None = None
    node_url: str = ""
    metrics_url: str = ""
    agent_urls: dict[str, str] = field(default_factory=dict)
    agents_alive: dict[str, bool] = field(default_factory=dict)
    starts: int = 0
    cpu_percent: float | None = None  # set while the node is throttled (the "stress" fault)
    node_class: str = "default"  # fleet/nodeclasses.py: sizes its agents, its last mile, whether it churns

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def process_alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def serving(self) -> bool:
        """Running, not paused, process alive: a node that answers."""
        return self.status == "running" and self.process_alive

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
            "class": self.node_class,
            "agents": [
                {"id": a, "url": self.agent_urls.get(a, ""), "alive": alive and self.agents_alive.get(a, True)}
                for a in self.agents
            ],
        }


class Roster:
    """The records of a lab's nodes by name, and the lookups operations need; an unknown name is a
    :class:`ControlError` (404) naming what exists, so a typo in an experiment reads as one."""

    def __init__(self, lab: str, regions: list[str]):
        self.lab = lab
        self.regions = list(regions)
        self.nodes: dict[str, NodeRecord] = {}
        self._port_region: dict[int, str] = {}
        self._port_class: dict[int, str] = {}

    def __iter__(self) -> Iterator[NodeRecord]:
        return iter(list(self.nodes.values()))

    def __len__(self) -> int:
        return len(self.nodes)

    def add(self, rec: NodeRecord) -> NodeRecord:
        self.nodes[rec.name] = rec
        return rec

    def node(self, name: str) -> NodeRecord:
        rec = self.nodes.get(str(name))
        if rec is None:
            raise ControlError(f"no node {name!r} in lab {self.lab} (nodes: {', '.join(self.nodes)})", 404)
        return rec

    def region(self, region: str) -> str:
        if region not in self.regions:
            raise ControlError(f"no region {region!r} (regions: {', '.join(self.regions)})", 404)
        return region

    def agent_home(self, agent: str) -> NodeRecord:
        for rec in self.nodes.values():
            if agent in rec.agents:
                return rec
        raise ControlError(f"no agent {agent!r} in lab {self.lab}", 404)

    def seeds(self, exclude: str) -> list[dict[str, str]]:
        """Serving agent nodes other than ``exclude``: whom a (re)started node joins through."""
        return [
            {"name": r.name, "region": r.region, "url": r.node_url}
            for r in self.nodes.values()
            if r.role == "agent" and r.name != exclude and r.serving
        ]

    # ---- addressing: the link layer finds a destination's region by its port ----------------
    def index_ports(self, rec: NodeRecord) -> None:
        for url in [rec.node_url, *rec.agent_urls.values()]:
            if url:
                self._port_region[port_of(url)] = rec.region
                self._port_class[port_of(url)] = rec.node_class

    def region_of_port(self, port: int) -> str | None:
        return self._port_region.get(port)

    def class_of_port(self, port: int) -> str | None:
        """The node class behind a port (the link layer applies that class's last mile)."""
        return self._port_class.get(port)
