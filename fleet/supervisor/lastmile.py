"""The last mile of node classes in the link layer: extra latency, jitter and loss on every message to and from a
node of a class (fleet/nodeclasses.py), on top of the region links.

How the link layer knows the classes at both ends: the destination's class by its port (the roster indexes every
port with its node's class, as it does with its region), the source's by the proxy the message came through
(a device of a class with a last mile has its own egress proxy, one per region and class, and sends *every* call
through it, in its region too). For calls *to* a device from its own region to pass the link layer at all, every
process of such a lab sends its in-region calls through its region's proxy too (``proxy_local``): they cost a
proxy hop and nothing else (no region link applies inside a region). Nothing here is told to the nodes: they are
configured with a proxy, as a pod is given ``HTTP_PROXY``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fleet.nodeclasses import ClassLink
from fleet.topology import Topology

__all__ = ["LastMiles", "Leg", "class_sources", "needs_local_proxy"]


@dataclass(frozen=True)
class Leg:
    """One direction of a message across the last miles it passes: dropped, or delayed by ``extra_ms``."""

    dropped: bool
    extra_ms: float


class LastMiles:
    """The class links of a topology and the seeded draws of their jitter and loss."""

    def __init__(self, links: Mapping[str, ClassLink], rng: random.Random | None = None):
        self.links = {name: link for name, link in links.items() if not link.trivial}
        self._rng = rng or random.Random()

    @classmethod
    def of(cls, topo: Topology, rng: random.Random | None = None) -> LastMiles:
        return cls({name: c.link for name, c in topo.node_classes.items()}, rng)

    def __bool__(self) -> bool:
        return bool(self.links)

    def leg(self, classes: Iterable[str | None]) -> Leg:
        """One direction through the last miles of ``classes`` (the source's and the destination's)."""
        extra, dropped = 0.0, False
        for name in classes:
            link = self.links.get(name or "")
            if link is None:
                continue
            if link.loss > 0 and self._rng.random() < link.loss:
                dropped = True
            extra += link.latency_ms + (self._rng.uniform(0, link.jitter_ms) if link.jitter_ms else 0.0)
        return Leg(dropped, extra)


def class_sources(topo: Topology) -> list[tuple[str, str]]:
    """(region, class) pairs that get an egress proxy of their own: classes with a last mile, placed somewhere."""
    miles = LastMiles.of(topo).links
    return [(r.name, c) for r in topo.regions for c, n in r.classes.items() if n > 0 and c in miles]


def needs_local_proxy(topo: Topology) -> bool:
    """In-region calls must pass the link layer as soon as a node with a last mile is placed."""
    return bool(class_sources(topo))
