"""Scaled copies of a topology: the same deployment at another size (``sweep --scale``) or with more or less
provisioned capacity for the same asked load (``sweep --capacity``). Pure: a Topology in, a validated Topology
out, nothing started.

Why two functions and not one: they answer different questions and so treat the workload differently.

- :func:`scaled_to_agents` grows (or shrinks) the deployment *and its load together*: ``tasks_per_s`` and the
  session count are multiplied by ``n / original agents``, so every agent sees the same work and the utilisation
  stays what it was. A change in resilience with size is then the deployment's doing, not a change in load.
- :func:`scaled_capacity` changes only what is provisioned: nodes per region times the factor, the asked load
  fixed at the original's rate, so a factor below 1 leaves less headroom and above 1 more.

Each copy gets its own name (``decentralized.x81``, ``decentralized.x81r`` when regions were grown,
``decentralized.cap0.5``) so runs of different sizes stay apart in the store, and drops ``workload.utilization``
(resolved once on the original; the copy carries the rate itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce
from typing import Any

from pydantic import ValidationError

from core.errors import UserError
from fleet.topology import Topology

__all__ = ["MAX_NODES_PER_REGION", "scale_step", "valid_sizes", "scaled_to_agents", "scaled_capacity",
           "scaled_name", "capacity_name"]

#: fleet/topology.py's bound on ``Region.nodes``
MAX_NODES_PER_REGION = 200
_MAX_NAME = 64


def _populated(topo: Topology) -> list[tuple[str, int]]:
    return [(r.name, r.nodes) for r in topo.regions if r.nodes > 0]


def scale_step(topo: Topology) -> int:
    """The smallest agent count the topology scales to while keeping its shape: every size is a multiple.

    Keeping the shape means every region with nodes is scaled by the same factor ``n / agents`` to a whole node
    count; with ``g`` the gcd of those node counts that needs ``n`` to be a multiple of ``agents / g`` (for
    equal regions of ``c`` nodes: ``agents_per_node x regions with nodes``, one node per region)."""
    counts = [n for _, n in _populated(topo)]
    g = reduce(math.gcd, counts)
    return topo.total_agents // g


def valid_sizes(topo: Topology, around: int, count: int = 4) -> list[int]:
    """A few sizes that work, near ``around`` (for the error message of a size that does not): multiples of the
    step whose largest region stays within MAX_NODES_PER_REGION."""
    step = scale_step(topo)
    g = topo.total_agents // step  # the gcd of the node counts
    top = max(1, MAX_NODES_PER_REGION * g // max(n for _, n in _populated(topo)))
    first = min(max(1, round(around / step) - count // 2), max(1, top - count + 1))
    return [step * k for k in range(first, min(first + count, top + 1))]


def _suffixed(base: str, suffix: str) -> str:
    return f"{base[:_MAX_NAME - len(suffix)].rstrip('._-')}{suffix}"


def scaled_name(topo: Topology, n: int, grow_regions: bool = False) -> str:
    """``decentralized.x81`` (regions kept) or ``decentralized.x81r`` (regions grown)."""
    return _suffixed(topo.name, f".x{n}{'r' if grow_regions else ''}")


def capacity_name(topo: Topology, factor: float) -> str:
    """``decentralized.cap0.5``: the factor as written with ``%g``."""
    return _suffixed(topo.name, f".cap{factor:g}")


def _validated(data: dict[str, Any], what: str) -> Topology:
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise UserError(f"{what}: {loc}: {err['msg'].removeprefix('Value error, ')}") from None


def _workload(topo: Topology, load_factor: float) -> dict[str, Any]:
    """The workload with ``tasks_per_s`` (and sessions) times ``load_factor``; utilization dropped."""
    wl = topo.workload.model_dump()
    wl.pop("utilization", None)
    wl["tasks_per_s"] = round(topo.workload.tasks_per_s * load_factor, 3)
    if load_factor != 1:
        wl["sessions"] = max(1, round(topo.workload.sessions * load_factor))
    return wl


def _check_nodes(topo: Topology, regions: Sequence[dict[str, Any]], what: str) -> None:
    big = [r for r in regions if r["nodes"] > MAX_NODES_PER_REGION]
    if big:
        raise UserError(f"{what}: {big[0]['name']} would need {big[0]['nodes']} nodes, above the "
                        f"{MAX_NODES_PER_REGION} a region may have; choose a smaller size")


def _grown_regions(topo: Topology, n: int, what: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Regions with nodes copied (or turned client-only) so that ``n`` agents fit at the original nodes per
    region; returns the regions and, for each new region, the original it copies."""
    populated = _populated(topo)
    per_region = {c for _, c in populated}
    if len(per_region) != 1:
        counts = ", ".join(f"{r} {c}" for r, c in populated)
        raise UserError(f"{what}: --scale-regions needs the same node count in every region with nodes "
                        f"({topo.name} has {counts}); scale without --scale-regions instead")
    nodes = per_region.pop()
    step = topo.agents_per_node * nodes
    if n % step or n < step:
        sizes = ", ".join(str(step * k) for k in range(1, 5))
        raise UserError(f"{what}: with --scale-regions {topo.name} grows in whole regions of {step} agents "
                        f"({nodes} nodes x {topo.agents_per_node} agents per node): use a multiple of {step}, "
                        f"e.g. {sizes}")
    wanted = n // step
    regions = [r.model_dump() for r in topo.regions]
    # fewer regions than now: the last ones (never the hub's home) keep their clients but lose their nodes
    keep = [name for name, _ in populated]
    if topo.kind == "centralized" and topo.home_region in keep:
        keep.remove(topo.home_region)
        keep.insert(0, topo.home_region)
    keep = keep[:wanted]
    for r in regions:
        if r["nodes"] > 0 and r["name"] not in keep:
            r["nodes"] = 0
    origin: dict[str, str] = {}
    names = {r["name"] for r in regions}
    copy_no = 2
    while len(keep) + len(origin) < wanted:
        for name, _ in populated:
            if len(keep) + len(origin) >= wanted:
                break
            new = f"{name[:31 - len(str(copy_no)) - 1]}-{copy_no}"
            if new in names:
                raise UserError(f"{what}: cannot name a copy of region {name}: {new} already exists")
            names.add(new)
            origin[new] = name
            regions.append({"name": new, "nodes": nodes})
        copy_no += 1
    return regions, origin


