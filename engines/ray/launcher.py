"""The process half of the Ray supervisor: nodes become Ray actors placed by region; the load generator stays a
child process of the supervisor (the same load generator and request log as the lab, so ground truth is equal).

An actor's worker process stands in for the lab child's process (:class:`ActorProc`): the roster, the faults
(SIGKILL, SIGSTOP, the throttle's duty cycle) and the status see a pid as on the lab. Only local Ray nodes host
actors (``RayRuntime`` refuses others), so those pids are this machine's.

With ``healing.restarts: engine`` Ray restarts a dead actor (``max_restarts``); the launcher notices the new
process when the actor answers again, re-reads its ports, and logs ``actor_restarted`` and ``node_restarted``
(``by: ray``). Without it a dead actor stays dead until the lab's own orchestrator asks for a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from contextlib import suppress
from typing import Any

import psutil
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from engines.ray.runtime import RayRuntime
from fleet.agents.config import ChildConfig
from fleet.supervisor.launcher import READY_TIMEOUT_S, STOP_GRACE_S, Launcher
from fleet.supervisor.records import NodeRecord

__all__ = ["ActorProc", "RayLauncher", "POLL_S"]

log = logging.getLogger("aftershock.engines.ray")

POLL_S = 0.05  # how often actor processes are checked for life (a death is seen within this)
RESTART_POLL_S = 2.0


class ActorProc:
    """The worker process of a node actor, with the few methods the lab uses on a child process."""

    def __init__(self, pid: int, handle: Any):
        self.pid = pid
        self.handle = handle
        self.returncode: int | None = None
        self._gone = asyncio.Event()
        try:
            self._created = psutil.Process(pid).create_time()
        except psutil.NoSuchProcess:
            self._created = 0.0
            self._mark(-1)

    def _mark(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._gone.set()

    def poll(self) -> int | None:
        """Dead when the pid is gone, a zombie, or another process (a reused pid)."""
        if self.returncode is None:
            try:
                proc = psutil.Process(self.pid)
                if proc.create_time() != self._created or proc.status() == psutil.STATUS_ZOMBIE:
                    self._mark(-signal.SIGKILL)
            except psutil.NoSuchProcess:
                self._mark(-signal.SIGKILL)
        return self.returncode

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def terminate(self) -> None:
        with suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    async def wait(self) -> int:
        while self.poll() is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), POLL_S)
        assert self.returncode is not None
        return self.returncode


class RayLauncher(Launcher):
    """A :class:`fleet.supervisor.launcher.Launcher` whose nodes are Ray actors (``runtime`` set before use)."""

    runtime: RayRuntime

    # ---- one node --------------------------------------------------------------------------------
    async def spawn(self, rec: NodeRecord, config: ChildConfig) -> None:
        if config.role == "clients":
            await super().spawn(rec, config)
            return
        n = getattr(rec, "actor_serial", 0) + 1
        rec.actor_serial = n  # type: ignore[attr-defined]
        handle = self.runtime.place(rec.name if n == 1 else f"{rec.name}.{n}", rec.region, config.to_json())
        rec.actor = handle  # type: ignore[attr-defined]
        try:
            info = await asyncio.wait_for(handle.info.remote(), READY_TIMEOUT_S)
        except (RayError, TimeoutError) as exc:
            self.runtime.kill_actor(handle)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuntimeError(f"{rec.name} did not start as a Ray actor in {rec.region}: {first}") from None
        self._adopt(rec, handle, info)

    def _adopt(self, rec: NodeRecord, handle: Any, info: dict[str, Any]) -> ActorProc:
        proc = ActorProc(int(info["pid"]), handle)
        rec.proc = proc  # type: ignore[assignment]
        rec.node_url = info.get("node_url", "")
        rec.metrics_url = info["metrics_url"]
        rec.agent_urls = dict(info.get("agents", {}))
        rec.agents_alive = {a: True for a in rec.agents}
        rec.ray_node = str(info.get("ray_node", ""))  # type: ignore[attr-defined]
        rec.status = "running"
        rec.starts += 1
        self.roster.index_ports(rec)
        watcher = asyncio.create_task(self._watch_actor(rec, proc))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return proc

    async def _watch_actor(self, rec: NodeRecord, proc: ActorProc) -> None:
        await proc.wait()
        if rec.proc is not proc:
            return
        if rec.status in ("running", "paused"):
            rec.status = "killed"
            self.events.emit("node_killed", node=rec.name, region=rec.region, unexpected=True,
                             returncode=proc.returncode)
        self._on_change()
        if self.runtime.options.restarts == "engine" and rec.status != "stopped":
            await self._ray_view_of_death(rec, proc)
            await self._await_restart(rec, proc)

    async def _ray_view_of_death(self, rec: NodeRecord, proc: ActorProc) -> None:
        """Ray's own declaration that the actor died (its GCS record leaves ALIVE): the detection of a node loss
        when recovery is Ray's. Stamped when read (polled every POLL_S for up to 10 s)."""
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and rec.status != "stopped":
            state = await asyncio.to_thread(self.runtime.actor_state, proc.handle)
            if state.get("State") not in ("ALIVE", "UNKNOWN"):
                self.events.emit("member_dead", node=rec.name, region=rec.region, by="ray",
                                 ray_state=state.get("State"), ray_restarts=state.get("NumRestarts"))
                return
            await asyncio.sleep(POLL_S)

    async def _await_restart(self, rec: NodeRecord, proc: ActorProc) -> None:
        """Wait for Ray to bring the actor back (it may wait for its region's node to return)."""
        while rec.status != "stopped" and rec.proc is proc:
            try:
                info = await asyncio.wait_for(proc.handle.info.remote(), RESTART_POLL_S)
            except (TimeoutError, GetTimeoutError):
                continue
            except RayActorError as exc:  # also while restarting ("unavailable"): ask Ray whether it is gone
                state = await asyncio.to_thread(self.runtime.actor_state, proc.handle)
                if state.get("State") == "DEAD":
                    self.events.emit("actor_dead", node=rec.name, region=rec.region, by="ray",
                                     reason=str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "dead")
                    return
                await asyncio.sleep(POLL_S)
                continue
            except RayError as exc:
                log.debug("waiting for %s: %s", rec.name, exc)
                await asyncio.sleep(RESTART_POLL_S)
                continue
            if rec.status == "stopped" or rec.proc is not proc:
                return
            if int(info["pid"]) == proc.pid:
                await asyncio.sleep(POLL_S)
                continue
            new = self._adopt(rec, proc.handle, info)
            if rec.role == "agent" and rec.node_url:
                with suppress(Exception):
                    await self.admin(rec, "/admin/join", {"seeds": self.roster.seeds(exclude=rec.name)})
            state = await asyncio.to_thread(self.runtime.actor_state, proc.handle)
            self.events.emit("actor_restarted", node=rec.name, region=rec.region, by="ray", pid=new.pid,
                             reconstructed=bool(info.get("reconstructed")), ray_restarts=state.get("NumRestarts"))
            self.events.emit("node_restarted", node=rec.name, region=rec.region, by="ray", pid=new.pid)
            self._on_change()
            return

    async def start_node(self, rec: NodeRecord, seeds: list[dict[str, str]] | None = None) -> None:
        """A new actor, or, when Ray restarts actors and this one is not gone for good, Ray's restart of it."""
        handle = getattr(rec, "actor", None)
        if self.runtime.options.restarts == "engine" and handle is not None and rec.role != "clients":
            state = await asyncio.to_thread(self.runtime.actor_state, handle)
            if state.get("State") != "DEAD":
                deadline = time.monotonic() + READY_TIMEOUT_S
                while not rec.serving:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"Ray did not restart {rec.name} within {READY_TIMEOUT_S:.0f}s")
                    await asyncio.sleep(POLL_S)
                return
        await super().start_node(rec, seeds)

    async def kill(self, rec: NodeRecord) -> None:
        """SIGKILL of the actor's process, from outside (as ``kill -9`` of a lab child)."""
        if rec.process_alive and isinstance(rec.proc, ActorProc):
            rec.proc.kill()
            await rec.proc.wait()
            return
        await super().kill(rec)

    async def terminate(self, records: list[NodeRecord]) -> None:
        actors = [r for r in records if isinstance(r.proc, ActorProc)]
        await super().terminate([r for r in records if not isinstance(r.proc, ActorProc)])
        for rec in actors:
            rec.status = "stopped"

        async def stop_one(rec: NodeRecord) -> None:
            proc = rec.proc
            assert isinstance(proc, ActorProc)
            if proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)  # a paused node must run to finish
                with suppress(RayError, TimeoutError):
                    await asyncio.wait_for(proc.handle.stop.remote(), STOP_GRACE_S)
            await asyncio.to_thread(self.runtime.kill_actor, proc.handle)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()

        await asyncio.gather(*(stop_one(r) for r in actors))
