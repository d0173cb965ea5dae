"""What a Ray deployment is told: where the cluster is, how it detects failures, who restarts agents.

Why the failure detection is scaled: the lab runs on a shortened clock (``fleet.presets``: the ``lab`` preset is
LAN timing halved, ``test`` quartered), so an experiment lasts a minute instead of an hour. Ray's own defaults
(a raylet health check every 3 s, 5 misses, 10 s timeout) would make Ray look slow only because its clock was not
shortened like the agents'. :func:`ray_health_for` applies the topology's health clock (its ``health.interval_s``
against the LAN preset's) to Ray's documented defaults, and the result is recorded with the run and shown as a
detection bound beside the measured TTD (``analysis.bounds.ray_detection_bound``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleet.presets import HEALTH_PRESETS
from fleet.topology import Topology

__all__ = ["RayHealth", "RayOptions", "ray_health_for", "RAY_DEFAULT_HEALTH", "REGION_RESOURCE_PREFIX",
           "region_resource", "MIN_RAY_VERSION"]

#: The custom resource a Ray node carries to say which region it is: ``region:us-east``.
REGION_RESOURCE_PREFIX = "region:"
#: The oldest Ray this engine is tested with (requirements.txt carries the same bound).
MIN_RAY_VERSION = (2, 60)


def region_resource(region: str) -> str:
    return f"{REGION_RESOURCE_PREFIX}{region}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RayHealth(_Model):
    """The GCS's health checks of every raylet (Ray's system config keys ``health_check_*``)."""

    period_ms: int = Field(ge=50)
    timeout_ms: int = Field(ge=50)
    failure_threshold: int = Field(ge=1)
    initial_delay_ms: int = Field(ge=0)

    def system_config(self) -> dict[str, int]:
        """The ``--system-config`` of the head node (Ray's documented system configuration keys)."""
        return {
            "health_check_period_ms": self.period_ms,
            "health_check_timeout_ms": self.timeout_ms,
            "health_check_failure_threshold": self.failure_threshold,
            "health_check_initial_delay_ms": self.initial_delay_ms,
        }


#: Ray's own defaults (ray_config_def.h of Ray 2.x): what an attached cluster runs unless its head says otherwise.
RAY_DEFAULT_HEALTH = RayHealth(period_ms=3000, timeout_ms=10000, failure_threshold=5, initial_delay_ms=5000)


def ray_health_for(topology: Topology) -> RayHealth:
    """Ray's defaults on the topology's clock: scale = ``health.interval_s`` / the LAN preset's interval."""
    scale = topology.health.interval_s / float(HEALTH_PRESETS["lan"]["interval_s"])
    d = RAY_DEFAULT_HEALTH
    return RayHealth(period_ms=max(50, round(d.period_ms * scale)), timeout_ms=max(50, round(d.timeout_ms * scale)),
                     failure_threshold=d.failure_threshold,
                     initial_delay_ms=max(0, round(d.initial_delay_ms * scale)))


class RayOptions(_Model):
    """The engine's options, passed to its supervisor as one JSON argument."""

    address: str | None = None  # None: start a local multi-node cluster (and stop it at lab down)
    num_cpus: float = Field(default=1.0, ge=0, le=64)  # per region node of a local cluster
    restarts: Literal["lab", "engine"] = "lab"  # from the topology's healing.restarts
    max_restarts: int = Field(default=-1, ge=-1)  # Ray's actor max_restarts when restarts == "engine"
    health: RayHealth | None = None  # local clusters only; an attached cluster keeps its own
    object_store_mb: int = Field(default=128, ge=80, le=1_000_000)

    def to_arg(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_arg(cls, raw: str) -> RayOptions:
        return cls.model_validate(json.loads(raw))

    def record(self) -> dict[str, Any]:
        """What the run stores about the engine (settings.engine)."""
        health = self.health.model_dump() if self.health else None
        return {"name": "ray", "address": self.address or "local", "started_by_aftershock": self.address is None,
                "restarts": self.restarts, "max_restarts": self.max_restarts if self.restarts == "engine" else 0,
                "health_check": health,
                "health_check_source": "scaled to the topology's clock" if health else
                "the attached cluster's own (not known to Aftershock)"}
