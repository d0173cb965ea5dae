"""A hub: gateway, scheduler, session store and orchestrator in one process (centralized, hybrid).

The scheduler sends each task to a live agent with a free slot, carrying the session memory; the
orchestrator health-checks agents every ``interval_s`` and declares one dead after
``failure_threshold`` failed checks, then asks the lab to restart it after ``restart_delay_s``.
A centralized hub may have a warm standby in another region that takes over after the primary has
failed its health checks for ``failover_delay_s``; hybrid hubs replicate sessions to the next region.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fleet.agents.autoscale import Autoscaler, Decision, DemandMeter
from fleet.agents.config import ChildConfig, StandbyOf
from fleet.agents.net import REJECTED_STATUS, NetError, add_json_routes, metrics_handler, start_site
from fleet.agents.proc import announce_ready
from fleet.agents.runtime import NodeMetrics
from fleet.agents.sessions import Replicator, SessionStore, freshest, session_routes

__all__ = ["Hub", "main"]

log = logging.getLogger("aftershock.fleet.hub")


@dataclass
class AgentView:
    id: str
    node: str
    url: str
    concurrency: int
    alive: bool = True
    failures: int = 0
    busy: int = 0
    restart_pending: bool = False
    draining: bool = False  # being scaled away: no new tasks, no health checks
    region: str = ""


@dataclass
class Peer:
    name: str
    region: str
    url: str


class Hub:
    def __init__(self, config: ChildConfig):
        self.cfg = config
        self.name = config.name
        self.region = config.region
        self.metrics = NodeMetrics()
        self.events = config.events()
        self.net = config.network()
        self.rng = random.Random(f"{config.seed}:{self.name}")
        self.health = config.health
        self.agents: dict[str, AgentView] = {}
        self.sessions = SessionStore()
        self.replicator = Replicator(self._push_sessions)
        self.standby: StandbyOf | None = config.standby_of
        self.active = self.standby is None
        self._tasks: list[asyncio.Task] = []
        self._peers: list[Peer] = []
        self._replica_peers: list[Peer] = []
        self._primary_down_since: float | None = None
        self.waiting = 0  # tasks queued for a free agent (at most cfg.queue per live agent)
        self._slot = asyncio.Condition()
        self.autoscaler = Autoscaler(config.autoscale, config.agents_per_node) if config.autoscale else None
        self._scaling: asyncio.Task | None = None
        self.demand = DemandMeter()
        self._node_order: list[str] = []  # agent nodes in the order the hub first saw them (newest last)
        self._latency = config.latency

    # ---- directory --------------------------------------------------------------------
    async def refresh_directory(self) -> dict[str, Any] | None:
        try:
            url = f"{self.cfg.control_url}/directory"
            _, directory = await self.net.call(self.region, "GET", url, timeout_s=2.0)
        except NetError:
            return None
        for node in directory["nodes"]:
            if node.get("hub") != self.name or node["role"] != "agent":
                continue
            for agent in node["agents"]:
                view = self.agents.get(agent["id"])
                if node["name"] not in self._node_order:
                    self._node_order.append(node["name"])
                if view is None:
                    self.agents[agent["id"]] = AgentView(
                        agent["id"], node["name"], agent["url"], int(node.get("concurrency") or self.cfg.concurrency),
                        region=node["region"]
                    )
                elif view.url != agent["url"]:
                    view.url, view.node, view.region = agent["url"], node["name"], node["region"]
        return directory

    def peers(self, directory: dict[str, Any]) -> list[Peer]:
        return [
            Peer(n["name"], n["region"], n["node_url"])
            for n in directory["nodes"]
            if n["role"] == "hub" and n["name"] != self.name
        ]

    # ---- scheduling ---------------------------------------------------------------------
    def _pick(self, exclude: set[str]) -> AgentView | None:
        free = [a for a in self.agents.values()
                if a.alive and not a.draining and a.busy < a.concurrency and a.id not in exclude]
        if not free:
            return None
        least = min(a.busy for a in free)
        return self.rng.choice([a for a in free if a.busy == least])

    def _live(self) -> int:
        return sum(a.alive and not a.draining for a in self.agents.values())

    async def _wait_for_agent(self, timeout_s: float) -> AgentView | None:
        """Queue for a free agent (the waiting are woken in arrival order), at most ``timeout_s``."""
        self.waiting += 1
        self.metrics.tasks.labels("queued").inc()
        picked: list[AgentView] = []

        def free() -> bool:
            agent = self._pick(set())
            if agent is not None:
                picked[:] = [agent]
            return agent is not None or not self.active

        try:
            async with self._slot:
                async with asyncio.timeout(max(0.0, timeout_s)):
                    await self._slot.wait_for(free)
        except TimeoutError:
            return None
        finally:
            self.waiting -= 1
        return picked[0] if picked and self.active else None

    async def _release(self, agent: AgentView) -> None:
        agent.busy -= 1
        if self.waiting:
            async with self._slot:
                self._slot.notify(1)

    async def handle_task(self, request: web.Request) -> web.Response:
        if not self.active:
            return web.json_response({"error": "standby"}, status=503)
        return await self.dispatch(await request.json())

    async def dispatch(self, body: dict[str, Any]) -> web.Response:
        """Schedule one task on a free agent (queueing for one if there is room), retrying once elsewhere."""
        started, arrived = time.perf_counter(), time.monotonic()
        sid = str(body.get("session", ""))
        expected = int(body.get("turn", 0))
        memory = await self.load_session(sid, expected)
        deadline = float(body.get("timeout_s", 3.0))
        tried: set[str] = set()
        queued_s = 0.0
        for _ in range(2):  # one retry on another agent, as a gateway would
            agent = self._pick(tried)
            if agent is None and not tried and self.waiting < self.cfg.queue * self._live():
                queue_from = time.monotonic()
                agent = await self._wait_for_agent(deadline - (queue_from - arrived))
                queued_s = time.monotonic() - queue_from
            if agent is None:
                break
            tried.add(agent.id)
            agent.busy += 1
            self.metrics.in_flight.inc()
            try:
                _, reply = await self.net.call(
                    self.region,
                    "POST",
                    f"{agent.url}/task",
                    body={"task": body.get("task", ""), "session": sid, "work_ms": body.get("work_ms", 0),
                          "memory": memory, "queued_s": round(queued_s, 6),
                          "timeout_s": deadline},
                    timeout_s=deadline,
                )
            except NetError:
                agent.failures += 1
                continue
            finally:
                await self._release(agent)
                self.metrics.in_flight.dec()
            self.save_session(sid, reply["memory"])
            self.metrics.tasks.labels("ok").inc()
            self.metrics.duration.observe(time.perf_counter() - started)
            self.demand.served(time.perf_counter() - started)
            return web.json_response({**reply, "hub": self.name})
        if not tried and self._live():  # every live agent busy and no room to wait: shed, nothing ran
            self.metrics.tasks.labels("rejected").inc()
            self.demand.shed(time.monotonic())
            return web.json_response({"error": "busy", "rejected": True}, status=REJECTED_STATUS)
        self.metrics.tasks.labels("error").inc()
        return web.json_response({"error": "no agent available"}, status=503)

    # ---- sessions -----------------------------------------------------------------------
    async def load_session(self, sid: str, expected: int) -> dict[str, Any]:
        return await freshest(self.net, sid, expected, self.sessions.get(sid), self._peers)

    def save_session(self, sid: str, memory: dict[str, Any]) -> None:
        self.sessions.put(sid, memory)
        for peer in self._replica_peers:
            self.replicator.enqueue(peer, sid, memory)

    async def _push_sessions(self, peer: Peer, batch: dict[str, Any]) -> None:
        await self.net.call(peer.region, "POST", f"{peer.url}/sessions/put", body={"sessions": batch}, timeout_s=1.0)

    # ---- orchestrator ---------------------------------------------------------------------
    async def _check(self, agent: AgentView) -> None:
        try:
            await self.net.call(self.region, "GET", f"{agent.url}/health", timeout_s=self.health.timeout_s)
        except NetError:
            agent.failures += 1
            if agent.alive and agent.failures >= self.health.failure_threshold:
                agent.alive = False
                self.events.emit(
                    "member_dead",
                    node=agent.node,
                    agent=agent.id,
                    region=self.region,
                    by=self.name,
                    failures=agent.failures,
                )
                if not agent.restart_pending:
                    agent.restart_pending = True
                    self._tasks.append(asyncio.create_task(self._restart(agent)))
            return
        if not agent.alive:
            self.events.emit("member_alive", node=agent.node, agent=agent.id, region=self.region, by=self.name)
        agent.alive, agent.failures = True, 0

    async def _restart(self, agent: AgentView) -> None:
        await asyncio.sleep(self.cfg.restart_delay_s)
        try:
            await self.net.call(
                self.region,
                "POST",
                f"{self.cfg.control_url}/provision/restart-agent",
                body={"agent": agent.id, "by": self.name},
                timeout_s=30.0,
            )
            self.metrics.restarts.inc()
        except NetError as exc:
            log.warning("restart of %s failed: %s", agent.id, exc)
        finally:
            agent.restart_pending = False

    async def orchestrate(self) -> None:
        interval = self.health.interval_s
        while True:
            started = time.monotonic()
            if self.active:
                directory = await self.refresh_directory()
                if directory is not None:
                    self._peers = self.peers(directory)
                    self._replica_peers = self._choose_replicas(directory)
                await asyncio.gather(*(self._check(a) for a in list(self.agents.values()) if not a.draining))
                self._observe_load()
            else:
                await self._watch_primary()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    # ---- autoscaling ---------------------------------------------------------------------------
    def load(self) -> tuple[int, float]:
        """Live agents and the signal: (tasks running on them + tasks queued here + tasks shed as slots) over
        their slots (fleet/agents/autoscale.py)."""
        live = [a for a in self.agents.values() if a.alive and not a.draining]
        slots = sum(a.concurrency for a in live)
        demand = sum(a.busy for a in live) + self.waiting + self.demand.shed_slots(time.monotonic())
        return len(live), (demand / slots if slots else 0.0)

    def _observe_load(self) -> None:
        if self.autoscaler is None or (self._scaling is not None and not self._scaling.done()):
            return
        agents, signal = self.load()
        if agents == 0:  # nothing serves: healing's business (restarts, failover), not the autoscaler's
            self.autoscaler.reset()
            return
        decision = self.autoscaler.observe(time.monotonic(), agents, signal)
        if decision is not None:
            self._scaling = asyncio.create_task(self._scale(decision))

    def _grow_region(self) -> str:
        """Where new agents go: a hybrid hub's own region; a centralized hub's region with the fewest live agents
        (among those that have any: a dark region gets nothing), nearest first."""
        if self.cfg.kind == "hybrid":
            return self.region
        live: dict[str, int] = {}
        for view in self.agents.values():
            if view.alive and not view.draining:
                live[view.region] = live.get(view.region, 0) + 1
        return min(sorted(live), key=lambda r: (live[r], self._latency(self.region, r))) if live else self.region

    async def _scale(self, decision: Decision) -> None:
        url = f"{self.cfg.control_url}/provision"
        try:
            if decision.nodes > 0:
                await self.net.call(self.region, "POST", f"{url}/scale-up", timeout_s=60.0,
                                    body={"region": self._grow_region(), "nodes": decision.nodes, "hub": self.name,
                                          "by": self.name, "signal": decision.signal, "decided_at": time.time()})
                await self.refresh_directory()
                return
            for node in self._victims(-decision.nodes):
                await self._remove(node, decision.signal, time.time())
        except NetError as exc:  # at a bound (409) or the lab busy: the next window decides again
            log.info("scaling by %d nodes not done: %s", decision.nodes, exc)

    def _victims(self, count: int) -> list[str]:
        """The newest nodes whose agents all serve (a node half down is healing's, not the autoscaler's)."""
        by_node: dict[str, list[AgentView]] = {}
        for view in self.agents.values():
            by_node.setdefault(view.node, []).append(view)
        whole = [n for n in reversed(self._node_order)
                 if n in by_node and all(v.alive and not v.draining for v in by_node[n])]
        left: dict[str, int] = {}
        for n in whole:
            left[by_node[n][0].region] = left.get(by_node[n][0].region, 0) + 1
        victims = []
        for n in whole:  # never a region's last serving node: scaling in must not move its clients away
            region = by_node[n][0].region
            if len(victims) < count and left[region] > 1:
                victims.append(n)
                left[region] -= 1
        return victims

    async def _remove(self, node: str, signal: float, decided_at: float) -> None:
        """Drain (no new tasks; the running ones finish, at most ``drain_s`` + 10 s), then have the lab remove it."""
        views = [v for v in self.agents.values() if v.node == node]
        for view in views:
            view.draining = True
        assert self.cfg.autoscale is not None
        deadline = time.monotonic() + self.cfg.autoscale.drain_s + 10.0
        while any(v.busy for v in views) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        try:
            await self.net.call(self.region, "POST", f"{self.cfg.control_url}/provision/remove-node", timeout_s=30.0,
                                body={"node": node, "by": self.name, "signal": signal, "decided_at": decided_at})
        except NetError:
            for view in views:
                view.draining = False  # refused (at min_agents): it serves on
            raise
        for view in views:
            del self.agents[view.id]

    def _choose_replicas(self, directory: dict[str, Any]) -> list[Peer]:
        count = self.cfg.replication
        if count <= 0:
            return []
        regions = directory["regions"]
        order = regions[regions.index(self.region) + 1 :] + regions[: regions.index(self.region)]
        hubs = {p.region: p for p in self.peers(directory)}
        return [hubs[r] for r in order if r in hubs][:count]

    # ---- warm standby (centralized) --------------------------------------------------------
    async def _watch_primary(self) -> None:
        assert self.standby is not None
        primary = self.standby
        try:
            await self.net.call(
                primary.region, "GET", f"{primary.url}/health", timeout_s=self.health.timeout_s
            )
            self._primary_down_since = None
            return
        except NetError:
            pass
        now = time.monotonic()
        self._primary_down_since = self._primary_down_since or now
        if now - self._primary_down_since < primary.failover_delay_s:
            return
        self.events.emit("hub_failover", node=self.name, region=self.region, by=self.name, primary=primary.name)
        try:
            await self.net.call(
                self.region,
                "POST",
                f"{self.cfg.control_url}/provision/take-over",
                body={"hub": self.name, "primary": primary.name},
                timeout_s=60.0,
            )
        except NetError as exc:
            log.warning("take-over failed: %s", exc)
            return
        self.active = True

    # ---- HTTP -----------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/view", self._view)
        app.router.add_post("/task", self.handle_task)
        add_json_routes(app, session_routes(self.sessions))
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        alive = sum(a.alive for a in self.agents.values())
        self.metrics.agents_alive.set(alive)
        self.metrics.members_alive.set(alive)
        self.metrics.sessions_held.set(len(self.sessions))
        return await metrics_handler(self.metrics.registry)(request)

    async def _health(self, _r: web.Request) -> web.Response:
        return web.json_response({"hub": self.name, "active": self.active})

    async def _view(self, _r: web.Request) -> web.Response:
        alive = sum(a.alive for a in self.agents.values()) if self.active else None
        return web.json_response({"node": self.name, "members_alive": alive, "active": self.active})

    async def run(self) -> None:
        await self.net.start()
        runner, port = await start_site(self.app())
        url = f"http://127.0.0.1:{port}"
        self._tasks += [asyncio.create_task(self.orchestrate()), asyncio.create_task(self.replicator.run())]
        announce_ready({"node_url": url, "metrics_url": f"{url}/metrics", "agents": {}})
        try:
            await asyncio.Event().wait()
        finally:
            for task in self._tasks:
                task.cancel()
            await runner.cleanup()
            await self.net.close()
            self.events.close()


async def main(config: ChildConfig) -> None:
    await Hub(config).run()
