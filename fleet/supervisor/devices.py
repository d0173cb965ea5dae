"""How the supervisor sets up node classes (fleet/nodeclasses.py): the link layer's last miles, the egress proxies
of device classes, and what each child is told of its class. Kept apart from the supervisor's lifecycle so the
supervisor only calls in here; a topology without node classes gets exactly the lab it got before.
"""

from __future__ import annotations

import random
from typing import Any

from fleet.plan import plan_nodes
from fleet.supervisor.lastmile import LastMiles, class_sources, needs_local_proxy
from fleet.supervisor.netlink import EgressProxy
from fleet.supervisor.records import NodeRecord, Roster
from fleet.topology import Topology

__all__ = ["wire_classes", "start_class_proxies", "class_fields", "churning_nodes"]


def wire_classes(proxy: EgressProxy, topo: Topology, roster: Roster, seed: int) -> None:
    """Give the link layer the classes' last miles (seeded draws of jitter and loss) and the port -> class index."""
    if needs_local_proxy(topo):
        proxy.use_classes(LastMiles.of(topo, random.Random(f"{seed}:lastmile")), roster.class_of_port)


async def start_class_proxies(proxy: EgressProxy, topo: Topology, control_url: str) -> None:
    """One egress proxy per (region, class) with a last mile; the control API reachable through every proxy."""
    if needs_local_proxy(topo):
        await proxy.start_classes(class_sources(topo))
        proxy.direct_ports.add(int(control_url.rsplit(":", 1)[1]))


def churning_nodes(topo: Topology) -> list[str]:
    """The devices of churning classes (their names are fixed by the plan: the mesh never replaces them)."""
    churning = set(topo.churning_classes)
    return [p.name for p in plan_nodes(topo) if p.node_class in churning]


def class_fields(topo: Topology, rec: NodeRecord, proxy: EgressProxy, no_replace: list[str]) -> dict[str, Any]:
    """The ChildConfig fields of node classes for ``rec``: empty for a topology without classes."""
    if not topo.node_classes:
        return {}
    return {
        "node_class": rec.node_class,
        "egress_proxy": proxy.class_urls.get(f"{rec.region}/{rec.node_class}", ""),
        "proxy_local": needs_local_proxy(topo),
        "no_replace": no_replace,
    }
