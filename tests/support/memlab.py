"""Decentralized members on the in-memory network (``fleet.agents.memnet``), for seeded unit tests of SWIM
and of session replication: the built-in topology's regions, latencies and membership timings."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from pydantic import SecretStr

from fleet.agents.config import ChildConfig
from fleet.agents.memnet import MemoryEvents, MemoryNetwork
from fleet.agents.node import NodeHost
from fleet.agents.swim import Member as SwimMember
from fleet.agents.swim import Swim, swim_routes
from fleet.supervisor.netlink import LinkTable
from fleet.topology import Topology, load_topology

__all__ = ["Mesh", "build_mesh", "build_hosts", "link_table", "node_config"]


def link_table(topo: Topology, seed: int) -> LinkTable:
    """The supervisor's link table for ``topo``, with its seeded loss generator."""
    baseline = {(a, b): topo.link_latency_ms(a, b) for a, b in topo.region_pairs()}
    return LinkTable(baseline, random.Random(f"{seed}:links"))


@dataclass
class Mesh:
    topo: Topology
    net: MemoryNetwork
    links: LinkTable
    events: MemoryEvents
    members: dict[str, Swim]
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)

    def start(self, rng: random.Random) -> None:
        """Every member's protocol loop, each starting at a random phase of the probe period."""
        period = self.topo.membership.probe_period_s

        async def later(swim: Swim, delay: float) -> None:
            await asyncio.sleep(delay)
            await swim.run()

        for name, swim in self.members.items():
            self.tasks[name] = asyncio.create_task(later(swim, rng.uniform(0, period)))

    def stop(self, name: str | None = None) -> None:
        for member, task in self.tasks.items():
            if name is None or member == name:
                task.cancel()

    def views(self, of: str) -> dict[str, str]:
        """How every other member sees ``of``: its state there."""
        return {n: s.members[of].state for n, s in self.members.items() if n != of}

    async def wait_for(self, kind: str, node: str, deadline_s: float, step_s: float = 0.05) -> float:
        """Virtual time of the first ``kind`` event about ``node``; fails after ``deadline_s`` of virtual time."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline_s
        while not self.events.of(kind, node):
            if loop.time() > until:
                raise AssertionError(f"no {kind} event about {node} within {deadline_s:.1f}s")
            await asyncio.sleep(step_s)
        return self.events.of(kind, node)[0]["ts"]


def build_mesh(seed: int, topology: str | Topology = "decentralized") -> Mesh:
    """Every node of ``topology`` as a SWIM member that knows all others, with no update left to gossip (a
    converged lab some time after its start).
    Call inside a running (virtual-time) event loop."""
    topo = topology if isinstance(topology, Topology) else load_topology(topology)
    loop = asyncio.get_running_loop()
    links = link_table(topo, seed)
    net = MemoryNetwork(links)
    events = MemoryEvents(loop.time)
    m = topo.membership
    members: dict[str, Swim] = {}
    for region in topo.regions:
        for i in range(1, region.nodes + 1):
            name = f"{region.name}-n{i}"
            swim = Swim(
                me=SwimMember(name, region.name, ""),
                probe_period_s=m.probe_period_s,
                probe_timeout_s=m.probe_timeout_s,
                indirect_probes=m.indirect_probes,
                suspicion_mult=m.suspicion_mult,
                net=net.transport(region.name),
                events=events,
                rng=random.Random(f"{seed}:{name}"),
                clock=loop.time,
            )
            swim.me.url = net.serve(name, region.name, swim_routes(swim))
            members[name] = swim
    for swim in members.values():  # a converged view with nothing left to gossip: the lab's steady state
        swim.members.update({n: SwimMember(o.me.name, o.me.region, o.me.url) for n, o in members.items()
                             if o is not swim})
    return Mesh(topo, net, links, events, members)


def node_config(name: str, region: str, topo: Topology, *, replication: int, seed: int = 1) -> ChildConfig:
    """A node's child config as the supervisor would build it, with addresses the in-memory network gives."""
    return ChildConfig(
        role="node", name=name, lab="memlab", kind=topo.kind, topology=topo.name, region=region, seed=seed,
        parent_pid=0, control_url="mem://supervisor", token=SecretStr("memlab"), proxies={},
        event_log="", latency_ms=dict(topo.latency_ms), concurrency=topo.agent_concurrency,
        agents=[f"{name}-a1"], replication=replication, restart_delay_s=topo.healing.restart_delay_s,
        migrate=False, membership=topo.membership, health=topo.health,
    )


def build_hosts(net: MemoryNetwork, topo: Topology, *, replication: int, nodes_per_region: int = 2
                ) -> dict[str, NodeHost]:
    """Decentralized node hosts serving their peer routes (SWIM, session replicas) on ``net``, each with a
    converged membership view. Their protocol loops are not started: tests drive them."""
    loop = asyncio.get_running_loop()
    events = MemoryEvents(loop.time)
    hosts: dict[str, NodeHost] = {}
    for region in topo.region_names:
        for i in range(1, nodes_per_region + 1):
            name = f"{region}-n{i}"
            host = NodeHost(node_config(name, region, topo, replication=replication), net=net.transport(region),
                            events=events, clock=loop.time)
            assert host.swim is not None
            host.swim.me.url = net.serve(name, region, host.peer_routes())
            hosts[name] = host
    for host in hosts.values():
        assert host.swim is not None
        host.swim.members.update({n: SwimMember(o.name, o.region, net_url(o)) for n, o in hosts.items()
                                  if o is not host})
    return hosts


def net_url(host: NodeHost) -> str:
    assert host.swim is not None
    return host.swim.me.url
