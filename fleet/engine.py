"""The embedded lab as an engine (``core.engine.Engine``): the first engine, and the default.

Faults go through the lab's control API (``ControlClient``); the status is the supervisor's, validated
into ``core.records.LabStatus``.
"""

from __future__ import annotations

from typing import Any

from core.engine import FAULTS
from core.records import LabStatus
from core.settings import Settings
from fleet.lab import ControlClient, lab_status

__all__ = ["LabEngine"]


class LabEngine:
    """One running lab, driven from outside through its control API."""

    engine = "lab"

    def __init__(self, settings: Settings, name: str, *, status: dict[str, Any] | None = None,
                 timeout_s: float = 15.0) -> None:
        self.settings = settings
        self.name = name
        self._status = status if status is not None else lab_status(settings, name)
        self.engine = str(self._status.get("engine") or "lab")  # a Ray deployment has the same control API
        timeout_s = max(timeout_s, float(self._status.get("control_timeout_s") or 0))  # an engine may need longer
        self.client = ControlClient.for_lab(self._status, timeout_s=timeout_s)

    def status(self) -> LabStatus:
        """Fresh status from the control API (the state file can lag a crash by a moment)."""
        self._status = self.client.status()
        return LabStatus.from_json(self._status)

    def capabilities(self) -> frozenset[str]:
        return FAULTS

    def kill_node(self, node: str) -> dict[str, Any]:
        return self.client.kill_node(node)

    def kill_agent(self, agent: str) -> dict[str, Any]:
        return self.client.kill_agent(agent)

    def kill_region(self, region: str) -> dict[str, Any]:
        return self.client.kill_region(region)

    def restore_region(self, region: str) -> dict[str, Any]:
        return self.client.restore_region(region)

    def restart_node(self, node: str) -> dict[str, Any]:
        return self.client.restart_node(node)

    def pause_node(self, node: str) -> dict[str, Any]:
        return self.client.pause_node(node)

    def resume_node(self, node: str) -> dict[str, Any]:
        return self.client.resume_node(node)

    def throttle_node(self, node: str, cpu_percent: float) -> dict[str, Any]:
        return self.client.throttle_node(node, cpu_percent)

    def unthrottle_node(self, node: str) -> dict[str, Any]:
        return self.client.unthrottle_node(node)

    def set_link(self, src: str, dst: str, *, latency_ms: float | None = None, loss: float | None = None,
                 cut: bool | None = None) -> dict[str, Any]:
        return self.client.set_link(src, dst, latency_ms=latency_ms, loss=loss, cut=cut)

    def heal(self) -> dict[str, Any]:
        return self.client.heal()

    # The dead-man lease, lab only (chaos/lease.py): not part of core.engine.Engine.
    def use_lease(self, lease: str | None, actor: str | None = None) -> None:
        self.client.use_lease(lease, actor)

    def open_lease(self, **kwargs: Any) -> dict[str, Any]:
        return self.client.open_lease(**kwargs)

    def renew_lease(self, lease: str) -> dict[str, Any]:
        return self.client.renew_lease(lease)

    def release_lease(self, lease: str) -> dict[str, Any]:
        return self.client.release_lease(lease)

    def faults(self) -> list[dict[str, Any]]:
        return self.client.faults()
