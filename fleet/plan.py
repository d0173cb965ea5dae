"""Which processes a topology becomes: names, regions, roles. Pure, so a dry run can show targets
without starting anything, and the supervisor builds exactly this."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet.nodeclasses import DEFAULT_CLASS, class_node_name
from fleet.topology import Topology

__all__ = ["PlannedNode", "plan_nodes", "planned_status"]


@dataclass(frozen=True)
class PlannedNode:
    name: str
    region: str
    role: str  # "agent" or "hub"
    agents: list[str] = field(default_factory=list)
    hub: str | None = None
    node_class: str = DEFAULT_CLASS  # fleet/nodeclasses.py: what sizes its agents, its last mile and its churn


def plan_nodes(topo: Topology) -> list[PlannedNode]:
    """Hubs first (``REGION-hub``), then nodes ``REGION-nI`` hosting agents ``REGION-nI-aJ``, then per region the
    nodes of each node class, ``REGION-CLASSi`` (``edge-a-phone1``), sized by their class."""
    hubs: dict[str, str] = {}
    planned: list[PlannedNode] = []
    if topo.kind == "centralized":
        primary = f"{topo.home_region}-hub"
        planned.append(PlannedNode(primary, topo.home_region, "hub"))
        hubs = {r: primary for r in topo.region_names}
    elif topo.kind == "hybrid":
        for region in topo.regions:
            if region.nodes or region.class_nodes:
                hubs[region.name] = f"{region.name}-hub"
                planned.append(PlannedNode(hubs[region.name], region.name, "hub"))
    for region in topo.regions:
        for i in range(1, region.nodes + 1):
            name = f"{region.name}-n{i}"
            agents = [f"{name}-a{j}" for j in range(1, topo.agents_per_node + 1)]
            planned.append(PlannedNode(name, region.name, "agent", agents, hubs.get(region.name)))
        for node_class, count in region.classes.items():
            for i in range(1, count + 1):
                name = class_node_name(region.name, node_class, i)
                agents = [f"{name}-a{j}" for j in range(1, topo.class_agents(node_class) + 1)]
                planned.append(PlannedNode(name, region.name, "agent", agents, hubs.get(region.name), node_class))
    return planned


def planned_status(topo: Topology) -> dict:
    """A lab status (docs/contracts.md) as the topology would start, with no processes: for dry runs."""
    return {
        "name": f"(dry run of {topo.name})", "topology": topo.name, "kind": topo.kind, "pid": None,
        "regions": topo.region_names, "ready": False,
        "nodes": [{"name": n.name, "region": n.region, "role": n.role, "hub": n.hub, "pid": None,
                   "class": n.node_class, "metrics_url": "", "alive": True, "paused": False, "status": "planned",
                   "agents": [{"id": a, "url": "", "alive": True} for a in n.agents]}
                  for n in plan_nodes(topo)],
        "links": [{"src": a, "dst": b, "latency_ms": topo.link_latency_ms(a, b), "loss": 0.0, "cut": False}
                  for a, b in topo.region_pairs()],
    }
