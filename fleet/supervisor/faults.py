"""Faults the lab can inject from outside its processes: the chaos half of the supervisor.

Kill (SIGKILL), pause (SIGSTOP), CPU starvation (a SIGSTOP/SIGCONT duty cycle, as cpulimit does), link
latency, loss and cuts, and healing back to the topology. A mixin of :class:`fleet.supervisor.supervisor.Supervisor`,
kept apart so each module holds one concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from typing import Any

import aiohttp

from core.logs import EventLog
from fleet.supervisor.netlink import LinkTable
from fleet.supervisor.records import ControlError, NodeRecord
from fleet.topology import Topology

__all__ = ["Faults", "DutyCycle", "THROTTLE_PERIOD_S"]

THROTTLE_PERIOD_S = 0.1  # duty-cycle period of CPU throttling, like cpulimit


class DutyCycle:
    """Runs a process ``share`` of the time: SIGSTOP, sleep, SIGCONT, sleep, every THROTTLE_PERIOD_S.

    A thread of its own, not an asyncio task: the supervisor's event loop is busy with the link layer,
    and a late wake-up there would stretch the running slices, so the node would get far more CPU than asked.
    """

    def __init__(self, pid: int, share: float):
        self.pid, self.share = pid, share
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"throttle-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                os.kill(self.pid, signal.SIGSTOP)
                if self._stop.wait(THROTTLE_PERIOD_S * (1 - self.share)):
                    break
                os.kill(self.pid, signal.SIGCONT)
                self._stop.wait(THROTTLE_PERIOD_S * self.share)
        except ProcessLookupError:  # the node died (killed, or its lab went down)
            pass

    def stop(self, resume: bool) -> None:
        """End the cycle; ``resume`` leaves the process running (not for a paused or dead node)."""
        self._stop.set()
        self._thread.join(2 * THROTTLE_PERIOD_S)
        if resume:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)


class Faults:
    """Operations of the control API; the supervisor provides the state they act on."""

    name: str
    token: str
    topo: Topology
    nodes: dict[str, NodeRecord]
    events: EventLog
    links: LinkTable
    _http: aiohttp.ClientSession | None
    _throttles: dict[str, DutyCycle]

    async def start_node(self, rec: NodeRecord, seeds: list[dict] | None = None) -> None:
        raise NotImplementedError

    async def _kill_proc(self, rec: NodeRecord) -> None:
        raise NotImplementedError

    def _node(self, name: str) -> NodeRecord:
        rec = self.nodes.get(str(name))
        if rec is None:
            raise ControlError(f"no node {name!r} in lab {self.name} (nodes: {', '.join(self.nodes)})", 404)
        return rec

    def _region(self, region: str) -> str:
        if region not in self.topo.region_names:
            raise ControlError(f"no region {region!r} (regions: {', '.join(self.topo.region_names)})", 404)
        return region

    async def kill_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        rec = self._node(name)
        if not rec.process_alive:
            return {"node": name, "killed": False, "reason": "not running"}
        rec.status = "killed"
        self._unthrottle(rec)
        await self._kill_proc(rec)
        self.events.emit("node_killed", node=rec.name, region=rec.region, by=by)
        return {"node": name, "killed": True}

    def _agent_home(self, agent: str) -> NodeRecord:
        for rec in self.nodes.values():
            if agent in rec.agents:
                return rec
        raise ControlError(f"no agent {agent!r} in lab {self.name}", 404)

    async def _node_admin(self, rec: NodeRecord, path: str, body: dict) -> dict:
        assert self._http is not None
        async with self._http.post(
            f"{rec.node_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=aiohttp.ClientTimeout(total=5),
        ) as resp:
            return await resp.json()

    async def kill_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        rec = self._agent_home(agent)
        if rec.status != "running":
            raise ControlError(f"agent {agent!r} is on node {rec.name}, which is {rec.status}", 409)
        await self._node_admin(rec, "/admin/kill-agent", {"agent": agent})
        rec.agents_alive[agent] = False
        self.events.emit("agent_killed", node=rec.name, region=rec.region, agent=agent, by=by)
        return {"agent": agent, "killed": True}

    async def kill_region(self, region: str) -> dict[str, Any]:
        self._region(region)
        killed = []
        for rec in list(self.nodes.values()):
            if rec.region == region and rec.process_alive:
                rec.status = "killed"
                self._unthrottle(rec)
                await self._kill_proc(rec)
                killed.append(rec.name)
                self.events.emit("node_killed", node=rec.name, region=region, by="region")
        self.events.emit("region_killed", region=region, nodes=killed)
        return {"region": region, "killed": killed}

    async def restart_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        rec = self._node(name)
        if rec.replaced_by:
            raise ControlError(f"node {name} was replaced by {rec.replaced_by}; it is not restarted", 409)
        if rec.status == "running" and rec.process_alive:
            return {"node": name, "restarted": False, "reason": "running"}
        self._unthrottle(rec)
        await self._kill_proc(rec)
        seeds = self._seeds(exclude=name)
        await self.start_node(rec, seeds=seeds)
        self.events.emit("node_restarted", node=rec.name, region=rec.region, by=by, pid=rec.pid)
        return {"node": name, "restarted": True, "pid": rec.pid}

    def _seeds(self, exclude: str) -> list[dict]:
        return [
            {"name": r.name, "region": r.region, "url": r.node_url}
            for r in self.nodes.values()
            if r.role == "agent" and r.name != exclude and r.status == "running" and r.process_alive
        ]

    async def restart_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        rec = self._agent_home(agent)
        if rec.status == "running" and rec.process_alive:
            if rec.agents_alive.get(agent, True):
                return {"agent": agent, "restarted": False, "reason": "running"}
            await self._node_admin(rec, "/admin/start-agent", {"agent": agent})
            rec.agents_alive[agent] = True
            self.events.emit("agent_restarted", node=rec.name, region=rec.region, agent=agent, by=by)
            return {"agent": agent, "restarted": True}
        return await self.restart_node(rec.name, by=by)

    async def throttle_node(self, name: str, cpu_percent: Any) -> dict[str, Any]:
        """Let the node run only ``cpu_percent`` of the time (SIGSTOP/SIGCONT duty cycle, as cpulimit does):
        a host starved by a noisy neighbour. Alive, answering, but slow; the deployment is not told."""
        rec = self._node(name)
        if not isinstance(cpu_percent, int | float) or isinstance(cpu_percent, bool) or not 1 <= cpu_percent <= 99:
            raise ControlError("cpu_percent must be a number in 1..99")
        if rec.status != "running" or not rec.process_alive:
            raise ControlError(f"node {name} is {rec.status}; only a running node can be throttled", 409)
        self._unthrottle(rec)
        rec.cpu_percent = float(cpu_percent)
        assert rec.proc is not None
        self._throttles[name] = DutyCycle(rec.proc.pid, float(cpu_percent) / 100)
        self.events.emit("node_throttled", node=name, region=rec.region, cpu_percent=rec.cpu_percent)
        return {"node": name, "cpu_percent": rec.cpu_percent}

    def _unthrottle(self, rec: NodeRecord) -> bool:
        throttle = self._throttles.pop(rec.name, None)
        rec.cpu_percent = None
        if throttle is None:
            return False
        throttle.stop(resume=rec.process_alive and rec.status != "paused")
        return True

    async def unthrottle_node(self, name: str) -> dict[str, Any]:
        rec = self._node(name)
        released = self._unthrottle(rec)
        if released:
            self.events.emit("node_unthrottled", node=name, region=rec.region)
        return {"node": name, "unthrottled": released}

    async def pause_node(self, name: str) -> dict[str, Any]:
        rec = self._node(name)
        self._unthrottle(rec)
        if rec.status != "running" or not rec.process_alive:
            raise ControlError(f"node {name} is {rec.status}; only a running node can be paused", 409)
        assert rec.proc is not None
        os.kill(rec.proc.pid, signal.SIGSTOP)
        rec.status = "paused"
        self.events.emit("node_paused", node=name, region=rec.region)
        return {"node": name, "paused": True}

    async def resume_node(self, name: str) -> dict[str, Any]:
        rec = self._node(name)
        if rec.status != "paused" or not rec.process_alive:
            return {"node": name, "resumed": False, "reason": rec.status}
        assert rec.proc is not None
        os.kill(rec.proc.pid, signal.SIGCONT)
        rec.status = "running"
        self.events.emit("node_resumed", node=name, region=rec.region)
        return {"node": name, "resumed": True}

    def set_link(self, body: dict[str, Any]) -> dict[str, Any]:
        src, dst = str(body.get("src", "")), str(body.get("dst", ""))
        for region in (src, dst):
            if region != "*":
                self._region(region)
        latency, loss, cut = body.get("latency_ms"), body.get("loss"), body.get("cut")
        if latency is not None and not (isinstance(latency, int | float) and 0 <= latency <= 60_000):
            raise ControlError("latency_ms must be a number of milliseconds in 0..60000")
        if loss is not None and not (isinstance(loss, int | float) and 0 <= loss <= 1):
            raise ControlError("loss must be a fraction in 0..1")
        if cut is not None and not isinstance(cut, bool):
            raise ControlError("cut must be true or false")
        changed = self.links.set(src, dst, latency_ms=latency, loss=loss, cut=cut)
        for link in changed:
            self.events.emit("link_changed", **link.as_dict())
        return {"links": [link.as_dict() for link in changed]}

    async def restore_region(self, region: str) -> dict[str, Any]:
        self._region(region)
        restored = [
            r.name for r in self.nodes.values() if r.region == region and r.status == "killed" and not r.replaced_by
        ]
        await asyncio.gather(*(self.restart_node(name, by="restore") for name in restored))
        self.events.emit("region_restored", region=region, nodes=restored)
        return {"region": region, "restored": restored}

    async def heal(self) -> dict[str, Any]:
        """Back to the topology as declared: links reset, paused nodes resumed, killed nodes and agents back."""
        self.links.reset()
        for rec in self.nodes.values():
            if self._unthrottle(rec):
                self.events.emit("node_unthrottled", node=rec.name, region=rec.region)
        resumed = [r.name for r in self.nodes.values() if r.status == "paused"]
        for name in resumed:
            await self.resume_node(name)
        restarted = [r.name for r in self.nodes.values() if r.status == "killed" and not r.replaced_by]
        dead_agents = [
            a for r in self.nodes.values() if r.status == "running" for a, alive in r.agents_alive.items() if not alive
        ]
        await asyncio.gather(
            *(self.restart_node(name, by="heal") for name in restarted),
            *(self.restart_agent(agent, by="heal") for agent in dead_agents),
        )
        self.events.emit("healed", resumed=resumed, restarted=restarted)
        return {"resumed": resumed, "restarted": restarted, "links": "reset"}
