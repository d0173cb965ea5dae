"""The supervisor's connection to Ray: connect (starting a local cluster or attaching), check the cluster, place
node actors by region, and watch Ray's own view (node deaths, actor states) for the event log.

Ray's blocking calls run in threads (``asyncio.to_thread``); object refs are awaited directly.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import ray

from core.errors import EngineError
from core.logs import EventLog
from engines.ray.actor import NodeHostActor
from engines.ray.cluster import LOOPBACK, LocalCluster, check_address, check_ray_version
from engines.ray.options import REGION_RESOURCE_PREFIX, RayOptions, region_resource

__all__ = ["RayRuntime", "WATCH_PERIOD_S", "local_addresses"]

log = logging.getLogger("aftershock.engines.ray")

WATCH_PERIOD_S = 0.2  # how often Ray's view of its nodes is read (an event's stamp is late by at most this)
REGISTER_TIMEOUT_S = 120.0


def local_addresses() -> set[str]:
    """Every address of this machine (a Ray node elsewhere cannot host the lab's loopback-only agents)."""
    addrs = {LOOPBACK, "localhost", socket.gethostname()}
    for entries in psutil.net_if_addrs().values():
        addrs.update(e.address for e in entries if e.family in (socket.AF_INET, socket.AF_INET6))
    return addrs


class RayRuntime:
    """One lab's use of Ray: the cluster (ours or attached), the driver connection, the actors it placed."""

    def __init__(self, options: RayOptions, regions: list[str], *, lab: str, lab_dir: Path, events: EventLog):
        self.options = options
        self.regions = list(regions)
        self.lab = lab
        self.lab_dir = lab_dir
        self.events = events
        self.namespace = f"aftershock-{lab}"
        self.cluster: LocalCluster | None = None
        self.address = options.address or ""
        self.version = ""
        self.connected = False
        self._seen: dict[str, dict[str, Any]] = {}  # Ray node id -> last view
        self.on_node_dead: Callable[[str, str], None] = lambda region, node_id: None

    # ---- bring up / attach ------------------------------------------------------------------------
    async def start(self) -> None:
        self.version = check_ray_version()
        if self.options.address is None:
            assert self.options.health is not None
            self.cluster = LocalCluster(self.regions, self.options.health, log_dir=self.lab_dir,
                                        num_cpus=self.options.num_cpus, object_store_mb=self.options.object_store_mb)
            await self.cluster.start()
            self.address = self.cluster.address
        else:
            check_address(self.options.address)
        self._connect()
        await self.wait_regions(self.regions)
        self._check_local()
        self._seen = {n.get("NodeID", ""): n for n in await asyncio.to_thread(self.nodes)}

    def _connect(self) -> None:
        try:
            ray.init(address=self.address, namespace=self.namespace, _node_ip_address=LOOPBACK,
                     logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds here; each becomes one line
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            hint = (" (a cluster with token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH)"
                    if "auth" in first.lower() else "")
            raise EngineError(f"cannot connect to the Ray cluster at {self.address}: {first}{hint}") from None
        self.connected = True

    def nodes(self) -> list[dict[str, Any]]:
        return ray.nodes()

    def region_of(self, node: dict[str, Any]) -> str | None:
        for key in node.get("Resources") or {}:
            if key.startswith(REGION_RESOURCE_PREFIX):
                return key[len(REGION_RESOURCE_PREFIX):]
        return None

    def alive_regions(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for node in self.nodes():
            region = self.region_of(node)
            if node.get("Alive") and region:
                out.setdefault(region, []).append(node)
        return out

    async def wait_regions(self, regions: list[str], timeout_s: float | None = None) -> None:
        """Until every region has a live Ray node (a local cluster's nodes register a moment after they start);
        an attached cluster without them is refused in one line saying how to label its nodes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_s if timeout_s is not None else
                                  (REGISTER_TIMEOUT_S if self.cluster else 3.0))
        while True:
            alive = await asyncio.to_thread(self.alive_regions)
            missing = [r for r in regions if r not in alive]
            if not missing:
                return
            if loop.time() > deadline:
                seen = sorted({k for n in self.nodes() if n.get("Alive") for k in n.get("Resources") or {}
                               if not k.startswith(("node:", "memory", "object_store_memory"))})
                example = region_resource(missing[0])
                raise EngineError(
                    f"the Ray cluster at {self.address} has no live node for region(s) {', '.join(missing)} "
                    f"(resources seen: {', '.join(seen) or 'none'}); start one per region with "
                    f"`ray start --address {self.address} --resources '{{\"{example}\": 1000}}'` (docs/engines.md)")
            await asyncio.sleep(0.2)

    def _check_local(self) -> None:
        here = local_addresses()
        for region, nodes in self.alive_regions().items():
            if region not in self.regions:
                continue
            elsewhere = [n["NodeManagerAddress"] for n in nodes if n.get("NodeManagerAddress") not in here]
            if elsewhere:
                raise EngineError(
                    f"region {region}'s Ray node runs on {elsewhere[0]}, another machine: the lab's agents and "
                    "link layer listen on 127.0.0.1 only, so every region's Ray node must run on this machine "
                    "(docs/engines.md, 'Ray on several machines')")

    # ---- actors ------------------------------------------------------------------------------------
    def place(self, actor_name: str, region: str, config_json: str) -> Any:
        """A node actor in ``region`` (by its region resource), restarted by Ray only under restarts: engine."""
        engine = self.options.restarts == "engine"
        cls = ray.remote(NodeHostActor)
        return cls.options(
            name=actor_name, namespace=self.namespace,
            num_cpus=0, resources={region_resource(region): 1}, max_concurrency=4,
            max_restarts=self.options.max_restarts if engine else 0, max_task_retries=0,
        ).remote(config_json)

    def actor_state(self, handle: Any) -> dict[str, Any]:
        """Ray's own record of an actor (state, restarts), from the GCS (a DeveloperAPI of Ray)."""
        try:
            info = ray._private.state.actors(actor_id=handle._actor_id.hex())
        except Exception as exc:  # noqa: BLE001 - Ray's view is extra information, never a reason to fail
            return {"State": "UNKNOWN", "error": type(exc).__name__}
        return info or {"State": "UNKNOWN"}

    def kill_actor(self, handle: Any) -> None:
        try:
            ray.kill(handle, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - already dead, or its node is gone
            log.debug("ray.kill: %s", exc)

    # ---- Ray's view into the event log ----------------------------------------------------------------
    async def watch(self, stop: asyncio.Event) -> None:
        """Ray's node deaths and (re)registrations, stamped within :data:`WATCH_PERIOD_S` of Ray saying so."""
        while not stop.is_set():
            try:
                nodes = await asyncio.to_thread(self.nodes)
            except Exception as exc:  # noqa: BLE001 - the GCS may be briefly busy; try again next tick
                log.warning("reading Ray's nodes failed (%s); trying again", exc)
                nodes = []
            try:
                self._look(nodes)
            except Exception:  # noqa: BLE001 - a bad tick must not end the watch
                log.exception("reading Ray's view failed")
            await asyncio.sleep(WATCH_PERIOD_S)

    def _look(self, nodes: list[dict[str, Any]]) -> None:
        """One reading of Ray's nodes: deaths and joins since the last one into the event log."""
        first = not self._seen
        for node in nodes:
            node_id = node.get("NodeID", "")
            before = self._seen.get(node_id)
            # A dead node's record loses its resources: its region is the one it had alive.
            region = self.region_of(node) or (self.region_of(before) if before else None)
            if before is not None and not node.get("Resources"):
                node = {**node, "Resources": before.get("Resources") or {}}
            alive = bool(node.get("Alive"))
            if before is None and alive and region and not first:  # a node that joined (a restore)
                self.events.emit("ray_node_added", region=region, ray_node=node_id[:12])
            elif before is not None and before.get("Alive") and not alive and region:
                self.events.emit("ray_node_dead", region=region, ray_node=node_id[:12],
                                 reason=str(node.get("DeathReasonMessage") or node.get("DeathReason") or ""))
                self.on_node_dead(region, node_id)
            self._seen[node_id] = node

    def metrics_endpoints(self) -> list[dict[str, Any]]:
        """Ray's Prometheus export of every live node (its metrics export port), labelled by region."""
        out = []
        for node in self._seen.values() or []:
            port = node.get("MetricsExportPort")
            if not node.get("Alive") or not port:
                continue
            region = self.region_of(node) or ""
            out.append({"url": f"http://{node.get('NodeManagerAddress', LOOPBACK)}:{port}/metrics",
                        "labels": {"role": "ray", "region": region, "ray_node": str(node.get("NodeID", ""))[:12]}})
        return out

    def view(self) -> dict[str, Any]:
        """For the lab status: the cluster, its nodes by region, the options recorded with the run."""
        return {**self.options.record(), "address": self.address, "version": self.version,
                "namespace": self.namespace, "temp_dir": str(self.cluster.root) if self.cluster else "",
                "auth_token_file": str(self.cluster.token_path) if self.cluster else "",
                "nodes": [{"ray_node": str(n.get("NodeID", ""))[:12], "region": self.region_of(n) or "",
                           "alive": bool(n.get("Alive")), "head": "node:__internal_head__" in (n.get("Resources")
                                                                                              or {})}
                          for n in self._seen.values()]}

    async def stop(self) -> None:
        if self.connected:
            self.connected = False
            await asyncio.to_thread(ray.shutdown)
        if self.cluster is not None:
            await self.cluster.stop()
