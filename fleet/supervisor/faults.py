"""Faults the lab can inject from outside its processes: the chaos half of the supervisor.

Kill (SIGKILL), pause (SIGSTOP), CPU starvation (a SIGSTOP/SIGCONT duty cycle, as cpulimit does), link
latency, loss and cuts, and healing back to the topology. A component the supervisor owns: it acts on the
roster's records through the launcher, on the link table, and writes what it did to the event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from typing import Any

from core.logs import EventLog
from fleet.supervisor.launcher import Launcher
from fleet.supervisor.netlink import LinkTable
from fleet.supervisor.records import CHURN_STATUSES, ControlError, NodeRecord, Roster

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
    """The fault operations of the control API (and the restarts the deployments' orchestrators ask for)."""

    def __init__(self, roster: Roster, launcher: Launcher, links: LinkTable, events: EventLog):
        self.roster = roster
        self.launcher = launcher
        self.links = links
        self.events = events
        self._throttles: dict[str, DutyCycle] = {}

    # ---- processes ----------------------------------------------------------------------
    async def kill_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        rec = self.roster.node(name)
        if not rec.process_alive:
            return {"node": name, "killed": False, "reason": "not running"}
        rec.status = "killed"
        self.release(rec)
        await self.launcher.kill(rec)
        self.events.emit("node_killed", node=rec.name, region=rec.region, by=by)
        return {"node": name, "killed": True}

    async def kill_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        rec = self.roster.agent_home(agent)
        if rec.status != "running":
            raise ControlError(f"agent {agent!r} is on node {rec.name}, which is {rec.status}", 409)
        await self.launcher.admin(rec, "/admin/kill-agent", {"agent": agent})
        rec.agents_alive[agent] = False
        self.events.emit("agent_killed", node=rec.name, region=rec.region, agent=agent, by=by)
        return {"agent": agent, "killed": True}

    async def kill_region(self, region: str) -> dict[str, Any]:
        self.roster.region(region)
        killed = []
        for rec in self.roster:
            if rec.region == region and rec.process_alive:
                rec.status = "killed"
                self.release(rec)
                await self.launcher.kill(rec)
                killed.append(rec.name)
                self.events.emit("node_killed", node=rec.name, region=region, by="region")
        self.events.emit("region_killed", region=region, nodes=killed)
        return {"region": region, "killed": killed}

    async def restart_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        rec = self.roster.node(name)
        if rec.replaced_by:
            raise ControlError(f"node {name} was replaced by {rec.replaced_by}; it is not restarted", 409)
        if rec.serving:
            return {"node": name, "restarted": False, "reason": "running"}
        if rec.status in CHURN_STATUSES:  # a device away by churn rejoins on its own schedule (churn.py)
            return {"node": name, "restarted": False, "reason": rec.status}
        self.release(rec)
        await self.launcher.kill(rec)
        await self.launcher.start_node(rec, seeds=self.roster.seeds(exclude=name))
        self.events.emit("node_restarted", node=rec.name, region=rec.region, by=by, pid=rec.pid)
        return {"node": name, "restarted": True, "pid": rec.pid}

    async def restart_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        rec = self.roster.agent_home(agent)
        if rec.serving:
            if rec.agents_alive.get(agent, True):
                return {"agent": agent, "restarted": False, "reason": "running"}
            await self.launcher.admin(rec, "/admin/start-agent", {"agent": agent})
            rec.agents_alive[agent] = True
            self.events.emit("agent_restarted", node=rec.name, region=rec.region, agent=agent, by=by)
            return {"agent": agent, "restarted": True}
        return await self.restart_node(rec.name, by=by)

    async def restore_region(self, region: str) -> dict[str, Any]:
        self.roster.region(region)
        restored = [r.name for r in self.roster if r.region == region and r.status == "killed" and not r.replaced_by]
        await asyncio.gather(*(self.restart_node(name, by="restore") for name in restored))
        self.events.emit("region_restored", region=region, nodes=restored)
        return {"region": region, "restored": restored}

    # ---- gray failures: pause, CPU starvation -----------------------------------------------
    async def throttle_node(self, name: str, cpu_percent: Any) -> dict[str, Any]:
        """Let the node run only ``cpu_percent`` of the time (SIGSTOP/SIGCONT duty cycle, as cpulimit does):
        a host starved by a noisy neighbour. Alive, answering, but slow; the deployment is not told."""
        rec = self.roster.node(name)
        if not isinstance(cpu_percent, int | float) or isinstance(cpu_percent, bool) or not 1 <= cpu_percent <= 99:
            raise ControlError("cpu_percent must be a number in 1..99")
        if not rec.serving:
            raise ControlError(f"node {name} is {rec.status}; only a running node can be throttled", 409)
        self.release(rec)
        rec.cpu_percent = float(cpu_percent)
        assert rec.proc is not None
        self._throttles[name] = DutyCycle(rec.proc.pid, float(cpu_percent) / 100)
        self.events.emit("node_throttled", node=name, region=rec.region, cpu_percent=rec.cpu_percent)
        return {"node": name, "cpu_percent": rec.cpu_percent}

    def release(self, rec: NodeRecord) -> bool:
        """End ``rec``'s throttle, if any (before it is killed, paused, restarted or asked to exit)."""
        throttle = self._throttles.pop(rec.name, None)
        rec.cpu_percent = None
        if throttle is None:
            return False
        throttle.stop(resume=rec.process_alive and rec.status != "paused")
        return True

    async def unthrottle_node(self, name: str) -> dict[str, Any]:
        rec = self.roster.node(name)
        released = self.release(rec)
        if released:
            self.events.emit("node_unthrottled", node=name, region=rec.region)
        return {"node": name, "unthrottled": released}

    async def pause_node(self, name: str) -> dict[str, Any]:
        rec = self.roster.node(name)
        self.release(rec)
        if not rec.serving:
            raise ControlError(f"node {name} is {rec.status}; only a running node can be paused", 409)
        assert rec.proc is not None
        os.kill(rec.proc.pid, signal.SIGSTOP)
        rec.status = "paused"
        self.events.emit("node_paused", node=name, region=rec.region)
        return {"node": name, "paused": True}

    async def resume_node(self, name: str) -> dict[str, Any]:
        rec = self.roster.node(name)
        if rec.status != "paused" or not rec.process_alive:
            return {"node": name, "resumed": False, "reason": rec.status}
        assert rec.proc is not None
        os.kill(rec.proc.pid, signal.SIGCONT)
        rec.status = "running"
        self.events.emit("node_resumed", node=name, region=rec.region)
        return {"node": name, "resumed": True}

    # ---- links ------------------------------------------------------------------------------
    def set_link(self, body: dict[str, Any]) -> dict[str, Any]:
        src, dst = str(body.get("src", "")), str(body.get("dst", ""))
        for region in (src, dst):
            if region != "*":
                self.roster.region(region)
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

    # ---- back to the topology -----------------------------------------------------------------
    async def heal(self) -> dict[str, Any]:
        """Back to the topology as declared: links reset, paused nodes resumed, killed nodes and agents back."""
        self.links.reset()
        for rec in self.roster:
            if self.release(rec):
                self.events.emit("node_unthrottled", node=rec.name, region=rec.region)
        resumed = [r.name for r in self.roster if r.status == "paused"]
        for name in resumed:
            await self.resume_node(name)
        restarted = [r.name for r in self.roster if r.status == "killed" and not r.replaced_by]
        dead_agents = [
            a for r in self.roster if r.status == "running" for a, alive in r.agents_alive.items() if not alive
        ]
        await asyncio.gather(
            *(self.restart_node(name, by="heal") for name in restarted),
            *(self.restart_agent(agent, by="heal") for agent in dead_agents),
        )
        self.events.emit("healed", resumed=resumed, restarted=restarted)
        return {"resumed": resumed, "restarted": restarted, "links": "reset"}
