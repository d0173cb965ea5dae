"""What every lab child process shares: its config, logging to stderr, parent watch, clean exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.logs import EventLog
from fleet.agents.net import Network
from fleet.agents.proc import set_pdeathsig, watch_parent

__all__ = ["ChildConfig", "NodeMetrics", "run_child", "LATENCY_BUCKETS"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


@dataclass
class ChildConfig:
    """Everything a lab process is told at start; the supervisor builds it from the topology."""

    raw: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    def network(self) -> Network:
        return Network(self["region"], self["proxies"], headers={"Authorization": f"Bearer {self['token']}"})

    def events(self) -> EventLog:
        return EventLog(Path(self["event_log"]))

    def latency_ms(self, src: str, dst: str) -> float:
        if src == dst:
            return 0.0
        table = self["latency_ms"]
        return float(table.get(f"{src}/{dst}", table.get(f"{dst}/{src}", 0.0)))


class NodeMetrics:
    """The node metrics of docs/metrics.md, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.agents_alive = Gauge("aftershock_agents_alive", "Agents hosted (hub: managed) that serve", registry=r)
        self.tasks = Counter("aftershock_tasks", "Tasks handled, by outcome", ["outcome"], registry=r)
        self.in_flight = Gauge("aftershock_tasks_in_flight", "Tasks being worked on", registry=r)
        self.duration = Histogram(
            "aftershock_task_duration_seconds", "Task handling time", buckets=LATENCY_BUCKETS, registry=r
        )
        self.members_alive = Gauge("aftershock_members_alive", "Members this node believes alive", registry=r)
        self.sessions_held = Gauge("aftershock_sessions_held", "Session memories held here", registry=r)
        self.restarts = Counter("aftershock_restarts", "Restarts this node ordered", registry=r)
        self.migrations = Counter("aftershock_migrations", "Replacements this node spawned", registry=r)
        for outcome in ("ok", "error", "rejected", "forwarded"):
            self.tasks.labels(outcome)


def run_child(main: Callable[[ChildConfig], Awaitable[None]], config: ChildConfig) -> None:
    """Run a child's main coroutine until SIGTERM/SIGINT, dying with the supervisor if it dies."""
    set_pdeathsig()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {config.get('name', '?')} %(levelname)s %(message)s")

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(watch_parent(int(config["parent_pid"])))
        task = asyncio.create_task(main(config))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (task, stopper, watcher):
            t.cancel()
        await asyncio.gather(task, stopper, watcher, return_exceptions=True)
        if task in done and task.exception() is not None:
            raise task.exception()

    asyncio.run(runner())
