"""What a lab child process is told at start, typed: the supervisor builds a :class:`ChildConfig` from the
topology, and it crosses the process edge as JSON (the only place it is JSON).

The token is a ``SecretStr``: it never shows in a repr or a log line, and only :meth:`ChildConfig.to_json`
(the wire form, sent down an inherited pipe) reveals it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer

from core.logs import EventLog
from fleet.agents.net import Network
from fleet.presets import DEFAULT_EVENT_LOOP, EventLoop
from fleet.topology import Autoscale, Health, Membership, Workload

__all__ = ["ChildConfig", "ClientsSpec", "Seed", "StandbyOf", "Role"]

Role = Literal["node", "hub", "clients"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Seed(_Model):
    """A member a joining node can ask for the member table (decentralized)."""

    name: str
    region: str
    url: str


class StandbyOf(_Model):
    """The primary hub a warm standby watches, and how long it waits before it takes over."""

    name: str
    region: str
    url: str
    failover_delay_s: float = Field(ge=0)


class ClientsSpec(_Model):
    """What the load generator plays: the workload, the client share of each region, where it logs."""

    workload: Workload
    client_shares: dict[str, float]
    request_log: str
    hub_order: list[str] = Field(default_factory=list)  # centralized: primary hub, then its standby


class ChildConfig(_Model):
    role: Role
    name: str
    lab: str
    kind: Literal["centralized", "decentralized", "hybrid"]
    topology: str
    region: str
    seed: int
    parent_pid: int
    control_url: str
    token: SecretStr
    proxies: dict[str, str]
    event_log: str
    execution_log: str = ""  # where agents append a row per executed task ("": not recorded)
    latency_ms: dict[str, float] = Field(default_factory=dict)
    concurrency: int = Field(default=1, ge=1)
    queue: int = Field(default=0, ge=0)  # tasks that may wait for a slot, per agent (topology agent_queue)
    agents: list[str] = Field(default_factory=list)
    replication: int = Field(default=0, ge=0)
    restart_delay_s: float = Field(default=0.0, ge=0)
    migrate: bool = False
    membership: Membership = Membership()
    health: Health = Health()
    seeds: list[Seed] = Field(default_factory=list)
    standby_of: StandbyOf | None = None
    clients: ClientsSpec | None = None
    # The autoscaling policy this process applies (a hub over its agents, a mesh node when it leads), bounds
    # already cut to its share of the topology (a hybrid hub's region); None: this process does not scale.
    autoscale: Autoscale | None = None
    agents_per_node: int = Field(default=1, ge=1)  # what one node added by the autoscaler brings
    # Node classes (fleet/nodeclasses.py): this node's class; a device of a class with a last mile sends every
    # call through its own egress proxy (``egress_proxy``); ``proxy_local`` sends in-region calls through the
    # region's proxy too (so calls to devices pass the link layer); ``no_replace``: members the mesh does not
    # replace when they die (devices of churning classes: they come back on their own).
    node_class: str = "default"
    egress_proxy: str = ""
    proxy_local: bool = False
    no_replace: list[str] = Field(default_factory=list)
    event_loop: EventLoop = DEFAULT_EVENT_LOOP
    # Mesh nodes: each region's datagram relay (fleet/supervisor/relay.py); empty: SWIM and replication over HTTP.
    relays: dict[str, int] = Field(default_factory=dict)

    @field_serializer("token", when_used="json")
    def _reveal_on_the_wire(self, token: SecretStr) -> str:
        return token.get_secret_value()

    # ---- the process edge ----------------------------------------------------------------
    def to_json(self) -> str:
        """The wire form (token included): for the pipe to the child, never for a log or a command line."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChildConfig:
        return cls.model_validate_json(raw)

    # ---- what a child makes of it ---------------------------------------------------------------
    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.get_secret_value()}"}

    def network(self) -> Network:
        return Network(self.region, self.proxies, headers=self.bearer, egress=self.egress_proxy or None,
                       proxy_local=self.proxy_local)

    def events(self) -> EventLog:
        return EventLog(Path(self.event_log))

    def latency(self, src: str, dst: str) -> float:
        """One-way latency between regions as the topology declares it (``A/B`` both ways unless ``B/A``)."""
        if src == dst:
            return 0.0
        table = self.latency_ms
        return float(table.get(f"{src}/{dst}", table.get(f"{dst}/{src}", 0.0)))
