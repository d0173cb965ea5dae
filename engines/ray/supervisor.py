"""The Ray engine's supervisor: the lab's supervisor with its nodes placed as Ray actors.

Everything that gives the topologies their meaning is the lab's, shared: the roster, the link layer (one egress
proxy per region: every inter-region call of an actor still goes through it), the control API and its token, the
dead-man, the provisioning the deployments ask for, the load generator and its request log. What Ray changes:

- nodes are actors (:class:`engines.ray.launcher.RayLauncher`), placed by their region's resource;
- region loss kills the region's Ray node (raylet, workers, agents) when Aftershock started the cluster, and
  restore starts it again; on an attached cluster only the actors Aftershock placed are killed;
- under ``healing.restarts: engine`` recovery is Ray's: the lab's orchestrators are told no (the hub's restart
  requests, the peers' replacements), Ray restarts the actors, and Ray's node deaths are the detection;
- Ray's own view (node deaths, node joins, actor states and restarts) goes into the event log.

Run as ``python -m engines.ray.supervisor --lab-dir DIR --name NAME --seed N --ray-options JSON``
(``engines.ray.engine.ray_lab_up`` does it through ``fleet.lab.lab_up``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.settings import DEFAULT_MAX_FAULT_S
from engines.ray.launcher import RayLauncher
from engines.ray.options import RayOptions
from engines.ray.runtime import RayRuntime
from fleet.agents.config import ChildConfig, Role
from fleet.supervisor.faults import Faults
from fleet.supervisor.records import ControlError, NodeRecord
from fleet.supervisor.supervisor import Supervisor
from fleet.topology import Topology, parse_topology

__all__ = ["RaySupervisor", "RayFaults", "SUPERVISOR_MODULE", "main"]

log = logging.getLogger("aftershock.engines.ray")

SUPERVISOR_MODULE = "engines.ray.supervisor"
#: Operations queue behind each other (one at a time) and an actor takes seconds to start on a loaded machine:
#: clients of a Ray lab's control API wait this long (the lab's engine reads it from the status).
CONTROL_TIMEOUT_S = 90.0


class RayFaults(Faults):
    """The lab's faults, with region loss on Ray nodes and the lab's restarts refused when Ray restarts."""

    supervisor: RaySupervisor

    @property
    def _ray_restarts(self) -> bool:
        return self.supervisor.options.restarts == "engine"

    async def kill_region(self, region: str) -> dict[str, Any]:
        runtime = self.supervisor.runtime
        if runtime.cluster is None:  # attached: never touch the user's Ray nodes, only our actors
            result = await super().kill_region(region)
            return {**result, "ray_nodes_killed": False}
        self.roster.region(region)
        victims = [r for r in self.roster if r.region == region and r.process_alive]
        for rec in victims:
            rec.status = "killed"
            self.release(rec)
        pids = await runtime.cluster.kill_region(region)
        for rec in victims:
            if rec.proc is not None:
                await rec.proc.wait()
            self.events.emit("node_killed", node=rec.name, region=region, by="region")
        names = [r.name for r in victims]
        self.events.emit("region_killed", region=region, nodes=names, ray_node_processes=len(pids))
        return {"region": region, "killed": names, "ray_nodes_killed": True, "processes": len(pids)}

    async def _ray_node_back(self, region: str) -> bool:
        runtime = self.supervisor.runtime
        if runtime.cluster is None or runtime.cluster.region_alive(region):
            return False
        await runtime.cluster.start_region(region)
        await runtime.wait_regions([region])
        return True

    async def restore_region(self, region: str) -> dict[str, Any]:
        self.roster.region(region)
        started = await self._ray_node_back(region)
        result = await super().restore_region(region)
        return {**result, "ray_node_started": started}

    async def restart_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        if self._ray_restarts and by not in ("heal", "restore", None):
            return {"node": name, "restarted": False, "reason": "recovery is left to Ray (healing.restarts: engine)"}
        return await super().restart_node(name, by=by)

    async def restart_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        rec = self.roster.agent_home(agent)
        if self._ray_restarts and by not in ("heal", "restore", None) and not rec.serving:
            return {"agent": agent, "restarted": False, "reason": "recovery is left to Ray (healing.restarts: engine)"}
        return await super().restart_agent(agent, by=by)

    async def heal(self) -> dict[str, Any]:
        back = [r for r in self.supervisor.topo.region_names if await self._ray_node_back(r)]
        result = await super().heal()
        return {**result, "ray_nodes_started": back}


class RaySupervisor(Supervisor):
    """One lab on Ray (``status()["engine"] == "ray"``)."""

    launcher_class = RayLauncher
    faults_class = RayFaults

    def __init__(self, topology: Topology, name: str, seed: int, lab_dir: Path, options: RayOptions,
                 owner_pid: int | None = None, max_fault_s: float = DEFAULT_MAX_FAULT_S):
        super().__init__(topology, name, seed, lab_dir, owner_pid=owner_pid, max_fault_s=max_fault_s)
        self.options = options
        self.runtime = RayRuntime(options, topology.region_names, lab=name, lab_dir=lab_dir, events=self.events)
        self.runtime.on_node_dead = self._ray_node_dead
        assert isinstance(self.launcher, RayLauncher) and isinstance(self.faults, RayFaults)
        self.launcher.runtime = self.runtime
        self.faults.supervisor = self

    # ---- what Ray changes -------------------------------------------------------------------------
    def _child_config(self, rec: NodeRecord, role: Role, **extra: Any) -> ChildConfig:
        config = super()._child_config(rec, role, **extra)
        if self.options.restarts == "engine":  # the peers do not spawn replacements: Ray restarts
            config = config.model_copy(update={"migrate": False})
        return config

    async def spawn_replacement(self, replaces: str, region: str, by: str | None) -> dict[str, Any]:
        if self.options.restarts == "engine":
            raise ControlError(f"{replaces} is not replaced: recovery is left to Ray (healing.restarts: engine)", 409)
        return await super().spawn_replacement(replaces, region, by)

    def _ray_node_dead(self, region: str, ray_node: str) -> None:
        """Under Ray's restarts, the GCS declaring a region's node dead is the deployment's detection."""
        if self.options.restarts != "engine":
            return
        for rec in self.roster:
            if rec.region == region and getattr(rec, "ray_node", "") == ray_node:
                self.events.emit("member_dead", node=rec.name, region=region, by="ray-gcs")

    def status(self) -> dict[str, Any]:
        ray_view = self.runtime.view() if hasattr(self, "runtime") else {}
        return {**super().status(), "engine": "ray", "supervisor_module": SUPERVISOR_MODULE, "ray": ray_view,
                "control_timeout_s": CONTROL_TIMEOUT_S,
                "engine_metrics": self.runtime.metrics_endpoints() if hasattr(self, "runtime") else []}

    # ---- lifecycle ----------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        watcher: asyncio.Task | None = None
        try:
            self.write_state()
            await self.runtime.start()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # ray.init installed its own handlers
                loop.add_signal_handler(sig, stop.set)
            watcher = asyncio.create_task(self.runtime.watch(stop))
            await super().run(stop)
        finally:
            if watcher is not None:
                watcher.cancel()
            await self.runtime.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {SUPERVISOR_MODULE}")
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--owner-pid", type=int, default=None, help="stop the lab when this process is gone")
    parser.add_argument("--max-fault-s", type=float, default=DEFAULT_MAX_FAULT_S)
    parser.add_argument("--ray-options", type=RayOptions.from_arg, required=True, help="engines.ray.options JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ray-supervisor %(levelname)s %(message)s")
    topo = parse_topology(json.loads((args.lab_dir / "topology.json").read_text()), str(args.lab_dir))
    supervisor = RaySupervisor(topo, args.name, args.seed, args.lab_dir, args.ray_options, owner_pid=args.owner_pid,
                               max_fault_s=args.max_fault_s)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await supervisor.run(stop)

    try:
        asyncio.run(run())
    except UserError as exc:  # a cluster the user can fix (unreachable, unlabelled, too old): one line
        log.error("lab %s: %s", args.name, exc)
        supervisor.write_state(failed=True, stopped=True, error=str(exc), user_error=True)
        raise SystemExit(2) from None
    except Exception as exc:
        log.exception("lab %s failed", args.name)
        supervisor.write_state(failed=True, stopped=True, error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