def _grown_latency(topo: Topology, origin: dict[str, str]) -> dict[str, float]:
    """Latencies for copied regions: a copy is as far from every region as its original, and as far from its
    original (and from the other copies of it) as the nearest pair of distinct regions is (the smallest
    positive latency of the topology; 0 when it has none): a new region next door, not on top."""
    if not origin:
        return dict(topo.latency_ms)
    positive = [ms for ms in topo.latency_ms.values() if ms > 0]
    near = min(positive) if positive else 0.0
    def root(name: str) -> str:
        return origin.get(name, name)
    names = [*topo.region_names, *origin]
    out: dict[str, float] = dict(topo.latency_ms)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if a in topo.region_names and b in topo.region_names:
                continue
            ra, rb = root(a), root(b)
            if ra == rb:
                ms = near
            else:
                ms = topo.link_latency_ms(ra, rb)
                back = topo.link_latency_ms(rb, ra)
                if back != ms:  # asymmetric: both directions given
                    out[f"{b}/{a}"] = back
            out[f"{a}/{b}"] = ms
    return out


def _refuse_classes(topo: Topology, what: str) -> None:
    """Node classes (devices with their own agents, links and churn) are not scaled: say so rather than scale half
    a topology."""
    if any(r.classes for r in topo.regions):
        raise UserError(f"{what}: topologies with node classes (devices) are not scaled yet; sweep one without "
                        "`classes` in its regions")


