"""Node classes: kinds of node with their own capacity, last-mile link and churn (edge devices, phones, kiosks).

A topology's ``node_classes`` maps a class name to a :class:`NodeClass`; a region places nodes of a class with
``classes: {NAME: COUNT}`` beside its ``nodes`` (which are the default class: the topology's own
``agents_per_node`` and ``agent_concurrency``, a perfect last mile, no churn). Why a class and not per-node
fields: devices come in fleets of alike machines, and an experiment varies the fleet, not one phone.

- ``link``: what every message to and from a node of the class goes through on top of the region links (the
  lab's link layer applies it, fleet/supervisor/netlink.py): extra one-way latency, uniform jitter, loss.
- ``churn``: devices leave (their process is killed) and rejoin (restarted) on a seeded schedule of up and down
  times (fleet/supervisor/churn.py); the mesh does not replace them, they come back on their own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_CLASS", "RESERVED_CLASS_NAMES", "CLASS_NAME_PATTERN", "ClassLink", "Churn", "NodeClass",
           "class_node_name"]

#: The class of nodes a region declares with ``nodes:`` (no class of their own); shown as such in the status.
DEFAULT_CLASS = "default"
#: ``n`` would make ``REGION-n1``, the name of a default node; ``default`` names the default class.
RESERVED_CLASS_NAMES = frozenset({DEFAULT_CLASS, "n"})
#: Letters only: a class name followed by an index must never read as another class's node (``cam2`` + ``1``).
CLASS_NAME_PATTERN = r"^[a-z]{1,20}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassLink(_Model):
    """The last mile of a node of the class, added to every message to and from it, each direction apart:
    ``latency_ms`` plus a uniform draw in ``0..jitter_ms``; ``loss`` drops a message (a black hole: the caller
    times out). A call between two devices crosses both last miles."""
    latency_ms: float = Field(default=0.0, ge=0, le=10_000)
    jitter_ms: float = Field(default=0.0, ge=0, le=10_000)
    loss: float = Field(default=0.0, ge=0, le=1)

    @property
    def trivial(self) -> bool:
        return self.latency_ms == 0 and self.jitter_ms == 0 and self.loss == 0


class Churn(_Model):
    """Devices of the class leave after an up time and rejoin after a down time, each drawn per device, seeded.

    ``exponential``: memoryless times of mean ``up_s`` / ``down_s`` (the classic peer-to-peer churn model);
    ``uniform``: uniform in 0.5..1.5 times the mean; ``fixed``: exactly the mean (a duty cycle), staggered
    per device by a seeded phase. A drawn time is never below ``min_s`` (a process needs a moment to start).
    """
    up_s: float = Field(gt=0, le=86_400)
    down_s: float = Field(gt=0, le=86_400)
    distribution: Literal["exponential", "uniform", "fixed"] = "exponential"
    min_s: float = Field(default=1.0, ge=0, le=3600)


class NodeClass(_Model):
    """A kind of node: its agents and their slots (the topology's defaults when left out), link and churn."""
    agents_per_node: int | None = Field(default=None, ge=1, le=100)
    agent_concurrency: int | None = Field(default=None, ge=1, le=1000)
    link: ClassLink = ClassLink()
    churn: Churn | None = None


def class_node_name(region: str, node_class: str, index: int) -> str:
    """``edge-a-phone3``: the third node of class ``phone`` in region ``edge-a`` (default nodes are ``-nI``)."""
    return f"{region}-{node_class}{index}"
