"""The records that cross packages: a deployment's status (nodes, agents, links) as typed models.

Why pydantic here: the status travels as JSON (the lab's ``state.json``, its control API, ``lab status
--json``) and is read by the collectors, the chaos extension, the runner and the dashboard. One model
validates it once at the edge (:meth:`LabStatus.from_json`) and gives every reader the same named fields,
so a field renamed in the writer fails loudly instead of silently reading ``None``. Unknown keys are
kept (``extra="allow"``): an engine may report more than the contract names.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AgentStatus", "NodeStatus", "LinkStatus", "ClientsStatus", "LabStatus"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class AgentStatus(_Record):
    """One agent: its id, the URL it serves tasks on, and whether it answers."""

    id: str
    url: str = ""
    alive: bool = True


class NodeStatus(_Record):
    """One node (an OS process on the lab, a Ray actor, a pod): the unit a node fault kills."""

    name: str
    region: str
    role: str = "agent"  # "agent" or "hub"
    hub: str | None = None
    pid: int | None = None
    node_url: str = ""
    metrics_url: str = ""
    alive: bool = False
    paused: bool = False
    status: str = "starting"  # starting, running, paused, killed, stopped
    replaced_by: str | None = None
    cpu_percent: float | None = None
    agents: list[AgentStatus] = Field(default_factory=list)

    @property
    def node_class(self) -> str:
        """The node's class (docs/topologies.md, "Node classes"): ``class`` in the status, ``default`` without one.
        Read from the extras, so the status keeps its key (``class`` is a Python keyword, no field can bear it)."""
        return str((self.model_extra or {}).get("class") or "default")


class LinkStatus(_Record):
    """One directed inter-region link of the link layer."""

    src: str
    dst: str
    latency_ms: float = 0.0
    loss: float = 0.0
    cut: bool = False


class ClientsStatus(_Record):
    pid: int | None = None
    metrics_url: str = ""


class LabStatus(_Record):
    """A running deployment as the contract names it (docs/contracts.md, "Lab status")."""

    name: str
    topology: str = ""
    kind: str = ""
    engine: str = "lab"
    pid: int | None = None
    seed: int | None = None
    started_at: float | None = None
    ready: bool = False
    regions: list[str] = Field(default_factory=list)
    home: str = ""
    nodes: list[NodeStatus] = Field(default_factory=list)
    clients: ClientsStatus = Field(default_factory=ClientsStatus)
    control_url: str = ""
    token_file: str = ""
    request_log: str = ""
    event_log: str = ""
    execution_log: str = ""
    links: list[LinkStatus] = Field(default_factory=list)
    proxies: dict[str, str] = Field(default_factory=dict)
    membership: dict[str, Any] = Field(default_factory=dict)
    health: dict[str, Any] = Field(default_factory=dict)
    healing: dict[str, Any] = Field(default_factory=dict)
    #: Metrics endpoints of the engine itself, beside the nodes' (Ray's Prometheus export per Ray node):
    #: ``{"url": ..., "labels": {"role": "ray", "region": ..., ...}}``; the collectors scrape them too.
    engine_metrics: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabStatus:
        """Validate a status read from a file or an HTTP answer."""
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.nodes if n.name == name), None)

    def nodes_in(self, region: str) -> list[NodeStatus]:
        return [n for n in self.nodes if n.region == region]
