"""The lab supervisor: the machine room. Starts a topology's processes, runs the link layer, serves the
control API (chaos) and the provisioning API (the deployment's own orchestrators), writes the lab state.

Run as ``python -m fleet.supervisor --lab-dir DIR --name NAME --seed N`` (``fleet.lab.lab_up`` does it).
Its children die with it (parent-death signal plus a parent watch), so a ``kill -9`` of the supervisor
leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from core.logs import EventLog
from fleet.agents.net import start_site
from fleet.agents.proc import READY_PREFIX
from fleet.plan import plan_nodes
from fleet.supervisor.control_api import control_app
from fleet.supervisor.faults import DutyCycle, Faults
from fleet.supervisor.netlink import EgressProxy, LinkTable
from fleet.supervisor.records import ControlError, NodeRecord
from fleet.topology import Topology

__all__ = ["Supervisor", "NodeRecord"]

log = logging.getLogger("aftershock.fleet.supervisor")

READY_TIMEOUT_S = 120.0
CONVERGE_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0


class Supervisor(Faults):
    def __init__(self, topology: Topology, name: str, seed: int, lab_dir: Path, owner_pid: int | None = None):
        self.topo = topology
        self.name = name
        self.seed = seed
        self.dir = lab_dir
        self.token = (lab_dir / "token").read_text().strip()
        self.events = EventLog(lab_dir / "events.jsonl")
        self.request_log = lab_dir / "requests.csv"
        baseline = {(a, b): topology.link_latency_ms(a, b) for a, b in topology.region_pairs()}
        self.links = LinkTable(baseline, random.Random(f"{seed}:links"))
        self.proxy = EgressProxy(self.links, self._region_of_port)
        self.nodes: dict[str, NodeRecord] = {}
        self.clients: NodeRecord | None = None
        self.control_url = ""
        self.ready = False
        self.started_at = time.time()
        self._port_region: dict[int, str] = {}
        self._lock = asyncio.Lock()
        self._log_fh = open(lab_dir / "processes.log", "ab")  # noqa: SIM115 - lives as long as the lab
        self._watchers: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None
        self.owner_pid = owner_pid
        self._throttles: dict[str, DutyCycle] = {}

    # ---- addressing ---------------------------------------------------------------------
    def _region_of_port(self, port: int) -> str | None:
        return self._port_region.get(port)

    def _index_ports(self, rec: NodeRecord) -> None:
        for url in [rec.node_url, *rec.agent_urls.values()]:
            if url:
                self._port_region[int(url.rsplit(":", 1)[1].split("/")[0])] = rec.region

    def directory(self) -> dict[str, Any]:
        nodes = [
            {
                "name": r.name,
                "region": r.region,
                "role": r.role,
                "hub": r.hub,
                "node_url": r.node_url,
                "agents": [{"id": a, "url": r.agent_urls.get(a, "")} for a in r.agents],
            }
            for r in self.nodes.values()
            if r.node_url and not (r.replaced_by and not r.process_alive) and r.status != "stopped"
        ]
        return {"regions": self.topo.region_names, "nodes": nodes, "proxies": self.proxy.urls}

    # ---- state --------------------------------------------------------------------------
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
            "nodes": [r.as_status() for r in self.nodes.values()],
            "clients": {
                "pid": self.clients.pid if self.clients else None,
                "metrics_url": self.clients.metrics_url if self.clients else "",
            },
            "control_url": self.control_url,
            "token_file": str(self.dir / "token"),
            "request_log": str(self.request_log),
            "event_log": str(self.events.path),
            "links": self.links.as_list(),
            "proxies": self.proxy.urls,
            "membership": self.topo.membership.model_dump(),
            "health": self.topo.health.model_dump(),
            "healing": self.topo.healing.model_dump(),
        }

    def write_state(self, **extra: Any) -> None:
        """Atomically replace state.json; a vanished lab directory must not stop the lab from shutting down."""
        tmp = self.dir / "state.json.tmp"
        try:
            tmp.write_text(json.dumps({**self.status(), **extra}, indent=1))
            os.replace(tmp, self.dir / "state.json")
        except OSError as exc:
            log.warning("cannot write the state of lab %s: %s", self.name, exc)

    # ---- processes ----------------------------------------------------------------------
    def _child_config(self, rec: NodeRecord, **extra: Any) -> dict[str, Any]:
        t = self.topo
        return {
            "name": rec.name,
            "lab": self.name,
            "kind": t.kind,
            "region": rec.region,
            "topology": t.name,
            "seed": self.seed,
            "token": self.token,
            "control_url": self.control_url,
            "proxies": self.proxy.urls,
            "event_log": str(self.events.path),
            "parent_pid": os.getpid(),
            "latency_ms": dict(t.latency_ms),
            "concurrency": t.agent_concurrency,
            "agents": rec.agents,
            "replication": t.replication,
            "restart_delay_s": t.healing.restart_delay_s,
            "migrate": t.healing.migrate,
            "membership": t.membership.model_dump(),
            "health": t.health.model_dump(),
            **extra,
        }

    async def _spawn(self, rec: NodeRecord, role: str, config: dict[str, Any]) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fleet.agents",
            role,
            json.dumps(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=self._log_fh,
            stdin=asyncio.subprocess.DEVNULL,
        )
        rec.proc = proc
        assert proc.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)).decode()
                if not line:
                    raise RuntimeError(f"{rec.name} exited before it was ready (see {self.dir / 'processes.log'})")
                if line.startswith(READY_PREFIX):
                    break
        except (TimeoutError, RuntimeError):
            if proc.returncode is None:
                proc.kill()
            raise
        info = json.loads(line[len(READY_PREFIX) :])
        rec.node_url = info.get("node_url", "")
        rec.metrics_url = info["metrics_url"]
        rec.agent_urls = dict(info.get("agents", {}))
        rec.agents_alive = {a: True for a in rec.agents}
        rec.status = "running"
        rec.starts += 1
        self._index_ports(rec)
        watcher = asyncio.create_task(self._watch(rec, proc))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, rec: NodeRecord, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        if rec.proc is proc and rec.status in ("running", "paused"):
            rec.status = "killed"
            self.events.emit(
                "node_killed", node=rec.name, region=rec.region, unexpected=True, returncode=proc.returncode
            )
            self.write_state()

    async def start_node(self, rec: NodeRecord, seeds: list[dict] | None = None) -> None:
        role = "hub" if rec.role == "hub" else "node"
        extra: dict[str, Any] = {"seeds": seeds or []}
        if rec.standby_of:
            extra["standby_of"] = rec.standby_of
        await self._spawn(rec, role, self._child_config(rec, **extra))

    async def _kill_proc(self, rec: NodeRecord) -> None:
        if rec.process_alive:
            assert rec.proc is not None
            rec.proc.kill()
            await rec.proc.wait()

    # ---- building the topology ------------------------------------------------------------
    def _plan(self) -> None:
        for planned in plan_nodes(self.topo):
            self.nodes[planned.name] = NodeRecord(
                planned.name, planned.region, planned.role, list(planned.agents), hub=planned.hub
            )

    async def build(self) -> None:
        self._plan()
        hubs = [r for r in self.nodes.values() if r.role == "hub"]
        await asyncio.gather(*(self.start_node(r) for r in hubs))
        standby = self.topo.hub.standby if self.topo.kind == "centralized" else None
        if standby is not None:
            primary = hubs[0]
            rec = NodeRecord(
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
            )
            self.nodes[rec.name] = rec
            await self.start_node(rec)
        agents = [r for r in self.nodes.values() if r.role == "agent"]
        await asyncio.gather(*(self.start_node(r) for r in agents))
        if self.topo.kind == "decentralized":
            seeds = [{"name": r.name, "region": r.region, "url": r.node_url} for r in agents]
            assert self._http is not None
            for rec in agents:
                await self._node_admin(rec, "/admin/join", {"seeds": seeds})
        for rec in self.nodes.values():
            self.events.emit("node_started", node=rec.name, region=rec.region, role=rec.role, pid=rec.pid)
        await self.converge()
        shares = self.topo.client_shares()
        hub_order = [r.name for r in self.nodes.values() if r.role == "hub"] if self.topo.kind == "centralized" else []
        self.clients = NodeRecord("clients", self.topo.region_names[0], "clients", [])
        await self._spawn(
            self.clients,
            "clients",
            {
                **self._child_config(self.clients),
                "workload": self.topo.workload.model_dump(),
                "client_shares": shares,
                "request_log": str(self.request_log),
                "hub_order": hub_order,
            },
        )

    async def converge(self) -> None:
        """Wait until every node's view is complete: SWIM members all alive, hubs seeing all their agents."""
        assert self._http is not None
        expected: dict[str, int] = {}
        agent_nodes = [r for r in self.nodes.values() if r.role == "agent"]
        for rec in self.nodes.values():
            if rec.role == "agent" and self.topo.kind == "decentralized":
                expected[rec.name] = len(agent_nodes)
            elif rec.role == "hub" and not rec.standby_of:
                expected[rec.name] = sum(len(a.agents) for a in agent_nodes if a.hub == rec.name)
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        pending = dict(expected)
        while pending:
            for name in list(pending):
                try:
                    async with self._http.get(
                        f"{self.nodes[name].node_url}/view", timeout=aiohttp.ClientTimeout(total=2)
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
    async def spawn_replacement(self, replaces: str, region: str, by: str | None) -> dict[str, Any]:
        old = self._node(replaces)
        self._region(region)
        if old.replaced_by:
            raise ControlError(f"{replaces} was already replaced by {old.replaced_by}", 409)
        taken = {r.name for r in self.nodes.values()}
        index = 1 + sum(1 for r in self.nodes.values() if r.region == region and r.role == "agent")
        while f"{region}-n{index}" in taken:
            index += 1
        name = f"{region}-n{index}"
        rec = NodeRecord(name, region, "agent", [f"{name}-a{j}" for j in range(1, len(old.agents) + 1)], hub=old.hub)
        old.replaced_by = name
        self.nodes[name] = rec
        await self.start_node(rec, seeds=self._seeds(exclude=name))
        self.events.emit("node_migrated", node=replaces, region=region, by=by, replacement=name, from_region=old.region)
        return {"replaces": replaces, "node": name, "region": region}

    async def take_over(self, hub: str, primary: str) -> dict[str, Any]:
        standby = self._node(hub)
        victims = [r for r in list(self.nodes.values()) if r.role == "agent" and r.hub == primary and not r.replaced_by]
        spawned = []
        for old in victims:
            result = await self.spawn_replacement(old.name, standby.region, by=hub)
            self.nodes[result["node"]].hub = hub
            spawned.append(result["node"])
        self.nodes[hub].hub = None
        return {"hub": hub, "spawned": spawned}

    # ---- lifecycle ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        self._http = aiohttp.ClientSession()
        runner, port = await start_site(control_app(self))
        self.control_url = f"http://127.0.0.1:{port}"
        await self.proxy.start(self.topo.region_names)
        try:
            self.write_state()
            await self.build()
            self.ready = True
            self.events.emit("lab_started", topology=self.topo.name, nodes=len(self.nodes))
            self.write_state()
            if self.owner_pid:
                lease = asyncio.create_task(self._watch_owner(stop))
                self._watchers.add(lease)
            await stop.wait()
        finally:
            await self.shutdown()
            await runner.cleanup()
            await self.proxy.close()
            await self._http.close()

    async def _watch_owner(self, stop: asyncio.Event) -> None:
        """A lab started for a run lives only as long as the process that owns it (a lease)."""
        import psutil

        while not stop.is_set():
            if not psutil.pid_exists(int(self.owner_pid or 0)):
                log.warning("owner %s is gone; stopping lab %s", self.owner_pid, self.name)
                stop.set()
                return
            await asyncio.sleep(0.5)

    async def shutdown(self) -> None:
        self.ready = False
        for rec in self.nodes.values():
            self._unthrottle(rec)  # a duty cycle must not stop a process that is being asked to exit
        if self.clients and self.clients.process_alive:
            await self._terminate([self.clients])
        await self._terminate([r for r in self.nodes.values() if r.process_alive])
        for rec in self.nodes.values():
            rec.status = "stopped"
        self.events.emit("lab_stopped")
        self.write_state(stopped=True)

    async def _terminate(self, records: list[NodeRecord]) -> None:
        for rec in records:
            rec.status = "stopped"
            assert rec.proc is not None
            if rec.proc.returncode is None:
                try:
                    os.kill(rec.proc.pid, signal.SIGCONT)
                    rec.proc.terminate()
                except ProcessLookupError:
                    pass
        procs = [r.proc for r in records if r.proc is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), STOP_GRACE_S)
        except TimeoutError:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in procs))
