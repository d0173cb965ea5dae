"""Where a session's memory lives in a stored run's deployment: the input of the sessions-lost bound.

Why here: the analysis is pure and knows no topology; the lab decides placement with its own function
(fleet.agents.sessions.holders, rendezvous hashing with one copy per region while regions last). Using that very
function, with the members the event log says were running before the fault, gives the placement the deployment
used, not a model of it.

- decentralized: the node that served the session last keeps a copy, plus ``replication + 1`` holders among the
  agent nodes;
- centralized and hybrid: the hub of the region that served it, plus the hubs of the next ``replication`` regions
  (in the topology's region order) that have one, as each hub replicates to the hubs after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.run import Placement
from fleet.agents.sessions import holders

__all__ = ["placement_for"]


@dataclass(frozen=True)
class _Member:
    name: str
    region: str
    url: str = ""


def _started(events: pd.DataFrame | None, before: float) -> list[tuple[str, str, str]]:
    """(node, region, role) of every node the event log shows started before ``before``."""
    if events is None or events.empty:
        return []
    part = events[(events["kind"].astype(str) == "node_started") & (events["ts"].to_numpy(dtype=float) < before)]
    out: dict[str, tuple[str, str, str]] = {}
    for row in part.itertuples(index=False):
        detail = row.detail if isinstance(row.detail, dict) else {}
        if row.node:
            out[str(row.node)] = (str(row.node), str(row.region or ""), str(detail.get("role") or "agent"))
    return list(out.values())


def placement_for(topology: Mapping[str, Any], events: pd.DataFrame | None, t0: float) -> Placement | None:
    """The placement function of a stored run (None when the topology or the event log does not say)."""
    kind = topology.get("kind")
    replication = int(topology.get("replication") or 0)
    nodes = _started(events, t0)
    if not nodes or kind not in ("centralized", "decentralized", "hybrid"):
        return None
    if kind == "decentralized":
        members: Sequence[_Member] = [_Member(n, r) for n, r, role in nodes if role == "agent"]

        def mesh(session: str, node: str, region: str) -> list[str]:
            copies = [node] + [m.name for m in holders(session, members, replication + 1)]
            return list(dict.fromkeys(copies))

        return mesh
    hubs = {r: n for n, r, role in nodes if role == "hub"}
    order = [str(r["name"]) for r in topology.get("regions") or [] if isinstance(r, Mapping)]
    if not hubs:
        return None

    def hub_copies(session: str, node: str, region: str) -> list[str]:
        home = region if region in hubs else next(iter(hubs))
        rest = order[order.index(home) + 1:] + order[:order.index(home)] if home in order else []
        return [hubs[home]] + [hubs[r] for r in rest if r in hubs][:replication]

    return hub_copies
