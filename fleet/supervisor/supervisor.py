"""The lab supervisor: builds a topology's processes, owns the components that run the lab, writes its state.

Run as ``python -m fleet.supervisor --lab-dir DIR --name NAME --seed N`` (``fleet.lab.lab_up`` does it).
Composed of a roster (node records), a launcher (child processes), faults (chaos), the link table and the
egress proxies (the link layer) and the control API; the provisioning the deployments ask for (spawn a
replacement, take over as standby) is here, beside the lifecycle. Its children die with it (parent-death
signal plus a parent watch), so a ``kill -9`` of the supervisor leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from pydantic import SecretStr

from core.logs import EventLog, execution_log_writer
from core.settings import DEFAULT_MAX_FAULT_S
from fleet.agents.config import ChildConfig, ClientsSpec, Role, Seed, StandbyOf
from fleet.agents.net import start_site
from fleet.plan import plan_nodes
from fleet.presets import LabOptions
from fleet.supervisor.churn import Churner
from fleet.supervisor.control_api import control_app
from fleet.supervisor.deadman import DeadMan
from fleet.supervisor.devices import churning_nodes, class_fields, start_class_proxies, wire_classes
from fleet.supervisor.faults import Faults
from fleet.supervisor.lastmile import needs_local_proxy
from fleet.supervisor.launcher import Launcher
from fleet.supervisor.netlink import EgressProxy, LinkTable
from fleet.supervisor.records import ControlError, NodeRecord, Roster
from fleet.supervisor.relay import start_relays
from fleet.topology import Autoscale, Topology

__all__ = ["Supervisor", "CONVERGE_TIMEOUT_S"]

log = logging.getLogger("aftershock.fleet.supervisor")

CONVERGE_TIMEOUT_S = 120.0
OWNER_POLL_S = 0.5
#: Nodes the directory no longer lists: stopped with the lab, or taken away by the autoscaler (draining, gone).
GONE_STATUSES = ("stopped", "removing", "removed")


class Supervisor:
    """One lab: its topology, its components, its state file (``state.json``, the lab status).

    ``launcher_class`` and ``faults_class`` are the seams another engine's supervisor replaces (Ray's places
    nodes as actors: ``engines.ray.supervisor``); everything else (roster, link layer, control API, dead-man,
    provisioning) is shared, so the topologies keep their meaning on every engine.
    """

    launcher_class: type[Launcher] = Launcher
    faults_class: type[Faults] = Faults

    def __init__(self, topology: Topology, name: str, seed: int, lab_dir: Path, owner_pid: int | None = None,
                 max_fault_s: float = DEFAULT_MAX_FAULT_S, options: LabOptions = LabOptions()):
        self.topo = topology
        self.lab_options = options
        self.name = name
        self.seed = seed
        self.dir = lab_dir
        self.owner_pid = owner_pid
        self.token = (lab_dir / "token").read_text().strip()
        self.events = EventLog(lab_dir / "events.jsonl")
        self.request_log = lab_dir / "requests.csv"
        self.execution_log = lab_dir / "executions.csv"
        execution_log_writer(self.execution_log).close()  # the header, once, before any agent appends
        self.roster = Roster(name, topology.region_names)
        baseline = {(a, b): topology.link_latency_ms(a, b) for a, b in topology.region_pairs()}
        self.links = LinkTable(baseline, random.Random(f"{seed}:links"))
        self.proxy = EgressProxy(self.links, self.roster.region_of_port)
        # Mesh nodes send SWIM and replication as datagrams through one relay per region (relay.py); a lab whose
        # devices have last miles keeps them on HTTP (their per-class proxies carry every call).
        self.relay_ports: dict[str, int] = {}
        self._relays: list[asyncio.BaseTransport] = []
        wire_classes(self.proxy, topology, self.roster, seed)  # node classes' last miles (fleet/supervisor/devices.py)
        self._no_replace = churning_nodes(topology)
        self.launcher = self.launcher_class(
            self.roster,
            self.events,
            self._node_config,
            token=self.token,
            log_path=lab_dir / "processes.log",
            on_change=self.write_state,
            fork=options.spawn == "fork",
        )
        self.faults = self.faults_class(self.roster, self.launcher, self.links, self.events)
        self.clients: NodeRecord | None = None
        self.control_url = ""
        self.ready = False
        self.started_at = time.time()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self.deadman = DeadMan(name, lab_dir.parent.parent, max_fault_s, roster=self.roster, faults=self.faults,
                               topology=topology, events=self.events, operation=self.operation, owner_pid=owner_pid)
        self.churn = Churner(topology, self.roster, self.launcher, self.events, seed, self.operation, self.write_state)

    # ---- state --------------------------------------------------------------------------
    def directory(self) -> dict[str, Any]:
        """Who serves where: what hubs, clients and replacements look agents and peers up in."""
        nodes = [
            {
                "name": r.name,
                "region": r.region,
                "role": r.role,
                "hub": r.hub,
                "node_url": r.node_url,
                "concurrency": self.topo.class_concurrency(r.node_class),  # a hub sizes its view of the slots
                "agents": [{"id": a, "url": r.agent_urls.get(a, "")} for a in r.agents],
            }
            for r in self.roster
            if r.node_url and not (r.replaced_by and not r.process_alive) and r.status not in GONE_STATUSES
        ]
        return {"regions": self.topo.region_names, "nodes": nodes, "proxies": self.proxy.urls}

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "topology": self.topo.name,
            "kind": self.topo.kind,
            "pid": os.getpid(),
            "seed": self.seed,
            "started_at": self.started_at,
            "ready": self.ready,
            "regions": self.topo.region_names,
            "home": str(self.dir.parent.parent),
            "nodes": [r.as_status() for r in self.roster],
            "clients": {
                "pid": self.clients.pid if self.clients else None,
                "metrics_url": self.clients.metrics_url if self.clients else "",
            },
            "control_url": self.control_url,
            "token_file": str(self.dir / "token"),
            "request_log": str(self.request_log),
            "event_log": str(self.events.path),
            "execution_log": str(self.execution_log),
            "links": self.links.as_list(),
            "proxies": self.proxy.urls,
            "membership": self.topo.membership.model_dump(),
            "health": self.topo.health.model_dump(),
            "healing": self.topo.healing.model_dump(),
            "node_classes": {n: c.model_dump() for n, c in self.topo.node_classes.items()},
            "class_proxies": self.proxy.class_urls,
            "relays": self.relay_ports,
            "fork_server_pid": self.launcher.zygote.pid if self.launcher.zygote is not None else None,
        }

    def write_state(self, **extra: Any) -> None:
        """Atomically replace state.json; a vanished lab directory must not stop the lab from shutting down."""
        tmp = self.dir / "state.json.tmp"
        try:
            tmp.write_text(json.dumps({**self.status(), **extra}, indent=1))
            os.replace(tmp, self.dir / "state.json")
        except OSError as exc:
            log.warning("cannot write the state of lab %s: %s", self.name, exc)

    @contextlib.asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        """One control operation at a time; the state file is rewritten when it succeeds."""
        async with self._lock:
            yield
            self.write_state()

    # ---- child configuration ----------------------------------------------------------------
    def _child_config(self, rec: NodeRecord, role: Role, **extra: Any) -> ChildConfig:
        t = self.topo
        return ChildConfig(
            role=role,
            name=rec.name,
            lab=self.name,
            kind=t.kind,
            region=rec.region,
            topology=t.name,
            seed=self.seed,
            token=SecretStr(self.token),
            control_url=self.control_url,
            proxies=self.proxy.urls,
            event_log=str(self.events.path),
            execution_log=str(self.execution_log),
            parent_pid=os.getpid(),
            latency_ms=dict(t.latency_ms),
            concurrency=t.class_concurrency(rec.node_class),
            queue=t.agent_queue,
            agents=rec.agents,
            replication=t.replication,
            restart_delay_s=t.healing.restart_delay_s,
            migrate=t.healing.migrate,
            membership=t.membership,
            health=t.health,
            autoscale=self._policy_for(rec, role),
            agents_per_node=t.agents_per_node,
            event_loop=self.lab_options.event_loop,
            relays=self.relay_ports if t.kind == "decentralized" and not needs_local_proxy(t) else {},
            **class_fields(t, rec, self.proxy, self._no_replace),
            **extra,
        )

    def _policy_for(self, rec: NodeRecord, role: Role) -> Autoscale | None:
        """The autoscaling policy a process applies: the whole policy for a centralized hub (and its standby) and
        for every mesh node (the leader applies it); a hybrid hub its region's share of the bounds."""
        policy = self.topo.autoscale
        if policy is None or role == "clients" or (role == "node" and self.topo.kind != "decentralized"):
            return None
        if self.topo.kind != "hybrid":
            return policy
        share = sum(r.nodes for r in self.topo.regions if r.name == rec.region) / self.topo.total_nodes
        initial = round(self.topo.total_agents * share)
        return policy.model_copy(update={"min_agents": max(1, math.floor(policy.min_agents * share)),
                                         "max_agents": max(initial, math.floor(policy.max_agents * share))})

    def _node_config(self, rec: NodeRecord, seeds: list[dict[str, str]]) -> ChildConfig:
        standby = StandbyOf.model_validate(rec.standby_of) if rec.standby_of else None
        return self._child_config(rec, "hub" if rec.role == "hub" else "node",
                                  seeds=[Seed.model_validate(s) for s in seeds], standby_of=standby)

    # ---- building the topology ------------------------------------------------------------
    async def build(self) -> None:
        for planned in plan_nodes(self.topo):
            self.roster.add(NodeRecord(planned.name, planned.region, planned.role, list(planned.agents),
                                       hub=planned.hub, node_class=planned.node_class))
        hubs = [r for r in self.roster if r.role == "hub"]
        await asyncio.gather(*(self.launcher.start_node(r) for r in hubs))
        standby = self.topo.hub.standby if self.topo.kind == "centralized" else None
        if standby is not None:
            primary = hubs[0]
            rec = self.roster.add(NodeRecord(
                f"{standby.region}-standby",
                standby.region,
                "hub",
                [],
                standby_of={
                    "name": primary.name,
                    "region": primary.region,
                    "url": primary.node_url,
                    "failover_delay_s": standby.failover_delay_s,
                },
            ))
            await self.launcher.start_node(rec)
        agents = [r for r in self.roster if r.role == "agent"]
        await asyncio.gather(*(self.launcher.start_node(r) for r in agents))
        if self.topo.kind == "decentralized":
            seeds = [{"name": r.name, "region": r.region, "url": r.node_url} for r in agents]
            for rec in agents:
                await self.launcher.admin(rec, "/admin/join", {"seeds": seeds})
        for rec in self.roster:
            self.events.emit("node_started", node=rec.name, region=rec.region, role=rec.role, pid=rec.pid)
        await self.converge()
        await self._start_clients()

    async def _start_clients(self) -> None:
        hubs = [r.name for r in self.roster if r.role == "hub"] if self.topo.kind == "centralized" else []
        self.clients = NodeRecord("clients", self.topo.region_names[0], "clients", [])
        spec = ClientsSpec(workload=self.topo.workload, client_shares=self.topo.client_shares(),
                           request_log=str(self.request_log), hub_order=hubs)
        await self.launcher.spawn(self.clients, self._child_config(self.clients, "clients", clients=spec))

    async def converge(self) -> None:
        """Wait until every node's view is complete: SWIM members all alive, hubs seeing all their agents."""
        expected: dict[str, int] = {}
        agent_nodes = [r for r in self.roster if r.role == "agent"]
        for rec in self.roster:
            if rec.role == "agent" and self.topo.kind == "decentralized":
                expected[rec.name] = len(agent_nodes)
            elif rec.role == "hub" and not rec.standby_of:
                expected[rec.name] = sum(len(a.agents) for a in agent_nodes if a.hub == rec.name)
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        pending = dict(expected)
        while pending:
            for name in list(pending):
                try:
                    async with self.launcher.http.get(
                        f"{self.roster.node(name).node_url}/view", timeout=aiohttp.ClientTimeout(total=2)
                    ) as resp:
                        view = await resp.json()
                except (aiohttp.ClientError, TimeoutError):
                    continue
                if view.get("members_alive") == pending[name]:
                    del pending[name]
            if time.monotonic() > deadline:
                raise RuntimeError(f"membership did not converge within {CONVERGE_TIMEOUT_S}s: {sorted(pending)}")
            if pending:
                await asyncio.sleep(0.1)

    # ---- provisioning (called by the deployment itself) -----------------------------------
    def _next_node_name(self, region: str) -> str:
        taken = set(self.roster.nodes)
        index = 1 + sum(1 for r in self.roster if r.region == region and r.role == "agent")
        while f"{region}-n{index}" in taken:
            index += 1
        return f"{region}-n{index}"

    async def spawn_replacement(self, replaces: str, region: str, by: str | None) -> dict[str, Any]:
        old = self.roster.node(replaces)
        if old.name in self._no_replace:
            raise ControlError(f"{replaces} is a device of a churning class: it rejoins on its own", 409)
        self.roster.region(region)
        if old.replaced_by:
            raise ControlError(f"{replaces} was already replaced by {old.replaced_by}", 409)
        name = self._next_node_name(region)
        rec = NodeRecord(name, region, "agent", [f"{name}-a{j}" for j in range(1, len(old.agents) + 1)], hub=old.hub)
        old.replaced_by = name
        self.roster.add(rec)
        await self.launcher.start_node(rec, seeds=self.roster.seeds(exclude=name))
        self.events.emit("node_migrated", node=replaces, region=region, by=by, replacement=name, from_region=old.region)
        return {"replaces": replaces, "node": name, "region": region}

    def running_agents(self) -> int:
        """Agents in live agent processes: what the autoscaling bounds count (what a cloud would bill)."""
        return sum(len(r.agents) for r in self.roster
                   if r.role == "agent" and r.process_alive and r.status not in GONE_STATUSES)

    def _policy(self) -> Autoscale:
        if self.topo.autoscale is None:
            raise ControlError(f"topology {self.topo.name} has no autoscale policy", 409)
        return self.topo.autoscale

    async def scale_up(self, region: str, nodes: int, by: str | None, hub: str | None = None,
                       signal: float | None = None, decided_at: float | None = None) -> dict[str, Any]:
        """Add up to ``nodes`` agent nodes in ``region`` (behind ``hub`` when given), within ``max_agents``; the
        event says when the orchestrator decided (``decided_at``) and, by its time, when the nodes served."""
        policy = self._policy()
        self.roster.region(region)
        if hub is not None and self.roster.node(hub).role != "hub":
            raise ControlError(f"{hub} is not a hub", 400)
        before = self.running_agents()
        per = self.topo.agents_per_node
        room = (policy.max_agents - before) // per
        if room <= 0:
            raise ControlError(f"at max_agents ({policy.max_agents}): {before} agents run", 409)
        records = []
        for _ in range(max(1, min(int(nodes), room))):
            name = self._next_node_name(region)
            agents = [f"{name}-a{j}" for j in range(1, per + 1)]
            records.append(self.roster.add(NodeRecord(name, region, "agent", agents, hub=hub)))
        await asyncio.gather(*(self.launcher.start_node(r, seeds=self.roster.seeds(exclude=r.name)) for r in records))
        names = [r.name for r in records]
        self.events.emit("scaled_up", node=names[0], nodes=names, region=region, by=by, hub=hub,
                         agents=per * len(names), from_agents=before, to_agents=self.running_agents(), signal=signal,
                         decided_at=decided_at)
        return {"nodes": names, "region": region, "agents": self.running_agents()}

    async def remove_node(self, node: str, by: str | None, signal: float | None = None,
                          decided_at: float | None = None) -> dict[str, Any]:
        """Take an agent node away (scale down), within ``min_agents``: out of the directory at once (clients and
        hubs stop sending to it), told to leave (a mesh node says goodbye to its peers and passes on what still
        reaches it), and stopped after ``drain_s`` in the background, so no operation waits for the drain."""
        policy = self._policy()
        rec = self.roster.node(node)
        if rec.role != "agent" or not rec.serving:
            raise ControlError(f"{node} is not a serving agent node ({rec.role}, {rec.status})", 409)
        before = self.running_agents()
        if before - len(rec.agents) < policy.min_agents:
            raise ControlError(f"at min_agents ({policy.min_agents}): {before} agents run", 409)
        rec.status = "removing"
        try:
            await self.launcher.admin(rec, "/admin/leave", {"by": by})
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("%s did not take the leave notice: %s", node, exc)
        task = asyncio.create_task(self._drain_and_stop(rec, by, before, policy.drain_s, signal, decided_at))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {"node": node, "region": rec.region, "draining_s": policy.drain_s, "agents": before - len(rec.agents)}

    async def _drain_and_stop(self, rec: NodeRecord, by: str | None, before: int, drain_s: float,
                              signal: float | None, decided_at: float | None) -> None:
        await asyncio.sleep(drain_s)
        await self.launcher.terminate([rec])
        rec.status = "removed"
        self.events.emit("scaled_down", node=rec.name, nodes=[rec.name], region=rec.region, by=by, hub=rec.hub,
                         agents=len(rec.agents), from_agents=before, to_agents=self.running_agents(), signal=signal,
                         decided_at=decided_at)
        self.write_state()

    async def take_over(self, hub: str, primary: str) -> dict[str, Any]:
        standby = self.roster.node(hub)
        victims = [r for r in self.roster if r.role == "agent" and r.hub == primary and not r.replaced_by]
        spawned = []
        for old in victims:
            result = await self.spawn_replacement(old.name, standby.region, by=hub)
            self.roster.node(result["node"]).hub = hub
            spawned.append(result["node"])
        standby.hub = None
        return {"hub": hub, "spawned": spawned}

    # ---- lifecycle ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        await self.launcher.start()
        runner, port = await start_site(control_app(self, self.token, self.deadman))
        self.control_url = f"http://127.0.0.1:{port}"
        await self.proxy.start(self.topo.region_names)
        await start_class_proxies(self.proxy, self.topo, self.control_url)
        if self.topo.kind == "decentralized" and self.lab_options.peer_transport == "udp":
            self.relay_ports, self._relays, _stats = await start_relays(self.topo.region_names, self.proxy)
        try:
            self.write_state()
            await self.build()
            self.ready = True
            self.events.emit("lab_started", topology=self.topo.name, nodes=len(self.roster))
            self.write_state()
            self._tasks.add(asyncio.create_task(self.deadman.run(stop)))
            self._tasks.add(asyncio.create_task(self.churn.run()))  # devices leave and rejoin (churn.py)
            if self.owner_pid:
                lease = asyncio.create_task(self._watch_owner(stop))
                self._tasks.add(lease)
            await stop.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await self.shutdown()
            await runner.cleanup()
            await self.proxy.close()
            for relay in self._relays:
                relay.close()
            await self.launcher.close()

    async def _watch_owner(self, stop: asyncio.Event) -> None:
        """A lab started for a run lives only as long as the process that owns it (a lease)."""
        while not stop.is_set():
            if not psutil.pid_exists(int(self.owner_pid or 0)):
                log.warning("owner %s is gone; stopping lab %s", self.owner_pid, self.name)
                await self.deadman.controller_gone(reason=f"the owner process {self.owner_pid} is gone")
                stop.set()
                return
            await asyncio.sleep(OWNER_POLL_S)

    async def shutdown(self) -> None:
        self.ready = False
        for rec in self.roster:
            self.faults.release(rec)  # a duty cycle must not stop a process that is being asked to exit
        if self.clients and self.clients.process_alive:
            await self.launcher.terminate([self.clients])
        await self.launcher.terminate([r for r in self.roster if r.process_alive])
        for rec in self.roster:
            rec.status = "stopped"
        self.events.emit("lab_stopped")
        self.write_state(stopped=True)
