"""The engine contract: what the runner, the chaos extension, the collectors and the dashboard need from any
deployment that Aftershock breaks (the embedded lab, a Ray cluster, a Kubernetes namespace).

Why a Protocol in the ground layer: the chaos actions and the runner are written once against it, and each
engine (``fleet`` for the lab, ``engines.ray``, ``engines.kubernetes``) implements it without importing the
others. A fault an engine cannot perform raises :class:`core.errors.UnsupportedFault` naming the engine, the
fault and why, so an experiment fails with one line instead of doing something else.

Every fault method returns a small JSON-safe dict (it goes into the Chaos Toolkit journal as the
activity's output).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.records import LabStatus

__all__ = ["Engine", "FAULTS", "PlannedHit"]

#: Every fault the contract names; ``Engine.capabilities`` says which of them an engine can perform.
FAULTS = frozenset({
    "kill_node", "kill_agent", "kill_region", "restore_region", "restart_node", "pause_node", "resume_node",
    "throttle_node", "unthrottle_node", "set_link", "heal",
})


@dataclass(frozen=True)
class PlannedHit:
    """What one action would hit (the dry-run plan): node names, agent ids, region pairs."""

    action: str
    nodes: Sequence[str] = ()
    agents: Sequence[str] = ()
    regions: Sequence[str] = ()
    links: Sequence[tuple[str, str]] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """One running deployment, seen from outside. ``name`` is the deployment's name (a lab name, a target)."""

    engine: str  # "lab", "ray", "kubernetes"
    name: str

    def status(self) -> LabStatus:
        """Regions, nodes, agents, roles, liveness, metrics endpoints, the request and event logs."""
        ...

    def capabilities(self) -> frozenset[str]:
        """The subset of :data:`FAULTS` this engine can perform."""
        ...

    def kill_node(self, node: str) -> dict[str, Any]: ...

    def kill_agent(self, agent: str) -> dict[str, Any]: ...

    def kill_region(self, region: str) -> dict[str, Any]: ...

    def restore_region(self, region: str) -> dict[str, Any]: ...

    def restart_node(self, node: str) -> dict[str, Any]: ...

    def pause_node(self, node: str) -> dict[str, Any]: ...

    def resume_node(self, node: str) -> dict[str, Any]: ...

    def throttle_node(self, node: str, cpu_percent: float) -> dict[str, Any]: ...

    def unthrottle_node(self, node: str) -> dict[str, Any]: ...

    def set_link(self, src: str, dst: str, *, latency_ms: float | None = None, loss: float | None = None,
                 cut: bool | None = None) -> dict[str, Any]: ...

    def heal(self) -> dict[str, Any]:
        """Revert every active fault (links, pauses, throttles, dead regions)."""
        ...