def _policy_scaled(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """An autoscaling policy's bounds grow and shrink with the fleet, and always hold the scaled fleet's agents
    with room for a node (the policy's validation)."""
    policy = data.get("autoscale")
    if policy:
        agents = sum(int(r["nodes"]) for r in data["regions"]) * int(data["agents_per_node"])
        low = min(agents, max(1, math.floor(policy["min_agents"] * factor)))
        high = max(agents, math.ceil(policy["max_agents"] * factor), low + int(data["agents_per_node"]))
        data["autoscale"] = {**policy, "min_agents": low, "max_agents": high}
    return data


def scaled_to_agents(topo: Topology, n: int, grow_regions: bool = False) -> Topology:
    """``topo`` with ``n`` agents and a workload scaled with it (same utilisation); :class:`UserError` with the
    sizes that would work when ``n`` does not keep the shape.

    Without ``grow_regions`` the region count stays and every region with nodes gets ``nodes x n / agents``
    nodes (equal regions: ``n / (agents_per_node x regions with nodes)``). With it the nodes per region stay and
    regions with nodes are added (``us-east-2``, ``eu-west-2``, ...: copies of the originals in turn, with their
    client share, latencies as in :func:`_grown_latency`) or, to shrink, the last ones become client-only.
    """
    what = f"--scale {n} of {topo.name}"
    if n < 1:
        raise UserError(f"{what}: a size is a positive number of agents")
    _refuse_classes(topo, what)
    factor = n / topo.total_agents
    data = topo.model_dump()
    if grow_regions:
        regions, origin = _grown_regions(topo, n, what)
        data["latency_ms"] = _grown_latency(topo, origin)
        if topo.workload.client_split:
            split = dict(topo.workload.client_split)
            split.update({new: topo.workload.client_split.get(old, 0.0) for new, old in origin.items()})
            data["workload"] = {**_workload(topo, factor), "client_split": split}
        else:
            data["workload"] = _workload(topo, factor)
        how = f"{sum(1 for r in regions if r['nodes'])} regions with nodes, {_populated(topo)[0][1]} nodes each"
    else:
        step = scale_step(topo)
        if n % step:
            sizes = ", ".join(str(s) for s in valid_sizes(topo, n))
            k = len(_populated(topo))
            raise UserError(f"{what}: {topo.name} keeps its shape only in steps of {step} agents "
                            f"({topo.agents_per_node} agents per node, {k} region{'s' if k > 1 else ''} with nodes): "
                            f"try {sizes}")
        regions = [{**r.model_dump(), "nodes": r.nodes * n // topo.total_agents} for r in topo.regions]
        data["workload"] = _workload(topo, factor)
        how = "the same regions"
    _check_nodes(topo, regions, what)
    data["regions"] = regions
    data = _policy_scaled(data, factor)
    data["name"] = scaled_name(topo, n, grow_regions)
    data["description"] = (f"{topo.name} scaled to {n} agents ({how}); load scaled with it: "
                           f"{data['workload']['tasks_per_s']:g} tasks/s. {topo.description}").strip()
    return _validated(data, what)


def scaled_capacity(topo: Topology, factor: float) -> Topology:
    """``topo`` with every region's nodes times ``factor`` (rounded half up, at least one node in every region
    that had nodes) and the *same* asked load: the original's ``tasks_per_s`` (resolved from ``utilization``
    if it was given that way)."""
    what = f"--capacity {factor:g} of {topo.name}"
    if not (math.isfinite(factor) and factor > 0):
        raise UserError(f"{what}: a capacity factor is a number above 0, e.g. 0.5 or 2")
    _refuse_classes(topo, what)
    regions = [{**r.model_dump(), "nodes": max(1, math.floor(r.nodes * factor + 0.5)) if r.nodes else 0}
               for r in topo.regions]
    _check_nodes(topo, regions, what)
    data = topo.model_dump()
    data["regions"] = regions
    data = _policy_scaled(data, factor)
    data["workload"] = _workload(topo, 1.0)
    data["name"] = capacity_name(topo, factor)
    agents = sum(r["nodes"] for r in regions) * topo.agents_per_node
    data["description"] = (f"{topo.name} with {factor:g}x its capacity ({agents} agents instead of "
                           f"{topo.total_agents}), asked the same {topo.workload.tasks_per_s:g} tasks/s. "
                           f"{topo.description}").strip()
    return _validated(data, what)
