"""The load generator: clients in every region sending agent tasks, and the ground truth they see.

Arrivals are open-loop Poisson per region (``tasks_per_s`` split by ``client_split``), moved over time by the
workload's load shape and by a surge asked from outside (fleet/shapes.py, fleet/loadcontrol.py); work times are
drawn from the workload's distribution by a seeded generator, so every topology receives the same
sequence of tasks. Each request's outcome and latency go to the request log (CSV) and to the
``aftershock_client_*`` metrics. Clients fail over between endpoints like a client-side balancer:
nearest first, a failed endpoint cooled down for a moment, at most ``max_attempts`` tries within
``timeout_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from core.logs import REQUEST_OUTCOMES, CsvLogWriter, request_log_writer
from fleet.agents.config import ChildConfig, ClientsSpec
from fleet.agents.net import NetError, NetRejected, NetTimeout, metrics_handler, start_site
from fleet.agents.proc import announce_ready
from fleet.agents.runtime import LATENCY_BUCKETS
from fleet.loadcontrol import LoadOverride, read_override
from fleet.shapes import peak_factor, rate_function
from fleet.topology import WorkTime

__all__ = ["LoadGenerator", "draw_work_ms", "main"]

log = logging.getLogger("aftershock.fleet.loadgen")

COOLDOWN_S = 1.0
FLUSH_S = 0.25


def draw_work_ms(rng: random.Random, spec: WorkTime) -> float:
    """One task's work time from the workload's distribution, capped at ``max_ms``."""
    median, sigma, cap = spec.median_ms, spec.sigma, spec.max_ms
    kind = spec.distribution
    if kind == "constant":
        value = median
    elif kind == "uniform":
        value = rng.uniform(0, 2 * median)
    elif kind == "exponential":
        value = rng.expovariate(math.log(2) / median)
    else:
        value = rng.lognormvariate(math.log(median), sigma)
    return min(value, cap)


@dataclass
class Endpoint:
    key: str
    region: str
    url: str
    down_until: float = 0.0


@dataclass
class Session:
    id: str
    region: str
    turn: int = 0
    busy: bool = False
    last_agent: str | None = None
    spread: int = field(init=False)

    def __post_init__(self) -> None:
        self.spread = int.from_bytes(hashlib.blake2b(self.id.encode(), digest_size=4).digest(), "big")


@dataclass
class LoadGenerator:
    cfg: ChildConfig
    endpoints: list[Endpoint] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.cfg.clients is None:
            raise ValueError(f"{self.cfg.name}: a load generator needs the clients section of its config")
        self.spec: ClientsSpec = self.cfg.clients
        self.kind = self.cfg.kind
        self.workload = self.spec.workload
        self.net = self.cfg.network()
        self.seed = self.cfg.seed
        self.task_seq = itertools.count(1)
        self.shape_rate = rate_function(self.workload.shape, self.workload.tasks_per_s, self.seed)
        self.peak_rate = self.workload.tasks_per_s * peak_factor(self.workload.shape)
        self.t0 = time.monotonic()
        self.override: LoadOverride | None = None
        self.log: CsvLogWriter | None = None
        self.registry = CollectorRegistry()
        topo = self.cfg.topology
        self.requests = Counter(
            "aftershock_client_requests",
            "Client requests by outcome",
            ["topology", "client_region", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "aftershock_client_request_duration_seconds",
            "Client-observed request latency",
            ["topology", "client_region"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.lost = Counter(
            "aftershock_client_sessions_lost",
            "Requests that found their session memory lost",
            ["topology", "client_region"],
            registry=self.registry,
        )
        self.unsent = Counter(
            "aftershock_client_arrivals_unsent",
            "Arrivals not sent because every session of the region was busy (the asked rate outran the sessions)",
            ["topology", "client_region"],
            registry=self.registry,
        )
        shares = self.spec.client_shares
        for region in shares:
            for outcome in REQUEST_OUTCOMES:
                self.requests.labels(topo, region, outcome)
            self.lost.labels(topo, region)
        self.sessions: dict[str, list[Session]] = {r: [] for r in shares if shares[r] > 0}
        regions = list(self.sessions)
        weights = [shares[r] for r in regions]
        pick = random.Random(f"{self.seed}:sessions")
        for i in range(self.workload.sessions):
            region = pick.choices(regions, weights)[0]
            self.sessions[region].append(Session(f"s{i:05d}", region))
        self._index()

    # ---- endpoints ----------------------------------------------------------------------
    async def refresh(self) -> None:
        try:
            _, directory = await self.net.call(
                self.net.region, "GET", f"{self.cfg.control_url}/directory", timeout_s=2.0
            )
        except NetError:
            return
        old = {e.key: e for e in self.endpoints}
        eps: list[Endpoint] = []
        for node in directory["nodes"]:
            if self.kind == "decentralized" and node["role"] == "agent":
                eps += [Endpoint(a["id"], node["region"], a["url"]) for a in node["agents"]]
            elif self.kind != "decentralized" and node["role"] == "hub":
                eps.append(Endpoint(node["name"], node["region"], node["node_url"]))
        for ep in eps:
            if ep.key in old and old[ep.key].url == ep.url:
                ep.down_until = old[ep.key].down_until
        self.endpoints = eps
        self._index()

    def _index(self) -> None:
        """Endpoints by region, regions by distance from each client region: built once per refresh so that
        choosing where a request goes costs a few steps, not a sort of every endpoint (1,000 agents)."""
        self._by_key = {ep.key: ep for ep in self.endpoints}
        self._by_region: dict[str, list[Endpoint]] = {}
        for ep in sorted(self.endpoints, key=lambda e: e.key):
            self._by_region.setdefault(ep.region, []).append(ep)
        hub_order = self.spec.hub_order
        if hub_order:  # centralized: primary hub, then its standby
            for eps in self._by_region.values():
                eps.sort(key=lambda e: hub_order.index(e.key) if e.key in hub_order else len(hub_order))
        lat = self.cfg.latency
        self._region_order = {
            src: sorted(self._by_region, key=lambda r: (hub_order.index(self._by_region[r][0].key)
                                                        if hub_order and self._by_region[r][0].key in hub_order
                                                        else 0, lat(src, r), r))
            for src in self.spec.client_shares
        }

    def candidates(self, session: Session, limit: int | None = None) -> list[Endpoint]:
        """Endpoints in the order this client tries them: the agent that served the session last, then the
        nearest region first; within a region a stable per-session starting point spreads sessions over
        agents. Endpoints cooling down after a failure come last."""
        limit = limit or self.workload.max_attempts
        now = time.monotonic()
        ready: list[Endpoint] = []
        cooling: list[Endpoint] = []
        last = self._by_key.get(session.last_agent or "")
        if last is not None:
            (ready if last.down_until <= now else cooling).append(last)
        for region in self._region_order.get(session.region, []):
            eps = self._by_region[region]
            start = session.spread % len(eps) if self.kind == "decentralized" else 0
            for i in range(len(eps)):
                ep = eps[(start + i) % len(eps)]
                if ep is last:
                    continue
                if ep.down_until <= now:
                    ready.append(ep)
                    if len(ready) >= limit:
                        return ready
                elif len(cooling) < limit:
                    cooling.append(ep)
        return (ready + cooling)[:limit]

    # ---- one request --------------------------------------------------------------------
    def asked_rate(self, at: float) -> float:
        """The whole workload's asked rate (tasks/s) at monotonic time ``at``: shape times surge."""
        factor = self.override.factor_at(time.time()) if self.override is not None else 1.0
        return self.shape_rate(at - self.t0) * factor

    async def request(self, session: Session, work_ms: float, asked: float = 0.0) -> None:
        session.busy = True
        timeout_s = self.workload.timeout_s
        started_wall, started = time.time(), time.monotonic()
        outcome, reply, attempts = "error", None, 0
        task = f"{session.id}.{next(self.task_seq)}"
        body = {
            "task": task,
            "session": session.id,
            "turn": session.turn,
            "work_ms": work_ms,
            "client_region": session.region,
            "timeout_s": timeout_s,
        }
        try:
            for ep in self.candidates(session):
                remaining = timeout_s - (time.monotonic() - started)
                if remaining <= 0:
                    outcome = "timeout"
                    break
                attempts += 1
                try:
                    _, reply = await self.net.call(
                        ep.region, "POST", f"{ep.url}/task", body=body, timeout_s=remaining, src_region=session.region
                    )
                    outcome = "ok"
                    break
                except NetTimeout:
                    outcome = "timeout"
                    ep.down_until = time.monotonic() + COOLDOWN_S
                except NetRejected:  # shed by a saturated endpoint: nothing ran; try the next one, no cool-down
                    outcome = "rejected"
                except NetError as exc:
                    outcome = "error"
                    if "HTTP 503" not in str(exc):
                        ep.down_until = time.monotonic() + COOLDOWN_S
        finally:
            session.busy = False
        latency = time.monotonic() - started
        topo = self.cfg.topology
        self.requests.labels(topo, session.region, outcome).inc()
        self.latency.labels(topo, session.region).observe(latency)
        agent = served = session_ok = ""
        if outcome == "ok" and reply:
            agent, served = reply.get("agent", ""), reply.get("region", "")
            turn = int(reply.get("turn", 0))
            ok = turn == session.turn + 1
            session_ok = "1" if ok else "0"
            if not ok:
                self.lost.labels(topo, session.region).inc()
            session.turn = turn
            session.last_agent = agent if self.kind == "decentralized" else None
        self.rows.append(
            [
                f"{started_wall:.6f}",
                f"{started_wall + latency:.6f}",
                session.region,
                session.id,
                outcome,
                f"{latency:.6f}",
                agent,
                served,
                session_ok,
                attempts,
                task,
                f"{asked:.3f}",
            ]
        )

    # ---- arrivals -------------------------------------------------------------------------
    async def region_clients(self, region: str, share: float) -> None:
        """This region's arrivals: a Poisson process of ``share`` of the asked rate, drawn by thinning (candidates
        at the peak rate, each kept with probability asked/peak; fleet/shapes.py)."""
        arrivals = random.Random(f"{self.seed}:arrivals:{region}")
        work = random.Random(f"{self.seed}:work:{region}")
        chooser = random.Random(f"{self.seed}:choose:{region}")
        pool = self.sessions[region]
        pending: set[asyncio.Task] = set()
        next_at = time.monotonic()
        while True:
            now = time.time()
            factor = self.override.factor if self.override is not None and now < self.override.until else 1.0
            peak = max(self.peak_rate * max(factor, 1.0) * share, 1e-6)
            next_at += arrivals.expovariate(peak)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            asked = self.asked_rate(next_at)
            if arrivals.random() * peak >= asked * share:
                continue
            work_ms = draw_work_ms(work, self.workload.work_time)
            idle = [s for s in chooser.sample(pool, min(8, len(pool))) if not s.busy]
            if not idle:
                self.unsent.labels(self.cfg.topology, region).inc()
                continue
            task = asyncio.create_task(self.request(idle[0], work_ms, asked))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def flush_rows(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        if self.log is not None:
            self.log.write_rows(rows)

    async def run(self) -> None:
        self.log = request_log_writer(Path(self.spec.request_log))
        await self.net.start()
        app = web.Application()
        app.router.add_get("/metrics", metrics_handler(self.registry))
        runner, port = await start_site(app)
        await self.refresh()
        self.t0 = time.monotonic()
        tasks = [asyncio.create_task(self.region_clients(r, self.spec.client_shares[r])) for r in self.sessions]
        announce_ready({"metrics_url": f"http://127.0.0.1:{port}/metrics"})
        try:
            last_refresh = time.monotonic()
            while True:
                await asyncio.sleep(FLUSH_S)
                self.override = read_override(self.spec.request_log)
                await self.flush_rows()
                if time.monotonic() - last_refresh >= 1.0:
                    last_refresh = time.monotonic()
                    await self.refresh()
        finally:
            for task in tasks:
                task.cancel()
            await self.flush_rows()
            self.log.close()
            await runner.cleanup()
            await self.net.close()


async def main(config: ChildConfig) -> None:
    await LoadGenerator(config).run()
