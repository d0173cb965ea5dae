"""A node: one OS process hosting agents, each serving tasks on its own port.

In the decentralized topology the node also runs SWIM membership, holds and replicates session
memory, forwards tasks to peers with spare capacity and, when a peer dies, asks the lab to spawn a
replacement (in a healthy region when the peer's region is gone). Behind a hub (centralized,
hybrid) agents are stateless: the hub sends the session memory with the task.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from core.logs import EventLog
from fleet.agents.autoscale import Autoscaler, Decision, DemandMeter
from fleet.agents.config import ChildConfig
from fleet.agents.dgram import DatagramNet
from fleet.agents.executions import ExecutionRecorder
from fleet.agents.net import (
    REJECTED_STATUS,
    JsonRoutes,
    NetError,
    NetRejected,
    Transport,
    add_json_routes,
    metrics_handler,
    start_site,
    token_middleware,
)
from fleet.agents.proc import announce_ready
from fleet.agents.runtime import NodeMetrics
from fleet.agents.sessions import Replicator, SessionStore, advance, freshest, holders, new_memory, session_routes
from fleet.agents.swim import EventSink, Member, Swim, swim_routes

__all__ = ["Agent", "NodeHost", "main"]

log = logging.getLogger("aftershock.fleet.node")

#: Sessions per replication push: one datagram (MAX_DATAGRAM) holds them with room to spare.
PUSH_CHUNK = 100
#: Sessions whose holders a node remembers between membership changes.
PLACEMENT_CACHE = 50_000
#: Tries at a port number free in both TCP and UDP before a node gives up starting.
BIND_ATTEMPTS = 20


class Agent:
    """One agent: ``concurrency`` task slots behind its own listening socket, and room for ``queue`` tasks
    waiting for a slot (woken in arrival order; 0: a task that finds every slot busy is shed)."""

    def __init__(self, agent_id: str, concurrency: int, port: int = 0, queue: int = 0):
        self.id = agent_id
        self.concurrency = concurrency
        self.queue = queue
        self.busy = 0
        self.waiting = 0
        self.port = port
        self.runner: web.AppRunner | None = None
        self._slot = asyncio.Condition()

    async def wait_for_slot(self, timeout_s: float) -> bool:
        """Wait (queued) until a slot is free, at most ``timeout_s``; False when the wait ran out."""
        self.waiting += 1
        try:
            async with self._slot:
                async with asyncio.timeout(max(0.0, timeout_s)):
                    await self._slot.wait_for(lambda: self.busy < self.concurrency)
                return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1

    async def release(self) -> None:
        """A slot came free: the longest-waiting task takes it."""
        self.busy -= 1
        if self.waiting:
            async with self._slot:
                self._slot.notify(1)

    @property
    def alive(self) -> bool:
        return self.runner is not None

    @property
    def free(self) -> int:
        return self.concurrency - self.busy if self.alive else 0


class NodeHost:
    """One node process. ``net``, ``events``, ``clock`` and ``executions`` default to the lab's (sockets through
    the egress proxy, the lab's event log, the monotonic clock, the lab's execution log); tests pass an
    in-memory network and a virtual clock."""

    def __init__(
        self,
        config: ChildConfig,
        *,
        net: Transport | None = None,
        events: EventSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        executions: ExecutionRecorder | None = None,
    ):
        self.cfg = config
        self.name = config.name
        self.region = config.region
        self.mesh = config.kind == "decentralized"
        self.metrics = NodeMetrics()
        self.events: EventSink = events if events is not None else config.events()
        self.net: Transport = net if net is not None else config.network()
        self.rng = random.Random(f"{config.seed}:{self.name}")
        self.executions = executions
        if executions is None and config.execution_log:
            self.executions = ExecutionRecorder(config.execution_log, node=self.name, region=self.region)
        self.agents = {aid: Agent(aid, config.concurrency, queue=config.queue) for aid in config.agents}
        self.sessions = SessionStore()
        self.replicator = Replicator(self._push_sessions)
        self.replication = config.replication
        # SWIM and replication as datagrams through the regions' relays (fleet/agents/dgram.py) when the lab has them
        self.dnet = DatagramNet(self.region, config.relays) if self.mesh and config.relays and net is None else None
        self.peer_net: Transport = self.dnet if self.dnet is not None else self.net
        self.swim: Swim | None = None
        self._placement: dict[str, list[Member]] = {}
        self._placement_version = -1
        if self.mesh:
            m = config.membership
            self.swim = Swim(
                me=Member(self.name, self.region, "", agents=len(config.agents)),  # the URL: once the port is bound
                probe_period_s=m.probe_period_s,
                probe_timeout_s=m.probe_timeout_s,
                indirect_probes=m.indirect_probes,
                suspicion_mult=m.suspicion_mult,
                net=self.peer_net,
                sync_net=self.net,
                events=self.events,
                rng=self.rng,
                free_slots=self.free_slots,
                load_report=self.load_report,
                on_dead=self.on_member_dead,
                clock=clock,
            )
        self._tasks: list[asyncio.Task] = []
        self._spawned: set[str] = set()
        self.clock = clock
        self.draining = False  # told to leave (scaled down): new tasks go to peers, peers send none here
        scaling = config.autoscale if self.mesh else None
        self.autoscaler = Autoscaler(scaling, config.agents_per_node) if scaling else None
        self.demand = DemandMeter()

    # ---- agents -----------------------------------------------------------------------
    def _agent_app(self, agent: Agent) -> web.Application:
        app = web.Application()

        async def task(request: web.Request) -> web.Response:
            return await self.serve(agent, await request.json())

        async def health(_request: web.Request) -> web.Response:
            return web.json_response({"agent": agent.id, "busy": agent.busy})

        app.router.add_post("/task", task)
        app.router.add_get("/health", health)
        return app

    async def start_agent(self, agent: Agent) -> None:
        if agent.alive:
            return
        agent.runner, agent.port = await start_site(self._agent_app(agent), port=agent.port)
        self._refresh_gauges()

    async def stop_agent(self, agent: Agent) -> None:
        runner, agent.runner = agent.runner, None
        if runner is not None:
            await runner.cleanup()
        self._refresh_gauges()

    def free_slots(self) -> int:
        return 0 if self.draining else sum(a.free for a in self.agents.values())

    def load_report(self) -> tuple[float, int]:
        """(tasks running + queued + shed as slots) over this node's live slots, and those slots: the
        autoscaler's signal (fleet/agents/autoscale.py)."""
        live = [a for a in self.agents.values() if a.alive]
        slots = sum(a.concurrency for a in live)
        if not slots:
            return 0.0, 0
        demand = sum(a.busy + a.waiting for a in live) + self.demand.shed_slots(self.clock())
        return round(demand / slots, 4), slots

    def _refresh_gauges(self) -> None:
        self.metrics.agents_alive.set(sum(a.alive for a in self.agents.values()))
        self.metrics.sessions_held.set(len(self.sessions))
        if self.swim is not None:
            self.metrics.members_alive.set(self.swim.alive_count())

    # ---- tasks ------------------------------------------------------------------------
    def _reject(self, demand: bool = True) -> web.Response:
        """Shed: every slot busy and no room to wait. 429 says nothing ran, so the client may try elsewhere."""
        self.metrics.tasks.labels("rejected").inc()
        if demand:  # a forwarded task shed here is counted once, where it arrived
            self.demand.shed(self.clock())
        return web.json_response({"error": "busy", "rejected": True}, status=REJECTED_STATUS)

    async def serve(self, agent: Agent, body: dict[str, Any]) -> web.Response:
        arrived = time.monotonic()
        try:
            timeout_s, waited_before = float(body.get("timeout_s", 3.0)), float(body.get("queued_s", 0.0))
        except (TypeError, ValueError):
            self.metrics.tasks.labels("error").inc()
            return web.json_response({"error": "malformed task"}, status=400)
        if self.draining and self.mesh and int(body.get("hops", 0)) == 0 and self._peer_with_room() is not None:
            return await self.forward(body)  # leaving: a client with an old directory still reached us
        if agent.busy >= agent.concurrency:
            if self.mesh and int(body.get("hops", 0)) == 0 and self._peer_with_room() is not None:
                return await self.forward(body)
            if agent.waiting >= agent.queue:
                return self._reject(demand=int(body.get("hops", 0)) == 0)
            self.metrics.tasks.labels("queued").inc()
            # a task waits at most the client's timeout: past it, nobody is left to answer
            if not await agent.wait_for_slot(timeout_s):
                return self._reject(demand=int(body.get("hops", 0)) == 0)
        queued_s = waited_before + time.monotonic() - arrived
        agent.busy += 1
        self.metrics.in_flight.inc()
        started, started_wall = time.perf_counter(), time.time()
        try:
            sid = str(body["session"])
            if "memory" in body:  # behind a hub: the hub carries the memory and stores the result
                memory = body["memory"] or new_memory()
            else:
                memory = await self.load_session(sid, int(body.get("turn", 0)))
            await asyncio.sleep(float(body.get("work_ms", 0)) / 1000)
            memory = advance(memory, agent.id)
            written = "memory" not in body and self.save_session(sid, memory)
            if self.executions is not None:
                self.executions.record(str(body.get("task", "")), agent.id, sid, started_wall, time.time(), written,
                                       queued_s)
        except (KeyError, TypeError, ValueError):
            self.metrics.tasks.labels("error").inc()
            return web.json_response({"error": "malformed task"}, status=400)
        finally:
            await agent.release()
            self.metrics.in_flight.dec()
        self.metrics.tasks.labels("ok").inc()
        self.metrics.duration.observe(time.perf_counter() - started)
        self.demand.served(time.perf_counter() - started)
        return web.json_response(
            {"agent": agent.id, "node": self.name, "region": self.region, "turn": memory["turn"], "memory": memory}
        )

    def _peer_with_room(self) -> Member | None:
        """The live peer (by its last gossiped free slots) with room, nearest first, then the most spare."""
        if self.swim is None:
            return None
        peers = [m for m in self.swim.alive(include_self=False) if m.state == "alive" and m.free > 0]
        if not peers:
            return None
        return min(peers, key=lambda m: (self.cfg.latency(self.region, m.region), -m.free))

    async def forward(self, body: dict[str, Any]) -> web.Response:
        """Hand a task to the live peer with the most spare capacity, nearest first."""
        peer = self._peer_with_room()
        if peer is None:
            return self._reject()
        peer.free -= 1
        self.metrics.tasks.labels("forwarded").inc()
        try:
            _, reply = await self.net.call(
                peer.region,
                "POST",
                f"{peer.url}/forward",
                body={**body, "hops": 1},
                timeout_s=float(body.get("timeout_s", 3.0)),
            )
        except NetRejected:  # the peer filled up meanwhile: shed, nothing ran
            return self._reject()
        except NetError:
            return web.json_response({"error": "forward failed"}, status=503)
        return web.json_response(reply)

    async def handle_forward(self, request: web.Request) -> web.Response:
        body = await request.json()
        free = [a for a in self.agents.values() if a.free > 0]
        if not free:
            return self._reject(demand=False)
        return await self.serve(max(free, key=lambda a: a.free), body)

    # ---- sessions (decentralized) -------------------------------------------------------
    def _holders(self, sid: str) -> list[Member]:
        """The session's holders among the live members; placement only changes with membership, so it is cached
        per membership version (a rendezvous ranking hashes every member)."""
        assert self.swim is not None
        if self._placement_version != self.swim.version or len(self._placement) > PLACEMENT_CACHE:
            self._placement, self._placement_version = {}, self.swim.version
        chosen = self._placement.get(sid)
        if chosen is None:
            chosen = self._placement[sid] = holders(sid, self.swim.strictly_alive(), self.replication + 1)
        return chosen

    async def load_session(self, sid: str, expected_turn: int) -> dict[str, Any]:
        peers = [m for m in self._holders(sid) if m.name != self.name] if self.swim is not None else []
        return await freshest(self.peer_net, sid, expected_turn, self.sessions.get(sid), peers)

    def save_session(self, sid: str, memory: dict[str, Any]) -> bool:
        """Store locally and queue the copies for the session's holders; True when the local store took it."""
        stored = self.sessions.put(sid, memory)
        if self.swim is not None:
            for peer in self._holders(sid):
                if peer.name != self.name:
                    self.replicator.enqueue(peer, sid, memory)
        return stored

    async def _push_sessions(self, peer: Member, batch: dict[str, Any]) -> None:
        items = list(batch.items())
        for i in range(0, len(items), PUSH_CHUNK):  # a datagram holds PUSH_CHUNK sessions with room to spare
            body = {"sessions": dict(items[i:i + PUSH_CHUNK])}
            if self.dnet is not None:  # one-way, as asynchronous replication is: no acknowledgement to wait for
                self.dnet.notify(peer.region, f"{peer.url}/sessions/put", body)
            else:
                await self.net.call(peer.region, "POST", f"{peer.url}/sessions/put", body=body, timeout_s=1.0)

    # ---- healing (decentralized): spawn and migrate ---------------------------------------
    def on_member_dead(self, member: Member) -> None:
        if not self.cfg.migrate or member.name in self._spawned:
            return
        if member.name in self.cfg.no_replace:  # a churning device: it comes back on its own (fleet/nodeclasses.py)
            return
        assert self.swim is not None
        survivors = sorted(m.name for m in self.swim.alive() if m.state == "alive")
        if survivors and survivors[0] == self.name:
            self._spawned.add(member.name)
            self._tasks.append(asyncio.create_task(self._replace(member)))

    async def _replace(self, dead: Member) -> None:
        await asyncio.sleep(self.cfg.restart_delay_s)
        assert self.swim is not None
        if self.swim.members.get(dead.name, dead).state != "dead":
            self._spawned.discard(dead.name)  # it refuted the suspicion meanwhile: nothing to replace
            return
        live = [m for m in self.swim.alive() if m.state == "alive"]
        by_region: dict[str, int] = {}
        for m in live:
            by_region[m.region] = by_region.get(m.region, 0) + 1
        if by_region.get(dead.region):
            region = dead.region
        else:
            region = min(by_region, key=lambda r: (by_region[r], self.cfg.latency(dead.region, r), r))
        try:
            await self.net.call(
                self.region,
                "POST",
                f"{self.cfg.control_url}/provision/spawn-node",
                body={"replaces": dead.name, "region": region, "by": self.name},
                timeout_s=30.0,
                ok_statuses=(200, 409),
            )
            self.metrics.migrations.inc()
        except NetError as exc:
            log.warning("could not replace %s: %s", dead.name, exc)
            self._spawned.discard(dead.name)

    # ---- autoscaling (decentralized): the leader peer decides ---------------------------------
    def _leader(self) -> bool:
        assert self.swim is not None
        return min(m.name for m in self.swim.alive() if m.state == "alive") == self.name

    def mesh_signal(self) -> tuple[int, float, dict[str, float]]:
        """Agents serving, the mesh's load (slot-weighted over the members as last heard from) and per region."""
        assert self.swim is not None
        self.swim.me.load, self.swim.me.slots = self.load_report()
        members = [m for m in self.swim.alive() if m.state == "alive" and m.slots > 0]
        slots = sum(m.slots for m in members)
        per_region: dict[str, list[float]] = {}
        for m in members:
            per_region.setdefault(m.region, []).append(m.load)
        agents = sum(m.agents for m in members)
        load = sum(m.load * m.slots for m in members) / slots if slots else 0.0
        return agents, load, {r: sum(v) / len(v) for r, v in per_region.items()}

    async def autoscale(self) -> None:
        """Once a probe period: the leader (the first live member by name, as for replacements) observes the
        mesh and scales it; a node that stops leading forgets its window."""
        assert self.swim is not None and self.autoscaler is not None
        period = self.cfg.membership.probe_period_s
        while not self.draining:
            await asyncio.sleep(period)
            if not self._leader():
                self.autoscaler.reset()
                continue
            agents, load, regions = self.mesh_signal()
            decision = self.autoscaler.observe(self.clock(), agents, load)
            if decision is not None:
                await self._scale(decision, regions)

    async def _scale(self, decision: Decision, regions: dict[str, float]) -> None:
        """Up: new nodes where the load is highest. Down: the newest nodes where it is lowest, never this one."""
        assert self.swim is not None
        url = f"{self.cfg.control_url}/provision"
        try:
            if decision.nodes > 0:
                region = max(sorted(regions), key=lambda r: regions[r])
                await self.net.call(self.region, "POST", f"{url}/scale-up", timeout_s=60.0,
                                    body={"region": region, "nodes": decision.nodes, "by": self.name,
                                          "signal": decision.signal, "decided_at": time.time()})
                return
            for victim in self._victims(-decision.nodes, regions):
                await self.net.call(self.region, "POST", f"{url}/remove-node", timeout_s=30.0,
                                    body={"node": victim.name, "by": self.name, "signal": decision.signal,
                                          "decided_at": time.time()})
        except NetError as exc:  # at a bound (409) or the lab busy: the next window decides again
            log.info("scaling by %d nodes not done: %s", decision.nodes, exc)

    def _victims(self, count: int, regions: dict[str, float]) -> list[Member]:
        """The newest members of the quietest regions, never this node, a device, nor a region's last member."""
        assert self.swim is not None
        members = [m for m in self.swim.alive() if m.state == "alive"]
        left = {r: sum(m.region == r for m in members) for r in regions}
        # never this node, nor a churning device (it is the environment's, not the autoscaler's)
        order = sorted((m for m in members if m.name != self.name and m.name not in self.cfg.no_replace),
                       key=lambda m: (regions.get(m.region, 0.0), -_index(m.name), m.name))
        victims = []
        for member in order:
            if len(victims) < count and left.get(member.region, 0) > 1:
                victims.append(member)
                left[member.region] -= 1
        return victims

    async def leave(self) -> int:
        """Scaled down: stop taking work from peers, say goodbye (SWIM leave), keep serving what still arrives
        (passed on to peers while any has room) until the lab stops this process."""
        self.draining = True
        return await self.swim.leave() if self.swim is not None else 0

    # ---- node HTTP API ------------------------------------------------------------------
    def peer_routes(self) -> JsonRoutes:
        """What peers call on this node: session replicas and (decentralized) SWIM messages."""
        routes = dict(session_routes(self.sessions))
        if self.swim is not None:
            routes.update(swim_routes(self.swim))
        return routes

    def node_app(self) -> web.Application:
        app = web.Application(middlewares=[token_middleware(self.cfg.token.get_secret_value(), ("/admin",))])
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/view", self._view)
        add_json_routes(app, self.peer_routes())
        app.router.add_post("/forward", self.handle_forward)
        app.router.add_post("/admin/kill-agent", self._kill_agent)
        app.router.add_post("/admin/start-agent", self._start_agent)
        app.router.add_post("/admin/join", self._join)
        app.router.add_post("/admin/leave", self._leave)
        return app

    async def _leave(self, _request: web.Request) -> web.Response:
        return web.json_response({"node": self.name, "told": await self.leave()})

    async def _join(self, request: web.Request) -> web.Response:
        """The initial cohort's static seed list (replacements join through a seed instead)."""
        if self.swim is None:
            return web.json_response({"members_alive": None})
        for seed in (await request.json()).get("seeds", []):
            if seed["name"] != self.name:
                self.swim.apply({**seed, "state": "alive", "inc": 0})
        return web.json_response({"members_alive": self.swim.alive_count()})

    async def _metrics(self, request: web.Request) -> web.Response:
        self._refresh_gauges()
        return await metrics_handler(self.metrics.registry)(request)

    async def _health(self, _r: web.Request) -> web.Response:
        return web.json_response({"node": self.name, "agents_alive": sum(a.alive for a in self.agents.values())})

    async def _view(self, _r: web.Request) -> web.Response:
        members = self.swim.alive_count() if self.swim else None
        return web.json_response(
            {
                "node": self.name,
                "members_alive": members,
                "agents": {a.id: {"alive": a.alive, "port": a.port} for a in self.agents.values()},
            }
        )

    async def _kill_agent(self, request: web.Request) -> web.Response:
        agent = self.agents.get((await request.json()).get("agent", ""))
        if agent is None:
            return web.json_response({"error": "no such agent"}, status=404)
        await self.stop_agent(agent)
        return web.json_response({"agent": agent.id, "alive": False})

    async def _start_agent(self, request: web.Request) -> web.Response:
        agent = self.agents.get((await request.json()).get("agent", ""))
        if agent is None:
            return web.json_response({"error": "no such agent"}, status=404)
        await self.start_agent(agent)
        return web.json_response({"agent": agent.id, "alive": True, "port": agent.port})

    # ---- lifecycle ----------------------------------------------------------------------
    async def _bind(self) -> tuple[web.AppRunner, int]:
        """The node's HTTP server, and its datagram endpoint on the same port number (its URL names both)."""
        if self.dnet is None:
            return await start_site(self.node_app())
        self.dnet.routes = self.peer_routes()
        for _ in range(BIND_ATTEMPTS):
            port = await self.dnet.bind(0)
            try:
                return await start_site(self.node_app(), port=port)
            except OSError:  # the TCP port of that number is taken: another pair
                await self.dnet.close()
        raise OSError(f"{self.name}: no free port number for both TCP and UDP after {BIND_ATTEMPTS} attempts")

    async def run(self) -> None:
        await self.net.start()
        runner, port = await self._bind()
        url = f"http://127.0.0.1:{port}"
        for agent in self.agents.values():
            await self.start_agent(agent)
        if self.swim is not None:
            self.swim.me.url = url
            seeds = [Member(s.name, s.region, s.url) for s in self.cfg.seeds]
            if seeds:
                await self.swim.join(seeds)
            self._tasks += [asyncio.create_task(self.swim.run()), asyncio.create_task(self.replicator.run())]
            if self.autoscaler is not None:
                self._tasks.append(asyncio.create_task(self.autoscale()))
        if self.executions is not None:
            self._tasks.append(asyncio.create_task(self.executions.run()))
        announce_ready(
            {
                "node_url": url,
                "metrics_url": f"{url}/metrics",
                "agents": {a.id: f"http://127.0.0.1:{a.port}" for a in self.agents.values()},
            }
        )
        try:
            await asyncio.Event().wait()
        finally:
            for task in self._tasks:
                task.cancel()
            for agent in self.agents.values():
                await self.stop_agent(agent)
            await runner.cleanup()
            if self.dnet is not None:
                await self.dnet.close()
            if self.executions is not None:
                self.executions.close()  # after the agents stopped: tasks finished meanwhile are in
            await self.net.close()
            if isinstance(self.events, EventLog):
                self.events.close()


def _index(name: str) -> int:
    """The number of a node named ``REGION-nK`` (newer nodes have larger numbers); 0 when it has none."""
    tail = name.rsplit("-n", 1)[-1]
    return int(tail) if tail.isdigit() else 0


async def main(config: ChildConfig) -> None:
    await NodeHost(config).run()
